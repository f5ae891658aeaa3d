#!/usr/bin/env bash
# Session 10, call F: the new defaults (blocking TP/DP communicators, bf16 parameter all-gather) on whatever the
# nvidia-h100-x2 kind gives: 124M on one GPU, then DP2 twice. Run as: bash .gpu-main/next-call.sh beside the bundle
# of gpu/make-bundle.sh.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
for a in "" "$D" "$D"; do timeout 40 $J $G $a 2>&1 | grep -E 'lattice (rank 0|DP)'; done
