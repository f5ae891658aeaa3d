#!/usr/bin/env bash
# Session 8, call B: the GPU tests of what changed (add + norm `cached` now the default; the DP gradient norm's
# squares formed as a float pair and gathered on the device, CudaBackendTest's pair test), then where DP2 loses its
# ~2 ms against one GPU: 1-GPU and DP2 timelines in full (per op, the same call), the layer-aligned bucket's timeline,
# and NCCL's CTA count (NCCL_MAX_CTAS) for the DP collectives that overlap the forward and backward: fewer CTAs leave
# more SMs to the products the collectives run beside. 350M DP2 beside its 1-GPU step.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x2 or nvidia-h100-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.parallel.nccl.NcclCommunicatorTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=200 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -30
grep " exit 0 " $OUT/tests-summary.txt | awk '{print $1}' | sed 's/.*\.//' | while read c; do rm -f "$OUT/tests-$c.log"; done
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16"
S124="--layers 12 --hidden 768 --heads 12"
S350="--layers 24 --hidden 1024 --heads 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
b 60 $J $G $S124 --timeline
b 120 python3 torch_gpt_baseline.py $S124 --seq 1024 --micro 16 --compile
b 60 $J $G $S124 $D --timeline
b 60 $J $G $S124 $D --ddp-bucket-size 46507100 --timeline
for c in 16 8 4; do b 60 env NCCL_MAX_CTAS=$c $J $G $S124 $D; done
b 60 env NCCL_MAX_CTAS=8 $J $G $S124 $D --ddp-bucket-size 46507100
b 60 $J $G $S124 $D
b 60 $J $G $S350
b 60 $J $G $S350 $D
b 60 env NCCL_MAX_CTAS=8 $J $G $S350 $D
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log
