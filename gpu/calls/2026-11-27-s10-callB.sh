#!/usr/bin/env bash
# Session 10, call B: blocking TP communicators are now the default (-Dlattice.nccl.blockingGroups=tp) and the
# watchdog bounds a blocking call held inside NCCL: NcclCommunicatorTest (incl. the two new blocking-failure tests)
# and CudaTrainingTest (TP2 / TP2+SP parity with one GPU on the new default). Then a determinism probe: call A's
# 350M TP2 loss after 25 steps differed run to run (5.856 / 5.891 / 5.894 / 5.897), so 350M micro-batch 4 twice on
# one GPU, TP2 twice, TP2 twice with our own attention kernels instead of cuDNN's SDPA (whose backward accumulates dQ
# in fp32 across blocks). Last, 124M DP2 with and without a blocking DP group, three times each.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.parallel.nccl.NcclCommunicatorTest dev.lattice.trainer.cli.CudaTrainingTest" CLASS_TIMEOUT=260 \
  bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -40
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP|TP)|median|Exception|attention' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5"
S350="--layers 24 --hidden 1024 --heads 16 --micro 4"
OWN="-Dlattice.attention=own"
for i in 1 2; do b 60 $J $G $S350; done
for i in 1 2; do b 90 $J $G $S350 --tp 2; done
for i in 1 2; do b 90 $J $OWN $G $S350 --tp 2; done
D="--layers 12 --hidden 768 --heads 12 --micro 16 --dp 2 --overlap-grad-reduce --overlap-param-gather"
b 60 $J $G --layers 12 --hidden 768 --heads 12 --micro 16
for i in 1 2 3; do
  b 60 $J $G $D
  b 60 $J -Dlattice.nccl.blockingGroups=tp,dp $G $D
done
grep -E "^###|lattice (DP|TP)|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
