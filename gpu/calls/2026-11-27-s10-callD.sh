#!/usr/bin/env bash
# Session 10, call D: ZeRO's bf16 parameter all-gather (-Dlattice.zero.bf16ParamGather=true: the product-only weights
# travel as their bf16 roundings into the other ranks' kept roundings) and blocking DP communicators by default
# (-Dlattice.nccl.blockingGroups=tp,dp). CudaTrainingTest first (bf16ParameterGatherChangesNoBit: equal to the bit
# against the same order gathered in fp32, and a mid-run checkpoint resumes), then 124M DP2 A/B, then every other GPU
# test class while time is left. Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh
# (kind nvidia-h200-x2).
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
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 400 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP|TP)|median|Exception' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
BF="-Dlattice.zero.bf16ParamGather=true"
b 60 $J $G
for i in 1 2; do
  b 60 $J $G $D
  b 60 $J $BF $G $D
done
b 60 $J -Dlattice.zero.productWeightsLast=true $G $D
b 60 $J $BF $G $D
b 60 $J -Dlattice.nccl.blockingGroups=tp $G $D
grep -E "^###|lattice (DP|TP)|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
echo "benches done at $SECONDS s"
left=$(( 540 - SECONDS ))
rm -f $OUT/tests-summary.txt.1; mv $OUT/tests-summary.txt $OUT/tests-summary-training.txt
(( left > 60 )) && CLASSES="dev.lattice.parallel.nccl.NcclCommunicatorTest dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest" \
  CLASS_TIMEOUT=150 timeout $left bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
grep " exit 0 " $OUT/tests-summary.txt | awk '{print $1}' | sed 's/.*\.//' | while read c; do rm -f "$OUT/tests-$c.log"; done
