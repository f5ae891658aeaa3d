#!/usr/bin/env bash
# Session 9, call D: where DP2's remaining ~2 ms go (1-GPU and DP2 timelines in one call: per-op GPU time slowed by
# the overlapped collectives, against idle), the communication stream at the device's greatest priority
# (-Dlattice.nccl.streamPriority=high) A/B, 350M on 1 GPU and DP2, then every GPU test class on this build while time
# is left. Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x4).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16"
S124="--layers 12 --hidden 768 --heads 12"
S350="--layers 24 --hidden 1024 --heads 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
HI="-Dlattice.nccl.streamPriority=high"
b 60 $J $G $S124 --timeline
b 60 $J $G $S124 $D --timeline
for i in 1 2; do
  b 60 $J $G $S124 $D
  b 60 $J $HI $G $S124 $D
done
b 60 $J $G $S124
b 60 $J $G $S350
b 60 $J $G $S350 $D
b 60 $J $HI $G $S350 $D
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
echo "benches done at $SECONDS s"
left=$(( 560 - SECONDS ))
(( left > 60 )) && CLASS_TIMEOUT=150 timeout $left bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
grep " exit 0 " $OUT/tests-summary.txt | awk '{print $1}' | sed 's/.*\.//' | while read c; do rm -f "$OUT/tests-$c.log"; done
