#!/usr/bin/env bash
# Session 11, call D (issue 9 on the lent 4-GPU kind, nvidia-h200-x4): `lattice bench --layouts` again after call
# C's finding (ZeRO-3's gathered parameters were left to the garbage collector: 3-4 s an iteration; now recycled at
# release) and with a learning-rate warm-up (call B's curves spiked to 16 at iteration 3). GPT-2 350M at every layout
# of four GPUs (20 iterations), then the 1.3B model at one GPU, DP2, TP2xPP2, TP2xDP2 and DP4 ZeRO-1 (12 iterations);
# real text (java.util's JDK sources, GPT-2 BPE, .gpu-main/jdkutil_text_document) and --deterministic-mode. Run as:
# bash .gpu-main/<this script> beside the bundle of gpu/make-bundle.sh (carry [".gpu-main"]).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p /tmp/b && tar -xJf "$here/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee /tmp/gpu.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx96g -XX:CompileThresholdScaling=0.05 -Djava.awt.headless=true -cp $cp"
mkdir -p /tmp/res
timeout 300 $J dev.lattice.trainer.bench.GpuBenchCommand --layouts --model gpt2-350m --train-iters 20 --warmup 6 \
  --data-path "$here/jdkutil_text_document" --out /tmp/res/layouts-350m -- --deterministic-mode > /tmp/res/bench-350m.log 2>&1
grep -v "^ \[" /tmp/res/bench-350m.log | grep -v "^Picked" | tail -16
echo "350M done at $SECONDS s"
timeout $((545 - SECONDS)) $J dev.lattice.trainer.bench.GpuBenchCommand --layouts --model gpt-1.3b --train-iters 12 --warmup 4 \
  --include '^(DP2|TP2.PP2|TP2.DP2|DP4, ZeRO-1)' \
  --data-path "$here/jdkutil_text_document" --out /tmp/res/layouts-1.3b -- --deterministic-mode > /tmp/res/bench-1.3b.log 2>&1
grep -v "^ \[" /tmp/res/bench-1.3b.log | grep -v "^Picked" | tail -10
echo "1.3B done at $SECONDS s"
cp /tmp/gpu.txt /tmp/res/ && tar -czf $OUT/results.tgz -C /tmp/res .
