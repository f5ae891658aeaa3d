#!/usr/bin/env bash
# Device call D (session 5): the cross-entropy kernels at 1024 threads (GPU tests, then A/B against 256), and the
# table's rows: GPT-2 124M and 350M beside torch --compile on the same card.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaBackendTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A6 "AssertionFailed\|Exception:" $OUT/tests-*.log | head -30
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 90 $J $G $s1
b 90 $J -Dlattice.ceThreads=256 $G $s1
b 220 python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b 90 $J $G $s3
b 220 python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
grep -v "^ \+[0-9]" $OUT/bench.log
