#!/usr/bin/env bash
# Session 10, call C: cuDNN's deterministic attention backward (-Dlattice.attention.deterministic=true: the backward
# graph without the fp32 dQ accumulator). CudnnAttentionTest (deterministicBackwardMatchesTheReferenceAndRepeatsToTheBit),
# then what it costs and whether runs repeat: 350M micro-batch 4 and 124M micro-batch 16 on one GPU, twice each way
# (call B: 350M's loss after 25 steps was 6.152 / 5.858 in two identical runs), 350M TP2 twice deterministic, and
# PyTorch compiled beside both 1-GPU workloads. Run as: bash .gpu-main/next-call.sh beside the bundle of
# gpu/make-bundle.sh (kind nvidia-h200-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.trainer.backend.cuda.CudnnAttentionTest" CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A12 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -40
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP|TP)|median|Exception|attention' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5"
S350="--layers 24 --hidden 1024 --heads 16"
S124="--layers 12 --hidden 768 --heads 12 --micro 16"
DET="-Dlattice.attention.deterministic=true"
b 60 $J $G $S124
b 60 $J $DET $G $S124
b 60 $J $DET $G $S124
b 60 $J $G $S124
b 120 python3 torch_gpt_baseline.py $S124 --seq 1024 --compile
b 60 $J $G $S350 --micro 4
b 60 $J $DET $G $S350 --micro 4
b 60 $J $DET $G $S350 --micro 4
b 90 $J $DET $G $S350 --micro 4 --tp 2
b 90 $J $DET $G $S350 --micro 4 --tp 2
b 60 $J $G $S350 --micro 16
b 60 $J $DET $G $S350 --micro 16
b 120 python3 torch_gpt_baseline.py $S350 --micro 16 --seq 1024 --compile
grep -E "^###|lattice (DP|TP)|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
