#!/usr/bin/env bash
# Device call 4 (session 4): GPU tests of the one-launch copies/fills, sums, fused LayerNorm backward, vectorised
# GELU/add; then the benchmarks beside PyTorch (eager and --compile), DP2 beside torch DDP, and the 1.3B rows.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { echo "### ${*: -12}" >> $OUT/bench.log; timeout 100 "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark"
J="jre/bin/java -Xmx16g -cp $cp $G --seq 1024 --micro 16 --steps 20 --warmup 5"
b $J $s1 --timeline
b python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16
b $J $s3
b python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
b python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16
b $J $s1 --dp 2
b $J $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
b $J $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather --timeline
b torchrun --standalone --nproc_per_node 2 torch_gpt_baseline.py $s1 --seq 1024 --micro 16
grep -v "^ \+[0-9]" $OUT/bench.log
t() { echo "### train $*" >> $OUT/bench3d.log; timeout 90 jre/bin/java -Xmx32g -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 --train-iters 12 "$@" 2>&1 \
  | grep -E "iteration +(8|12)/|memory of rank|rror|xception" | tail -3 >> $OUT/bench3d.log; }
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 16"
t $m13
t $m13 --world-size 2 --zero-stage 1 --overlap-grad-reduce --overlap-param-gather
t $m13 --world-size 2 --tensor-model-parallel-size 2
cat $OUT/bench3d.log
