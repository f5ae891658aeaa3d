#!/usr/bin/env bash
# Session 9, call A (first 4-GPU kind lent since session 5): CudaTrainingTest on 4 GPUs (fourGpusReproduceOneGpu:
# TP2xDP2 overlapped ZeRO-1, Llama TP2+SP x DP2, TP2xPP2 interleaved, PP2xDP2 against one GPU, never run since TP's
# collectives moved onto the compute stream), then 124M beside PyTorch compiled (the card's ratio: H200 unmeasured since
# session 6), DP4 and DP2 ZeRO-1 at 124M, and 350M beside PyTorch compiled while time is left.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x4).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES=dev.lattice.trainer.cli.CudaTrainingTest CLASS_TIMEOUT=240 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -E "fourGpus|\[X\]|aborted" $OUT/tests-*.log | head -20
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; return; fi; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16"
S124="--layers 12 --hidden 768 --heads 12"
S350="--layers 24 --hidden 1024 --heads 16"
O="--overlap-grad-reduce --overlap-param-gather"
b 60 $J $G $S124
b 120 python3 torch_gpt_baseline.py $S124 --seq 1024 --micro 16 --compile
b 70 $J $G $S124 --dp 4 $O
b 60 $J $G $S124 --dp 2 $O
b 70 $J $G $S124 --dp 4 $O
b 60 $J $G $S350
b 130 python3 torch_gpt_baseline.py $S350 --seq 1024 --micro 16 --compile
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log
