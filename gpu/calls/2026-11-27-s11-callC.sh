#!/usr/bin/env bash
# Session 11, call C: call B's DP4 ZeRO-3 run of GPT-2 350M never finished (over 6 minutes, where session 5 ran 24
# iterations in ~20 s). Three short DP4 ZeRO-3 runs (3 iterations, mock data, --deterministic-mode as in call B),
# each given 75 s with a thread dump (SIGQUIT) at 50 s: the defaults; DP communicators non-blocking
# (-Dlattice.nccl.blockingGroups=tp, session 9's behaviour); lazy NCCL launches off. Run as
# bash .gpu-main/<this script> beside the bundle (carry [".gpu-main"], kind nvidia-h200-x4).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p /tmp/b && tar -xJf "$here/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name --format=csv,noheader | head -1
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
v=0
for props in "" "-Dlattice.nccl.blockingGroups=tp" "-Dlattice.nccl.lazyLaunch=false"; do
  v=$((v + 1)); s=$SECONDS
  jre/bin/java -Xmx64g -XX:CompileThresholdScaling=0.05 $props -cp "$cp" dev.lattice.trainer.cli.TrainCommand \
    --mock-data --devices cuda --bf16 --deterministic-mode --seq-length 1024 --max-position-embeddings 1024 \
    --num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 2 --global-batch-size 32 \
    --train-iters 3 --log-interval 1 --eval-iters 0 --lr 3e-4 --world-size 4 --zero-stage 3 \
    > $OUT/v$v.log 2>&1 &
  pid=$!
  for i in $(seq 1 75); do sleep 1; kill -0 $pid 2>/dev/null || break; if [ $i = 50 ]; then kill -3 $pid; fi; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  echo "== v$v [$props] $((SECONDS - s)) s: $(grep -c ' iteration ' $OUT/v$v.log) iterations logged"
  grep -E " iteration |xception|rror" $OUT/v$v.log | cut -c1-200 | head -6
done
