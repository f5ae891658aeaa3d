#!/usr/bin/env bash
# Device call G (session 6): session 5's GPU-unverified changes (ZeRO-3 packing, deferred NCCL completion, deferred
# residual add, chunked head under TP, CE vec kernels, 16-element copy/AdamW) through the GPU tests they touch, then
# GPT-2 124M (timeline, plain) beside torch --compile on the same card, and DP2; the tests last (the numbers first
# if the call runs out of time).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|memory|Exception|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 80 $J $G $s1 --timeline
b 70 $J $G $s1
b 230 python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b 80 $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.KernelSourcesCompileTest dev.lattice.parallel.nccl.NcclCommunicatorTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=170 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -60
grep -v "^ \+[0-9]" $OUT/bench.log
