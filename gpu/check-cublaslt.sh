#!/usr/bin/env bash
# The cuBLASLt epilogue check on the GPU machine: the new tests, the GPT-2 124M benchmark unfused, fused and fused
# without BGRADB (each with --profile), then the existing GPU tests in the time left; logs to $OUT.
#   gpu/check-cublaslt.sh <unpacked bundle dir>      (BUDGET=seconds for the whole run, default 380)
set -uo pipefail
here=${1:?bundle dir}
out=${OUT:-$PWD/gpu-out}; mkdir -p "$out"
source "$here/cuda-env.sh"
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
java="$here/jre/bin/java"
cp="$(ls "$here"/lib/*.jar | grep -v console-standalone | tr '\n' ':')$here/test-classes"
budget=${BUDGET:-380}
junit() { local t=$1; shift; timeout "$t" "$java" -Xmx16g -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" --disable-banner --details=tree --details-theme=ascii "$@"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
if [[ ${SKIP_LT:-0} != 1 ]]; then
  junit 120 --select-class dev.lattice.trainer.backend.cuda.CublasLtEpilogueTest > "$out/lt-tests.log" 2>&1
  echo "lt tests rc=$? t=$SECONDS" | tee -a "$out/summary.txt"
fi
bench() { local label=$1; shift; echo "### $label" >> "$out/bench.log"
  local left=$((budget - SECONDS - 20)); (( left < 30 )) && { echo "$label skipped: no time" | tee -a "$out/summary.txt"; return; }
  (( left > 75 )) && left=75
  timeout "$left" "$java" -Xmx16g "$@" -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark --layers 12 --hidden 768 --heads 12 --seq 1024 --micro 16 --steps 20 --warmup 5 --profile >> "$out/bench.log" 2>&1
  echo "$label rc=$? t=$SECONDS" | tee -a "$out/summary.txt"; }
if [[ ${SKIP_BENCH:-0} != 1 ]]; then
  bench "unfused" -Dlattice.cublaslt=false
  bench "fused" -Dlattice.cublaslt=true
  bench "fused without BGRADB" -Dlattice.cublaslt=true -Dlattice.cublaslt.epilogues=BIAS,GELU_AUX,GELU_AUX_BIAS,DGELU
fi
left=$((budget - SECONDS))
if (( left > 30 )); then
  junit "$left" --select-class dev.lattice.trainer.backend.cuda.CudaModelTest --select-class dev.lattice.trainer.backend.cuda.Bf16StorageTest \
    --select-class dev.lattice.trainer.model.HuggingFaceParityTest --select-class dev.lattice.trainer.backend.cuda.CudaBackendTest \
    --select-class dev.lattice.trainer.cli.CudaTrainingTest ${EXTRA_TESTS:-} > "$out/model-tests.log" 2>&1
  echo "model tests rc=$? t=$SECONDS" | tee -a "$out/summary.txt"
fi
grep -E "tests (successful|failed|aborted|skipped)" "$out"/*tests.log | tee -a "$out/summary.txt"
