#!/usr/bin/env bash
# Device call I (session 6): where the weight-gradient products lose time (350M: 96 linearWeightBackward at ~570
# TFLOP/s, the slowest products): A/B without the BGRADB epilogue (plain cuBLASLt product, split-K allowed, and a
# bias-gradient kernel), with autotuning, both; 124M without BGRADB; then the 1.3B model at a global batch of 64
# on 1 GPU and DP2 (ZeRO-1 overlapped).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|memory|Exception|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
NB="-Dlattice.cublaslt.epilogues=NONE,BIAS,GELU_AUX,GELU_AUX_BIAS,DGELU"
b 100 $J $G $s3 --timeline
b 100 $J $NB $G $s3 --timeline
b 110 $J $NB -Dlattice.cublaslt.autotune=8 $G $s3
b 110 $J -Dlattice.cublaslt.autotune=8 $G $s3
b 60 $J $G $s1
b 60 $J $NB $G $s1
t() { echo "### train $*" >> $OUT/bench3d.log; timeout 110 jre/bin/java -Xmx32g -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 --train-iters 8 "$@" 2>&1 \
  | grep -E "iteration +(4|8)/|memory of rank|rror|xception" | tail -4 >> $OUT/bench3d.log; }
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 64"
t $m13
t $m13 --world-size 2 --zero-stage 1 --overlap-grad-reduce --overlap-param-gather
grep -v "^ \+[0-9]" $OUT/bench.log; cat $OUT/bench3d.log
