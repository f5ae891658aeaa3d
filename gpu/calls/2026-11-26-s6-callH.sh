#!/usr/bin/env bash
# Device call H (session 6): stale weight gradients overwritten by their first product (no zero fill), sums of
# squares 16 bytes a load with the partials added on the device, AdamW without the gradient write-back: every GPU
# test class, then GPT-2 124M (timeline; A/B -Dlattice.overwriteGradients=false), 350M (timeline), DP2.
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
b() { local t=$1; shift; echo "### $*" | sed 's/-cp [^ ]* //' >> $OUT/bench.log; timeout $t "$@" 2>&1 | grep -E 'lattice (cuda|rank|DP)|median|total|torch 2|timeline|memory|Exception|^ +[0-9]' >> $OUT/bench.log; }
s1="--layers 12 --hidden 768 --heads 12"; s3="--layers 24 --hidden 1024 --heads 16"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5"
J="jre/bin/java -Xmx16g -cp $cp"
b 80 $J $G $s1 --timeline
b 70 $J -Dlattice.overwriteGradients=false $G $s1
b 70 $J $G $s1
b 110 $J $G $s3 --timeline
b 80 $J $G $s1 --dp 2 --overlap-grad-reduce --overlap-param-gather
CLASS_TIMEOUT=170 bash run-on-gpu.sh tests > /dev/null 2>&1
cp $OUT/tests-summary.txt $OUT/tests-summary.log 2>/dev/null; cat $OUT/tests-summary.txt
grep -h -B2 -A8 "AssertionFailed\|Exception:\|timed out" $OUT/tests-*.log | head -60
grep -v "^ \+[0-9]" $OUT/bench.log
