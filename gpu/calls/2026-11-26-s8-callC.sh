#!/usr/bin/env bash
# Session 8, call C: CudaTrainingTest died in call B ("double free or corruption (out)", exit 134) with no test named
# (the tree prints at the end): run it with verbose details so the test that was running shows, then the DP2 A/B of
# the gradient norm's pair gathered on the device (-Dlattice.zero.normPairOnDevice=false: the host path), twice each.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h100-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
timeout 260 jre/bin/java -Xmx16g -XX:ErrorFile=$OUT/hs_err_%p.log -jar lib/junit-platform-console-standalone-*.jar \
  execute -cp "$cp" --disable-banner --details=verbose --select-class dev.lattice.trainer.cli.CudaTrainingTest \
  > $OUT/cudatraining.log 2>&1
echo "CudaTrainingTest exit $?"
grep -E "JUnit Jupiter:CudaTrainingTest:|status|double free|tests (successful|failed|aborted)" $OUT/cudatraining.log | grep -v "^\s*$" | tail -40
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05 -cp $cp"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|Exception' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16 --layers 12 --hidden 768 --heads 12"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
b 60 $J $G
for i in 1 2; do
  b 60 $J $G $D
  b 60 $J -Dlattice.zero.normPairOnDevice=false $G $D
done
grep -E "^###|lattice DP|lattice rank 0|median" $OUT/bench.log
