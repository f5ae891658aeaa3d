#!/usr/bin/env bash
# Session 11, call B (issue 9 on the lent 4-GPU kind, nvidia-h200-x4): GPT-2 350M at every layout of four GPUs
# through `lattice bench --layouts` (one GPU; TP2, PP2 interleaved, DP2 ZeRO-1; TP2xPP2, TP2xDP2, PP2xDP2; DP4 ZeRO-1,
# DP4 ZeRO-3, TP4), 24 iterations each on real text (java.util's sources of the JDK, GPT-2 BPE: an indexed dataset
# made by `bin/lattice preprocess`, carried as .gpu-main/jdkutil_text_document.{bin,idx}) with --deterministic-mode so
# that every layout's loss curve can be held against one GPU's. Run as: bash .gpu-main/<this script> beside the bundle
# of gpu/make-bundle.sh (carry [".gpu-main"]).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p /tmp/b && tar -xJf "$here/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee $OUT/gpu.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx96g -XX:CompileThresholdScaling=0.05 -Djava.awt.headless=true -cp $cp"
timeout 560 $J dev.lattice.trainer.bench.GpuBenchCommand --layouts --model gpt2-350m \
  --data-path "$here/jdkutil_text_document" --out $OUT/layouts-350m -- --deterministic-mode 2>&1 | tee $OUT/bench-350m.log \
  | grep -v "^ \[" | tail -40
echo "done at $SECONDS s"
