#!/usr/bin/env bash
# Runs on the GPU machine, from the unpacked bundle (gpu/make-bundle.sh): the GPU test suite (JUnit console; the
# tests skip nothing there) and the benchmarks beside the PyTorch peer, writing logs to $OUT (or ./gpu-out).
#   run-on-gpu.sh tests|bench|all [extra JUnit selectors...]
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
if [[ $mode == tests || $mode == all ]]; then
  "$java" -Xmx16g -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" \
     --disable-banner --details=tree --details-theme=ascii \
     --select-package dev.lattice.trainer.backend.cuda --select-package dev.lattice.parallel.nccl \
     --select-class dev.lattice.trainer.model.HuggingFaceParityTest "$@" 2>&1 | tee "$out/tests.log"
  rc=${PIPESTATUS[0]}
fi
if [[ $mode == bench || $mode == all ]]; then
  for args in "--layers 12 --hidden 768 --heads 12" "--layers 24 --hidden 1024 --heads 16"; do
    "$java" -Xmx16g -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark $args --seq 1024 --micro 16 \
        --steps 20 --warmup 5 2>&1 | tee -a "$out/bench.log"
    if [[ -f "$here/torch_gpt_baseline.py" ]]; then
      PYTHONUNBUFFERED=1 python3 "$here/torch_gpt_baseline.py" $args --seq 1024 --micro 16 2>&1 | tee -a "$out/bench.log"
      PYTHONUNBUFFERED=1 python3 "$here/torch_gpt_baseline.py" $args --seq 1024 --micro 16 --compile 2>&1 \
          | tail -3 | tee -a "$out/bench.log"
    fi
  done
fi
exit $rc
