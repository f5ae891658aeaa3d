#!/usr/bin/env bash
# Session 9, call E: the same build on 2x H100 (where DP2 stood at 94.5-95.8 % in session 8): 124M on 1 GPU beside
# PyTorch compiled, DP2 three times with this session's defaults (embeddings and first layer in buckets of their own,
# the first layer's weight gradients deferred, lazy NCCL launches) and once with all three off.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h100-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 330 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|timeline|Exception|^ +[0-9]' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16 --layers 12 --hidden 768 --heads 12"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
OLD="-Dlattice.nccl.lazyLaunch=false -Dlattice.zero.firstLayersApart=false -Dlattice.deferFirstLayerWgrad=false"
b 60 $J $G
b 120 python3 torch_gpt_baseline.py --layers 12 --hidden 768 --heads 12 --seq 1024 --micro 16 --compile
b 60 $J $G $D
b 60 $J $OLD $G $D
b 60 $J $G $D
b 60 $J $G $D
grep -E "^###|lattice DP|lattice rank 0|median|^\(" $OUT/bench.log | sed 's/-cp [^ ]* //'
