#!/usr/bin/env bash
# Session 11, call A (written in session 10 after its last device call; run in session 11 on 2x H200): the review fixes to the
# bf16 parameter all-gather (the bf16 twin now covers only the product-only buckets, flatStart offsets in AdamW's
# table and in the gathers; placement only with bf16 activations; a DP group checks its ranks agree on the layout;
# the flat moment shards are named exp_avg.product_weights_last in that order). CudaTrainingTest
# (bf16ParameterGatherChangesNoBit and every DP/TP/PP test against one GPU), NcclCommunicatorTest (the shared lone-rank
# helper), then 124M on one GPU and DP2 twice. Run as: bash .gpu-main/next-call.sh beside the bundle of
# gpu/make-bundle.sh (copy both into the ignored .gpu-main/; carry [".gpu-main"]; kind nvidia-h200-x2 or
# nvidia-h100-x2; ~4 min).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.trainer.cli.CudaTrainingTest dev.lattice.parallel.nccl.NcclCommunicatorTest" CLASS_TIMEOUT=200 \
  bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A12 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -40
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
for a in "" "$D" "$D"; do timeout 60 $J $G $a 2>&1 | grep -E 'lattice (rank 0|DP)'; done
