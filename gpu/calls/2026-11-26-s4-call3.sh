#!/usr/bin/env bash
# Device call 3 (session 4): GPU tests of the kept bf16 copies, benchmarks with/without them beside torch --compile,
# the unsynchronised timeline of a 124M step, DP2, then the one-JVM multi-class JUnit run that crashed last session.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASSES="dev.lattice.trainer.backend.cuda.Bf16StorageTest dev.lattice.trainer.backend.cuda.CudaBackendTest dev.lattice.trainer.backend.cuda.CudaModelTest dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.cli.CudaTrainingTest" \
  CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { echo "### $*" >> $OUT/bench.log; timeout 100 "$@" 2>&1 | grep -E 'lattice cuda|median|total|torch 2|timeline|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark"
b jre/bin/java -Xmx16g -cp "$cp" $G $s1 --seq 1024 --micro 16 --steps 20 --warmup 5 --timeline
b jre/bin/java -Xmx16g -Dlattice.keepBf16Copies=false -cp "$cp" $G $s1 --seq 1024 --micro 16 --steps 20 --warmup 5
b python3 torch_gpt_baseline.py $s1 --seq 1024 --micro 16 --compile
b jre/bin/java -Xmx16g -cp "$cp" $G $s3 --seq 1024 --micro 16 --steps 20 --warmup 5
b jre/bin/java -Xmx16g -Dlattice.keepBf16Copies=false -cp "$cp" $G $s3 --seq 1024 --micro 16 --steps 20 --warmup 5
b python3 torch_gpt_baseline.py $s3 --seq 1024 --micro 16 --compile
b jre/bin/java -Xmx16g -cp "$cp" $G $s1 --seq 1024 --micro 16 --steps 20 --warmup 5 --dp 2 --overlap-grad-reduce --overlap-param-gather --timeline
cat $OUT/bench.log | grep -v "^ \+[0-9]" 
timeout 150 bash run-on-gpu.sh select --select-class dev.lattice.trainer.backend.cuda.CudaBackendTest \
  --select-class dev.lattice.trainer.backend.cuda.Bf16StorageTest --select-class dev.lattice.trainer.backend.cuda.CudaModelTest \
  --select-class dev.lattice.trainer.model.HuggingFaceParityTest > $OUT/onejvm.txt 2>&1
echo "one JVM exit $?"; grep -E 'tests (successful|failed|aborted)|double free|SIGSEGV|SIGABRT' $OUT/onejvm.txt
ls hs_err* $OUT/hs_err* 2>/dev/null; cp hs_err* $OUT/ 2>/dev/null
