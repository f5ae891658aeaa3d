#!/usr/bin/env bash
# Runs on the GPU machine, from the unpacked bundle (gpu/make-bundle.sh): the GPU test suite (JUnit console; the
# tests skip nothing there) and the benchmarks beside the PyTorch peer, writing logs to $OUT (or ./gpu-out).
#   run-on-gpu.sh tests|bench|bench-dp|all [extra JUnit selectors...]
#   run-on-gpu.sh select <JUnit selectors...>     (only those tests)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
source "$here/cuda-env.sh"
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
java="$here/jre/bin/java"
# JUnit's --class-path does not expand wildcards: name every jar.
cp="$(ls "$here"/lib/*.jar | grep -v console-standalone | tr '\n' ':')$here/test-classes"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
mode=${1:-all}
shift || true
rc=0
if [[ $mode == select ]]; then # only the JUnit selectors given
  "$java" -Xmx16g -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" \
     --disable-banner --details=tree --details-theme=ascii "$@" 2>&1 | tee "$out/tests.log"
  rc=${PIPESTATUS[0]}
fi
if [[ $mode == tests || $mode == all ]]; then
  "$java" -Xmx16g -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" \
     --disable-banner --details=tree --details-theme=ascii \
     --select-package dev.lattice.trainer.backend.cuda --select-package dev.lattice.parallel.nccl \
     --select-class dev.lattice.trainer.model.HuggingFaceParityTest \
     --select-class dev.lattice.trainer.cli.CudaTrainingTest "$@" 2>&1 | tee "$out/tests.log"
  rc=${PIPESTATUS[0]}
fi
# The benchmark of issue 6: GPT-2 124M and 350M on one GPU beside the PyTorch peer (eager and --compile), then
# data parallelism over every GPU of the machine (Lattice ZeRO-1 over NCCL; PyTorch DDP through torchrun).
bench() { # label, then the command
  local label=$1; shift
  echo "### $label" | tee -a "$out/bench.log"
  PYTHONUNBUFFERED=1 "$@" 2>&1 | grep -v -E "^\s*$" | tail -4 | tee -a "$out/bench.log"
}
shapes=("--layers 12 --hidden 768 --heads 12" "--layers 24 --hidden 1024 --heads 16")
if [[ $mode == bench || $mode == all ]]; then
  for s in "${shapes[@]}"; do
    bench "lattice $s" "$java" -Xmx16g -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark $s --seq 1024 --micro 16 --steps 20 --warmup 5
    bench "torch eager $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16
    bench "torch compile $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16 --compile
  done
fi
if [[ $mode == bench-dp || $mode == all ]]; then
  n=$(nvidia-smi -L | wc -l)
  s=${shapes[0]}
  for extra in "" "--overlap-grad-reduce" "--overlap-grad-reduce --grad-reduce-in-bf16"; do
    bench "lattice DP$n $s $extra" "$java" -Xmx16g -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark $s --seq 1024 --micro 16 --steps 20 --warmup 5 --dp "$n" $extra
  done
  bench "torch DDP$n $s" torchrun --standalone --nproc_per_node "$n" "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16
fi
exit $rc
