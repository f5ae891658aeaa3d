#!/usr/bin/env bash
# Ran as session 7 call C on 2x H100 (NV18 NVLink), 199 s.
# Session 7, device call C (2 GPUs): the link between the two GPUs (nvidia-smi topo -m, NCCL's collectives through
# PyTorch at TP's sizes), the bf16 LayerNorm backward kernels once more (the cached2 default), and the 1.3B model
# (24 x 2048, gbs 64, mbs 4) on TP2 and TP2 + sequence parallelism through bin/lattice train, in one call.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
nvidia-smi topo -m 2>&1 | head -8 | tee $OUT/topo.txt
timeout 90 torchrun --standalone --nproc_per_node 2 nccl_bandwidth.py 2>&1 | grep -E "GB/s|rror" | tee $OUT/nccl.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
bw=3350; grep -q H200 $OUT/gpu.txt && bw=4800
timeout 60 jre/bin/java -Xmx8g -cp "$cp" dev.lattice.trainer.backend.cuda.LayerNormBackwardBench $bw 2>&1 | grep -v JAVA_TOOL | tee $OUT/lnbench.log
t() { local s=$SECONDS; echo "### train $*" | tee -a $OUT/bench3d.log; timeout 110 jre/bin/java -Xmx32g -XX:CompileThresholdScaling=0.05 -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 "$@" 2>&1 \
  | grep -E "iteration +(4|8)/|rror|xception" | tail -3 | tee -a $OUT/bench3d.log; echo "($((SECONDS - s)) s)" | tee -a $OUT/bench3d.log; }
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 64 --train-iters 8"
t $m13 --world-size 2 --tensor-model-parallel-size 2 --sequence-parallel
t $m13 --world-size 2 --tensor-model-parallel-size 2
