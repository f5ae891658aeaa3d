#!/usr/bin/env bash
# Session 8, call D: every GPU test class on the final build (call B's CudaTrainingTest died once with "double free
# or corruption (out)"; call C's rerun of the class passed: does it come back?), then 124M beside PyTorch compiled and
# DP2 three times (the optimizer's flatten now enqueued before the norm's wait), one DP2 timeline.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h100-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASS_TIMEOUT=200 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
grep " exit 0 " $OUT/tests-summary.txt | awk '{print $1}' | sed 's/.*\.//' | while read c; do rm -f "$OUT/tests-$c.log"; done
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16"
S124="--layers 12 --hidden 768 --heads 12"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
b 60 $J $G $S124
b 120 python3 torch_gpt_baseline.py $S124 --seq 1024 --micro 16 --compile
for i in 1 2 3; do b 60 $J $G $S124 $D; done
b 60 $J $G $S124 $D --timeline
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log
grep -E "^ +[0-9.]+ - " $OUT/bench.log | sed -n 10,30p
