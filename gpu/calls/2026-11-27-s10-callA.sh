#!/usr/bin/env bash
# Session 10, call A (written in session 9): blocking NCCL communicators
# (-Dlattice.nccl.blockingGroups) A/B. Session 9's timelines show a non-blocking communicator costing the host
# ~0.2 ms per collective (NCCL launches each from a thread of its own after answering ncclInProgress). TP's
# collectives sit on the compute stream and each result is needed at once, so TP pays that wait on every one of its
# 96 (192 with SP) collectives a micro-batch: if the TP step is host-bound by it, blocking TP communicators show it.
# First NcclCommunicatorTest (blockingCommunicatorsGiveTheSameResults, asynchronousCollectivesInARowSettleTheirLaunches),
# then 350M TP2 and TP2+SP (micro-batch 4) with and without blocking TP groups, with timelines, and 124M DP2 with and
# without a blocking DP group. Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh
# (copy both into the ignored .gpu-main/; carry [".gpu-main"]; kind nvidia-h100-x2 or nvidia-h200-x2; ~5 min).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.parallel.nccl.NcclCommunicatorTest" CLASS_TIMEOUT=200 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP|TP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5"
T="--layers 24 --hidden 1024 --heads 16 --micro 4 --tp 2"
BT="-Dlattice.nccl.blockingGroups=tp"
for sp in "" "--sequence-parallel"; do
  b 90 $J $G $T $sp
  b 90 $J $BT $G $T $sp
  b 90 $J $G $T $sp --timeline
  b 90 $J $BT $G $T $sp --timeline
done
D="--layers 12 --hidden 768 --heads 12 --micro 16 --dp 2 --overlap-grad-reduce --overlap-param-gather"
b 60 $J $G --layers 12 --hidden 768 --heads 12 --micro 16
for i in 1 2; do
  b 60 $J $G $D
  b 60 $J -Dlattice.nccl.blockingGroups=dp $G $D
done
grep -E "^###|lattice (DP|TP)|lattice rank 0|median|timeline \(|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
