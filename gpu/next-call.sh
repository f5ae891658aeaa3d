#!/usr/bin/env bash
# Next session's first call (written in session 11 after its last device call, not yet run), kind nvidia-h200-x4 (or
# nvidia-h100-x4; the 4-GPU tests skip on 2). It checks what session 11 changed after its last device call:
#  - Backend.recycle on the GPU: ZeRO-3's packed buffers and dropped prefetches, the pipeline's transfer buffers; a
#    recycled tensor used again now throws by name, and the allocator refuses a block handed back twice (hot path);
#  - model initialisation on all cores (InitRandom), which should shorten every run's start-up;
# by CudaTrainingTest (ZeRO-3 fp32 and bf16, PP, 4-GPU layouts against one GPU) and CudaBackendTest, then 124M on one
# GPU and DP2 (the allocator's hot path must not cost speed: session 11 call A gave 528,775 and 96.0 / 96.5 %), then
# `bench --layouts` for GPT-2 350M on four GPUs (call D's table had no TP4 row; PP2's max allocated was 1.94x the
# plan and ZeRO-3's 98 GB: both should now be near the plan), and the open TP question: one GPU and TP2 in fp32
# (no --bf16) on the same data. If TP2 then follows one GPU, call D's TP drift is bf16 rounding amplified by the
# loss spike; if not, TP has a bug. Needs jdkutil_text_document.{bin,idx} beside it (see gpu/issue9-layouts.sh).
# Run as: bash .gpu-main/next-call.sh beside the bundle of gpu/make-bundle.sh (carry [".gpu-main"]).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p /tmp/b && tar -xJf "$here/bundle.tar.xz" -C /tmp/b && cd /tmp/b
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee /tmp/gpu.txt
CLASSES="dev.lattice.trainer.cli.CudaTrainingTest dev.lattice.trainer.backend.cuda.CudaBackendTest" CLASS_TIMEOUT=240 \
  bash run-on-gpu.sh tests > /dev/null 2>&1
cat $OUT/tests-summary.txt
grep -h -B2 -A12 "AssertionFailed\|Exception:\|timed out\|double free" $OUT/tests-*.log | head -40
echo "tests done at $SECONDS s"
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
J="jre/bin/java -Xmx96g -XX:CompileThresholdScaling=0.05 -Djava.awt.headless=true -cp $cp"
G="dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --steps 20 --warmup 5 --layers 12 --hidden 768 --heads 12 --micro 16"
for a in "" "--dp 2 --overlap-grad-reduce --overlap-param-gather"; do timeout 60 $J $G $a 2>&1 | grep -E 'lattice (rank 0|DP)'; done
mkdir -p /tmp/res && cp /tmp/gpu.txt /tmp/res/
# the fp32 TP question first (~80 s): does TP2 follow one GPU without bf16?
timeout 150 $J dev.lattice.trainer.bench.GpuBenchCommand --layouts --model gpt2-350m --precision fp32 \
  --include '^TP2$' --train-iters 20 --warmup 6 --data-path "$here/jdkutil_text_document" --out /tmp/res/tp-fp32 \
  -- --deterministic-mode > /tmp/res/tp-fp32.log 2>&1
for f in /tmp/res/tp-fp32/run-0*.log; do echo "$f: $(grep -o 'lm loss: [0-9.E+-]*' $f | awk '{printf "%.4f ", $3}')"; done
timeout $((560 - SECONDS)) $J dev.lattice.trainer.bench.GpuBenchCommand --layouts --model gpt2-350m --train-iters 20 \
  --warmup 6 --data-path "$here/jdkutil_text_document" --out /tmp/res/layouts-350m -- --deterministic-mode \
  > /tmp/res/bench-350m.log 2>&1
grep -v "^ \[" /tmp/res/bench-350m.log | grep -v "^Picked" | tail -16
tar -czf $OUT/results.tgz -C /tmp/res .
