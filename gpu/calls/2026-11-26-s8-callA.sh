#!/usr/bin/env bash
# Prepared in session 7 for the next session's first device call (copy it into gpu/calls/ under its date once it
# ran): every GPU test class on main (the refactored norms.cu helpers, whose PTX nvcc 13.0 found unchanged; the
# register-cached add + norm, Bf16StorageTest.addNormVariantsAgreeBitForBit), NormKernelsBench, then the 1-GPU step
# with and without -Dlattice.addNorm=cached beside torch --compile (124M, 350M) on whatever card came (session 7 saw
# only H100s: the H200 ratio is the one still to measure), and the DP2 step at 124M with its timeline (target 95 %;
# the timeline now places rank 0's DP collectives in the step beside the calls at its edges: which ones the compute
# stream waits for at the gradient norm and at the first parameter install).
# If addNorm=cached is faster and its test passed, make it the default (CudaBackend.addNormVariant).
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x2 or nvidia-h100-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -30
# keep the files that come back few: only the logs of classes that failed stay
grep " exit 0 " $OUT/tests-summary.txt | awk '{print $1}' | sed 's/.*\.//' | while read c; do rm -f "$OUT/tests-$c.log"; done
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
bw=3350; nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && bw=4800
timeout 90 $J dev.lattice.trainer.backend.cuda.NormKernelsBench $bw 2>&1 | grep -v JAVA_TOOL | tee $OUT/normbench.log
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16"
for s in "--layers 12 --hidden 768 --heads 12" "--layers 24 --hidden 1024 --heads 16"; do
  b 60 $J $G $s
  b 60 $J -Dlattice.addNorm=cached $G $s
  b 120 python3 torch_gpt_baseline.py $s --seq 1024 --micro 16 --compile
done
b 60 $J $G --layers 12 --hidden 768 --heads 12 --dp 2 --overlap-grad-reduce --overlap-param-gather --timeline
# 46,507,100 elements close the first bucket exactly at layer 0's end (word + position embeddings + layer 0 =
# 46,507,776): the bucket before it is then launched after layer 1's backward and hidden behind layer 0's, so only
# the embeddings' bucket is reduced after the backward ends (at 40 M, layer 0's tail shares a 40 M bucket launched
# after layer 0: both exposed). If it pays, make bucket boundaries fall at layer ends (ZeroLayout + checkpoint layout).
b 60 $J $G --layers 12 --hidden 768 --heads 12 --dp 2 --overlap-grad-reduce --overlap-param-gather --ddp-bucket-size 46507100
grep -v "^ \+[0-9]" $OUT/bench.log
grep -E "^ +[0-9.]+ - " $OUT/bench.log | head -40
