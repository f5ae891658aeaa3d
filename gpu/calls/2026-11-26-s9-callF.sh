#!/usr/bin/env bash
# Session 9, call F (last ~260 s of device time): NCCL's CTA policy (-Dlattice.nccl.ctaPolicy=efficiency|zero) A/B on
# 124M DP2: call D's timelines put DP2's remaining loss mostly in the products slowed by the overlapped collectives
# (+1.3 ms of GEMM time against one GPU), so fewer CTAs for NCCL might pay where NCCL_MAX_CTAS did not.
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (kind nvidia-h200-x2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx16g -XX:CompileThresholdScaling=0.05"
b() { local t=$1 s=$SECONDS; shift; if (( SECONDS + t > 150 )); then echo "### skipped (time): $*" >> $OUT/bench.log; return; fi; echo "### $*" >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (rank 0|DP)|median|Exception' >> $OUT/bench.log; echo "($((SECONDS - s)) s)" >> $OUT/bench.log; }
G="-cp $cp dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --micro 16 --layers 12 --hidden 768 --heads 12"
D="--dp 2 --overlap-grad-reduce --overlap-param-gather"
b 30 $J $G $D
b 30 $J -Dlattice.nccl.ctaPolicy=efficiency $G $D
b 30 $J -Dlattice.nccl.ctaPolicy=zero $G $D
b 30 $J $G $D
b 30 $J -Dlattice.nccl.ctaPolicy=efficiency $G $D
grep -E "^###|lattice DP|^\(|Exception" $OUT/bench.log | sed 's/-cp [^ ]* //'
