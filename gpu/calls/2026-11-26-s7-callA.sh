#!/usr/bin/env bash
# Ran as session 7, device call A (2x H100): its tests, the JIT A/B and the TP2 compute-stream A/B.
# Prepared in session 6 for the next session's first device call (2 GPUs; copy it into gpu/calls/ under its date
# once it ran): the GPU tests of everything made after session 6's last call (AdamW's kept table, the NCCL group on
# the compute stream, the timeline's late-host column), then the A/Bs that decide them: the JIT thresholds beside
# torch --compile (124M, 350M) and TP2 with its collectives on the compute stream (350M, micro-batch 4, with and
# without sequence parallelism). Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
CLASS_TIMEOUT=150 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -40
BENCH_TAIL=6 bash run-on-gpu.sh jit > /dev/null 2>&1
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1 s=$SECONDS; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/tp.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|TP)|timeline|Exception|^ +[0-9]' >> $OUT/tp.log; echo "($((SECONDS - s)) s)" >> $OUT/tp.log; }
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 24 --hidden 1024 --heads 16 --micro 4 --tp 2"
J="jre/bin/java -Xmx16g -cp $cp"
b 60 $J $G --timeline
b 60 $J -Dlattice.nccl.computeStreamGroups=tp $G --timeline
b 60 $J $G --sequence-parallel
b 60 $J -Dlattice.nccl.computeStreamGroups=tp $G --sequence-parallel
grep -v "^ \+[0-9]" $OUT/bench.log; grep -v "^ \+[0-9]" $OUT/tp.log
