#!/usr/bin/env bash
# Ran as session 7 call D on 2x H100 (another host than A-C), 119 s.
# Session 7, device call D (2 GPUs): GPT-2 124M DP2 ZeRO-1 (overlapped reduce and parameter gather) at gradient
# buckets of 40 M (default), 20 M, 10 M and 5 M elements: at 40 M the word embeddings share a bucket with layer 0,
# and the bucket before it closes only after layer 0's backward, so ~80 M elements are reduced after the backward
# ends; smaller buckets leave the word embeddings alone at the tail. Then the 1-GPU step (the scaling's reference)
# beside torch --compile.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name --format=csv,noheader | tee $OUT/gpu.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' | tee -a $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|Exception' | tee -a $OUT/bench.log; echo "($((SECONDS - s)) s)" | tee -a $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
for size in 40000000 20000000 10000000 5000000; do
  b 45 $J $G --dp 2 --overlap-grad-reduce --overlap-param-gather --ddp-bucket-size $size
done
b 45 $J $G
b 100 python3 torch_gpt_baseline.py --layers 12 --hidden 768 --heads 12 --seq 1024 --micro 16 --compile
