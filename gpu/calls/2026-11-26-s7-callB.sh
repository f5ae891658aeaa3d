#!/usr/bin/env bash
# Ran as session 7 call B on 2x H100; it reached the 590 s limit during the last (1.3B TP2 + SP) run.
# Session 7, device call B: the GPU tests of what changed since call A (sequence parallelism's replicated gradients
# summed in one all-reduce, TP collectives on the compute stream by default, LayerNorm backward's register-cached
# variants and their bit-for-bit test), LayerNormBackwardBench, then the 1-GPU step with each LayerNorm variant beside
# torch --compile (124M, 350M; the JIT flag on), TP2 and TP2 + SP (350M, micro-batch 4), DP2 at 124M with its
# timeline, and bin/lattice train's TP2 / TP2 + SP rows (350M) and 1.3B TP2 + SP.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
CLASSES="dev.lattice.trainer.backend.cuda.KernelSourcesCompileTest dev.lattice.trainer.backend.cuda.Bf16StorageTest \
dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.parallel.nccl.NcclCommunicatorTest \
dev.lattice.trainer.cli.CudaTrainingTest" CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -30
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
bw=3350; grep -q H200 $OUT/gpu.txt && bw=4800
timeout 90 $J dev.lattice.trainer.backend.cuda.LayerNormBackwardBench $bw 2>&1 | grep -v JAVA_TOOL | tee $OUT/lnbench.log
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank|DP|TP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5"
for s in "--layers 12 --hidden 768 --heads 12" "--layers 24 --hidden 1024 --heads 16"; do
  b 60 $J $G $s --micro 16
  b 60 $J -Dlattice.layerNormBackward=cached $G $s --micro 16
  b 60 $J -Dlattice.layerNormBackward=cached2 $G $s --micro 16
  b 120 python3 torch_gpt_baseline.py $s --seq 1024 --micro 16 --compile
done
M="--layers 24 --hidden 1024 --heads 16 --micro 4 --tp 2"
b 60 $J $G $M
b 60 $J $G $M --sequence-parallel --timeline
b 60 $J $G --layers 12 --hidden 768 --heads 12 --micro 16 --dp 2 --overlap-grad-reduce --overlap-param-gather --timeline
t() { local s=$SECONDS; echo "### train $*" >> $OUT/bench3d.log; timeout 100 jre/bin/java -Xmx32g -XX:CompileThresholdScaling=0.05 -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 "$@" 2>&1 \
  | grep -E "iteration +(8|12)/|rror|xception" | tail -3 >> $OUT/bench3d.log; echo "($((SECONDS - s)) s)" >> $OUT/bench3d.log; }
m350="--num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 32 --train-iters 12"
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 64 --train-iters 8"
t $m350 --world-size 2 --tensor-model-parallel-size 2
t $m350 --world-size 2 --tensor-model-parallel-size 2 --sequence-parallel
t $m13 --world-size 2 --tensor-model-parallel-size 2 --sequence-parallel
grep -v "^ \+[0-9]" $OUT/bench.log; cat $OUT/bench3d.log
