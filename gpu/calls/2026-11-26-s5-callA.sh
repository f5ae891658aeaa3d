#!/usr/bin/env bash
# Device call A (session 5): branch gpu-unverified's GPU tests (the changed classes, one JVM each), then the A/B of
# its speed switches beside torch --compile on the same card, then DP2 with and without NCCL_MAX_NCHANNELS=4.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout 90 "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|autotun|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b $J $G $s1 --timeline
b python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b $J -Dlattice.cublaslt.autotune=8 $G $s1
b $J -Dlattice.cublaslt.epilogues=BIAS,GELU_AUX,GELU_AUX_BIAS,DGELU,BGRADB $G $s1
b $J $G $s3
b python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
b $J -Dlattice.cublaslt.autotune=8 $G $s3
b $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
b env NCCL_MAX_NCHANNELS=4 $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
grep -v "^ \+[0-9]" $OUT/bench.log
