#!/usr/bin/env bash
# Device call K (session 6): issue 7's 2-GPU rows with this session's main: GPT-2 350M (mbs 4, gbs 32) through
# bin/lattice train on 1 GPU, TP2, TP2 + sequence parallelism, PP2 interleaved, DP2 ZeRO-1 overlapped; the 1.3B model
# on TP2 + SP at gbs 64; where a TP2 step's time goes (GpuTrainingBenchmark --tp 2 --timeline); 124M DP2 with bf16
# gradient reduction.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP|TP)|median|total|timeline|memory|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
t() { local s=$SECONDS; echo "### train $*" >> $OUT/bench3d.log; timeout 100 jre/bin/java -Xmx32g -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 "$@" 2>&1 \
  | grep -E "iteration +(8|12)/|memory of rank|rror|xception" | tail -4 >> $OUT/bench3d.log; echo "($((SECONDS - s)) s)" >> $OUT/bench3d.log; }
m350="--num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 32 --train-iters 12"
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 64 --train-iters 8"
t $m350
t $m350 --world-size 2 --tensor-model-parallel-size 2
t $m350 --world-size 2 --tensor-model-parallel-size 2 --sequence-parallel
t $m350 --world-size 2 --pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 6
t $m350 --world-size 2 --zero-stage 1 --overlap-grad-reduce --overlap-param-gather
t $m13 --world-size 2 --tensor-model-parallel-size 2 --sequence-parallel
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 80 $J $G --layers 24 --hidden 1024 --heads 16 --micro 4 --tp 2 --sequence-parallel --timeline
b 60 $J $G --layers 12 --hidden 768 --heads 12 --micro 16 --dp 2 --overlap-grad-reduce --overlap-param-gather --grad-reduce-in-bf16
cat $OUT/bench3d.log; grep -v "^ \+[0-9]" $OUT/bench.log
