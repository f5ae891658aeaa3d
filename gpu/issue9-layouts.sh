#!/usr/bin/env bash
# Issue 9's run, ready for the device call that first gets an 8-GPU kind (nvidia-h100-x8 / nvidia-h200-x8), and what
# ran instead on four (session 11, calls B and D). Copy this script, the bundle of gpu/make-bundle.sh (as
# bundle.tar.xz) and an indexed dataset (jdkutil_text_document.{bin,idx}: `bin/lattice preprocess --input
# '<a JDK>/lib/src.zip!java.base/java/util/' --output-prefix jdkutil --append-eod --no-parquet-shards`) into the
# ignored .gpu-main/, then `run` `bash .gpu-main/issue9-layouts.sh gpt2-350m` (or gpt-1.3b) with carry [".gpu-main"].
# One model a call: GPT-2 350M's 14 layouts of eight GPUs take ~25 s each (~6 min); 1.3B's take ~100 s each (about
# 85 s of it initialising the model), so pass a subset with INCLUDE='^(TP2.PP2.DP2|DP8, ZeRO-1)' for it.
# The table is rewritten after every layout; results.tgz comes back even when the call's limit stops the command.
set -uo pipefail
model=${1:-gpt2-350m}
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p /tmp/b && tar -xJf "$here/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee /tmp/gpu.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
mkdir -p /tmp/res && cp /tmp/gpu.txt /tmp/res/
iters=20; warm=6
if [ "$model" = gpt-1.3b ]; then iters=12; warm=4; fi
timeout ${LIMIT:-540} jre/bin/java -Xmx96g -XX:CompileThresholdScaling=0.05 -Djava.awt.headless=true -cp "$cp" \
  dev.lattice.trainer.bench.GpuBenchCommand --layouts --model "$model" --train-iters $iters --warmup $warm \
  --include "${INCLUDE:-.*}" --data-path "$here/jdkutil_text_document" --out /tmp/res/layouts-$model \
  -- --deterministic-mode > /tmp/res/bench-$model.log 2>&1
grep -v "^ \[" /tmp/res/bench-$model.log | grep -v "^Picked" | tail -24
tar -czf $OUT/results.tgz -C /tmp/res .
