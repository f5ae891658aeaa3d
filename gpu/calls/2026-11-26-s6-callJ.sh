#!/usr/bin/env bash
# Device call J (session 6): weight gradients in row slices (split-K where the output has under 1.5 waves of tiles)
# A/B against -Dlattice.wgradSplit=1, GPT-2 124M and 350M beside torch --compile on the same card, DP2; then the
# GPU tests the change touches.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|memory|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 70 $J $G $s1 --timeline
b 60 $J -Dlattice.wgradSplit=1 $G $s1
b 60 $J $G $s1
b 220 python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b 90 $J $G $s3 --timeline
b 90 $J -Dlattice.wgradSplit=1 $G $s3
b 90 $J $G $s3
b 220 python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
b 70 $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
CLASSES="dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -40
grep -h "row slices" $OUT/tests-CublasLtEpilogueTest.log | head -4
grep -v "^ \+[0-9]" $OUT/bench.log
