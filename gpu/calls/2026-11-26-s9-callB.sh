#!/usr/bin/env bash
# Session 9, call B: the embeddings and the first layer in ZeRO buckets of their own (-Dlattice.zero.firstLayersApart)
# and the first layer's QKV/FC1 weight gradients deferred past the embedding backward (-Dlattice.deferFirstLayerWgrad):
# CudaTrainingTest (DP layouts against one GPU on the new bucket layout), then 124M DP2 A/B: old / buckets only / both,
# twice each, interleaved; the 1-GPU run with and without the deferral; one DP2 timeline; DP4 with both.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x4).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLASSES="dev.lattice.trainer.cli.CudaTrainingTest dev.lattice.trainer.backend.cuda.CudaModelTest" CLASS_TIMEOUT=240 bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -30
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 570 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16 --layers 12 --hidden 768 --heads 12"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
OLD="-Dlattice.zero.firstLayersApart=false -Dlattice.deferFirstLayerWgrad=false"
BUCKETS="-Dlattice.deferFirstLayerWgrad=false"
b 60 $J $G
b 60 $J -Dlattice.deferFirstLayerWgrad=false $G
for i in 1 2; do
  b 60 $J $OLD $G $D
  b 60 $J $BUCKETS $G $D
  b 60 $J $G $D
done
b 60 $J $G $D --timeline
b 70 $J $G --dp 4 --overlap-grad-reduce --overlap-param-gather
b 70 $J $OLD $G --dp 4 --overlap-grad-reduce --overlap-param-gather
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
