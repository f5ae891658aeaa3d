#!/usr/bin/env bash
# Device call 5 (session 4): GPU tests of the fused cross-entropy, cuBLASLt plain products, 16-byte copies/AdamW and
# --overlap-param-gather under JUnit; benchmarks beside torch --compile; A/B of the plain products through cuBLASLt
# and of NCCL's channel count under DP2.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { echo "### $BLABEL" >> $OUT/bench.log; timeout 100 "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark"
A="--seq 1024 --micro 16 --steps 20 --warmup 5"
BLABEL="lattice 124M --timeline" b jre/bin/java -Xmx16g -cp $cp $G $A $s1 --timeline
BLABEL="lattice 124M, plain products through cublasGemmEx" b jre/bin/java -Xmx16g -Dlattice.cublaslt.epilogues=BIAS,GELU_AUX,GELU_AUX_BIAS,DGELU,BGRADB -cp $cp $G $A $s1
BLABEL="torch compile 124M" b python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
BLABEL="lattice 350M" b jre/bin/java -Xmx16g -cp $cp $G $A $s3
BLABEL="torch compile 350M" b python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
BLABEL="lattice DP2 overlapped, param gather, --timeline" b jre/bin/java -Xmx16g -cp $cp $G $A $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather --timeline
BLABEL="lattice DP2 overlapped, param gather, NCCL_MAX_NCHANNELS=4" b env NCCL_MAX_NCHANNELS=4 jre/bin/java -Xmx16g -cp $cp $G $A $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
grep -v "^ \+[0-9]" $OUT/bench.log
