#!/usr/bin/env bash
# Device call C (session 5): the new kernels' GPU tests (register cross-entropy, sums of squares, LayerNorm backward),
# then GPT-2 124M (timeline, plain) beside torch --compile, and DP2.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A6 "AssertionFailed\|Exception:" $OUT/tests-*.log | head -40
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 90 $J $G $s1 --timeline
b 90 $J $G $s1
b 280 python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b 90 $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
grep -v "^ \+[0-9]" $OUT/bench.log
