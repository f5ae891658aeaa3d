#!/usr/bin/env bash
# Session 10, call E: the bf16 parameter all-gather made the default (-Dlattice.zero.bf16ParamGather=true): every
# two-GPU training test on it (CudaTrainingTest: DP2 ZeRO-1/2 against one GPU, overlapped, bf16 gradients, checkpoints),
# then 124M on one GPU and DP2 twice with the new defaults. Run as: bash .gpu-main/next-call.sh beside the bundle of
# gpu/make-bundle.sh (kind nvidia-h200-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.trainer.cli.CudaTrainingTest" CLASS_TIMEOUT=200 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A12 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -40
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 280 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP|TP)|median|Exception' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
b 40 $J $G
b 40 $J $G $D
b 40 $J $G $D
grep -E "^###|lattice (DP|TP)|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
