#!/usr/bin/env bash
# Device call L (session 6): cross-entropy's online log-sum-exp a chunk of eight columns at a time (one rescale per
# chunk, exponentials as one FFMA + ex2 each, the target looked for once a chunk) against the fifth session's
# per-column update (-Dlattice.ce=percolumn): the kernel tests first, then GPT-2 124M A/B beside torch --compile,
# the 124M timeline, 350M A/B. Budget-bound: every step has its own timeout.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest" \
  CLASS_TIMEOUT=60 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -30
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 30 $J $G $s1
b 30 $J -Dlattice.ce=percolumn $G $s1
b 70 python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b 30 $J $G $s1 --timeline
b 40 $J $G $s3
b 40 $J -Dlattice.ce=percolumn $G $s3
grep -v "^ \+[0-9]" $OUT/bench.log; grep -E "crossEntropy|^timeline" $OUT/bench.log
