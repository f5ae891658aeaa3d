#!/usr/bin/env bash
# Runs on the GPU machine, from the unpacked bundle (gpu/make-bundle.sh): the GPU test suite (JUnit console; the
# tests skip nothing there) and the benchmarks beside the PyTorch peer, writing logs to $OUT (or ./gpu-out).
#   run-on-gpu.sh tests|bench|bench-dp|all [extra JUnit selectors...]
#   run-on-gpu.sh select <JUnit selectors...>     (only those tests)
#   run-on-gpu.sh bench-3d                         (TP/PP/DP and 1.3B rows through bin/lattice train --mock-data)
#   run-on-gpu.sh layouts                          (issue 9: every layout the GPUs allow against the 1-GPU curve)
#   run-on-gpu.sh ab                               (the speed switches A/B beside torch --compile, one call)
#   run-on-gpu.sh jit                              (the JIT thresholds A/B beside torch --compile, one call)
# JIT_OPTS (e.g. -XX:CompileThresholdScaling=0.05) goes to every benchmark JVM of bench, bench-dp, ab and bench-3d.
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
  "$java" -Xmx16g -XX:ErrorFile="$out/hs_err_select_%p.log" -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" \
     --disable-banner --details=tree --details-theme=ascii "$@" 2>&1 | tee "$out/tests.log"
  rc=${PIPESTATUS[0]}
fi
if [[ $mode == tests || $mode == all ]]; then
  # Each test class in its own JVM, so that a native crash (which kills the JVM before JUnit prints anything) names
  # its class and leaves an hs_err file; a summary line per class in tests-summary.txt.
  classes=${CLASSES:-$(cd "$here/test-classes" && ls dev/lattice/trainer/backend/cuda/*Test.class dev/lattice/parallel/nccl/*Test.class \
    | sed 's/\.class$//; s#/#.#g'; echo dev.lattice.trainer.model.HuggingFaceParityTest dev.lattice.trainer.cli.CudaTrainingTest)}
  for c in $classes; do
    log="$out/tests-${c##*.}.log"
    timeout "${CLASS_TIMEOUT:-300}" "$java" -Xmx16g -XX:ErrorFile="$out/hs_err_%p.log" \
      -jar "$here"/lib/junit-platform-console-standalone-*.jar execute -cp "$cp" --disable-banner \
      --details=tree --details-theme=ascii --select-class "$c" "$@" > "$log" 2>&1
    code=$?
    (( code != 0 )) && rc=$code
    echo "$c exit $code $(grep -E 'tests (successful|failed)' "$log" | tr -s ' ' | tr '\n' ' ')" | tee -a "$out/tests-summary.txt"
  done
fi
# The benchmark of issue 6: GPT-2 124M and 350M on one GPU beside the PyTorch peer (eager and --compile), then
# data parallelism over every GPU of the machine (Lattice ZeRO-1 over NCCL; PyTorch DDP through torchrun).
bench() { # label, then the command
  local label=$1; shift
  echo "### $label" | tee -a "$out/bench.log"
  PYTHONUNBUFFERED=1 "$@" 2>&1 | grep -v -E "^\s*$" | tail -"${BENCH_TAIL:-4}" | tee -a "$out/bench.log"
}
shapes=("--layers 12 --hidden 768 --heads 12" "--layers 24 --hidden 1024 --heads 16")
if [[ $mode == bench || $mode == all ]]; then
  for s in "${shapes[@]}"; do
    bench "lattice $s" "$java" -Xmx16g ${JIT_OPTS:-} -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark $s --seq 1024 --micro 16 --steps 20 --warmup 5
    bench "torch eager $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16
    bench "torch compile $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16 --compile
  done
fi
if [[ $mode == bench-dp || $mode == all ]]; then
  n=$(nvidia-smi -L | wc -l)
  s=${shapes[0]}
  for extra in "" "--overlap-grad-reduce" "--overlap-grad-reduce --overlap-param-gather" \
               "--overlap-grad-reduce --overlap-param-gather --grad-reduce-in-bf16"; do
    bench "lattice DP$n $s $extra" "$java" -Xmx16g ${JIT_OPTS:-} -cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark $s --seq 1024 --micro 16 --steps 20 --warmup 5 --dp "$n" $extra
  done
  bench "torch DDP$n $s" torchrun --standalone --nproc_per_node "$n" "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16
fi
# A/B of the speed switches in one call, beside PyTorch compiled (same card): the step's timeline, cuBLASLt autotuning
# (-Dlattice.cublaslt.autotune=8), the plain products through cublasGemmEx instead of cuBLASLt (the epilogue list
# without NONE), and for DP2 NCCL's channel count (fewer SMs taken from the GEMMs).
if [[ $mode == ab ]]; then
  n=$(nvidia-smi -L | wc -l)
  J=("$java" -Xmx16g ${JIT_OPTS:-})
  G=(-cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5)
  for s in "${shapes[@]}"; do
    BENCH_TAIL=30 bench "lattice $s --timeline" "${J[@]}" "${G[@]}" $s --timeline
    bench "lattice $s autotune 8" "${J[@]}" -Dlattice.cublaslt.autotune=8 "${G[@]}" $s
    bench "lattice $s plain products through cublasGemmEx" "${J[@]}" \
      -Dlattice.cublaslt.epilogues=BIAS,GELU_AUX,GELU_AUX_BIAS,DGELU,BGRADB "${G[@]}" $s
    bench "torch compile $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16 --compile
  done
  if (( n >= 2 )); then
    s=${shapes[0]}
    bench "lattice DP2 $s overlapped + param gather" "${J[@]}" "${G[@]}" $s --dp 2 --overlap-grad-reduce --overlap-param-gather
    bench "lattice DP2 $s overlapped + param gather, NCCL_MAX_NCHANNELS=4" env NCCL_MAX_NCHANNELS=4 "${J[@]}" "${G[@]}" \
      $s --dp 2 --overlap-grad-reduce --overlap-param-gather
    bench "torch DDP2 $s" torchrun --standalone --nproc_per_node 2 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16
  fi
fi
# The JIT's share of a step (session 6): host code that runs once a step (AdamW's and the zero fill's tables, the
# norm's sums) is still interpreted after 25 steps at the JVM's default thresholds (a copy of AdamW's table loop on
# the CPU: ~250 us a call through call 60, ~50 us from call 15 with -XX:CompileThresholdScaling=0.05), and the GPU
# waits for it where the stream has drained (after the norm's host wait, at a step's start). A/B of the flag beside
# PyTorch compiled, with the timeline's late-host column.
if [[ $mode == jit ]]; then
  flag=${JIT_FLAG:--XX:CompileThresholdScaling=0.05}
  G=(-cp "$cp" dev.lattice.trainer.bench.GpuTrainingBenchmark --seq 1024 --micro 16 --steps 20 --warmup 5)
  for s in "${shapes[@]}"; do
    bench "lattice $s" "$java" -Xmx16g "${G[@]}" $s
    bench "lattice $s $flag" "$java" -Xmx16g $flag "${G[@]}" $s
    BENCH_TAIL=30 bench "lattice $s $flag --timeline" "$java" -Xmx16g $flag "${G[@]}" $s --timeline
    bench "torch compile $s" python3 "$here/torch_gpt_baseline.py" $s --seq 1024 --micro 16 --compile
  done
fi
# Issue 7's model-parallel rows: bin/lattice train on --mock-data (random tokens), the Megatron log line's last
# interval: GPT-2 350M on 1 GPU, TP2, PP2 (1F1B and interleaved) and DP2; a 1.3B model (24 x 2048, 16 heads) on 1 GPU,
# DP2 and TP2. The same global batch everywhere, so iteration times compare directly.
if [[ $mode == bench-3d || $mode == all3d ]]; then
  train() { # label, then flags
    local label=$1; shift
    echo "### $label" | tee -a "$out/bench3d.log"
    "$java" -Xmx32g ${JIT_OPTS:-} -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
      --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 --train-iters 12 "$@" 2>&1 \
      | grep -E "iteration +12/|rror|xception" | tail -3 | tee -a "$out/bench3d.log"
  }
  m350="--num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 32"
  train "350M 1 GPU" $m350
  train "350M TP2" $m350 --world-size 2 --tensor-model-parallel-size 2
  train "350M PP2 1F1B" $m350 --world-size 2 --pipeline-model-parallel-size 2
  train "350M PP2 interleaved (2 chunks)" $m350 --world-size 2 --pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 6
  train "350M DP2 ZeRO-1 overlapped" $m350 --world-size 2 --zero-stage 1 --overlap-grad-reduce
  m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 16"
  train "1.3B 1 GPU" $m13
  train "1.3B DP2 ZeRO-1 overlapped" $m13 --world-size 2 --zero-stage 1 --overlap-grad-reduce
  train "1.3B TP2" $m13 --world-size 2 --tensor-model-parallel-size 2
fi
# Issue 9's runs on whatever the machine has (8 GPUs: TP2 x PP2 x DP2 interleaved, DP8 ZeRO-3, TP8; 4 or 2: the
# layouts that fit), GPT-2 350M on --mock-data (the same samples at every layout), 24 iterations each; every curve is
# compared with the 1-GPU curve (bf16 tolerance 0.05) and the last log line (tokens/s, TFLOP/s per GPU) kept.
if [[ $mode == layouts ]]; then
  n=$(nvidia-smi -L | wc -l)
  runs=/tmp/lattice-layouts
  rm -rf "$runs" && mkdir -p "$runs"
  m350="--num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 2 --global-batch-size 32"
  layout() { # name, then flags
    local name=$1; shift
    echo "### $name: $*" | tee -a "$out/layouts.log"
    "$java" -Xmx48g ${JIT_OPTS:-} -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
      --seq-length 1024 --max-position-embeddings 1024 --lr 3e-4 --min-lr 3e-5 --lr-warmup-iters 2 --eval-iters 0 \
      --log-interval 1 --train-iters 24 --save "$runs/$name" $m350 "$@" > "$runs/$name.log" 2>&1
    echo "exit $?" >> "$runs/$name.log"
    grep -E "iteration +24/|memory of rank|max allocated|rror|xception|^exit" "$runs/$name.log" | tee -a "$out/layouts.log"
  }
  layout gpu1
  if (( n >= 8 )); then
    layout tp2pp2dp2 --world-size 8 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 \
      --num-layers-per-virtual-pipeline-stage 6 --zero-stage 1 --overlap-grad-reduce --sequence-parallel
    layout dp8z3 --world-size 8 --zero-stage 3
    layout tp8 --world-size 8 --tensor-model-parallel-size 8 --sequence-parallel
  fi
  if (( n >= 4 )); then
    layout tp2pp2 --world-size 4 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 \
      --num-layers-per-virtual-pipeline-stage 6
    layout tp2dp2 --world-size 4 --tensor-model-parallel-size 2 --zero-stage 1 --overlap-grad-reduce
    layout dp4z3 --world-size 4 --zero-stage 3
  fi
  if (( n >= 2 )); then
    layout tp2 --world-size 2 --tensor-model-parallel-size 2
    layout pp2i --world-size 2 --pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 6
    layout dp2 --world-size 2 --zero-stage 1 --overlap-grad-reduce --overlap-param-gather
  fi
  python3 - "$runs" <<'PY' | tee -a "$out/layouts.log"
import json, os, sys
runs = sys.argv[1]
def rows(name):
    with open(os.path.join(runs, name, "metrics.jsonl")) as f:
        return [r for r in map(json.loads, f) if r.get("lm_loss") is not None]
def steady(rs, key):  # mean over iterations 9-24 (warm-up and compilation excluded)
    v = [r[key] for r in rs if r["iteration"] > 8]
    return sum(v) / len(v) if v else float("nan")
ref = rows("gpu1")
print(f"gpu1: {steady(ref, 'tokens_per_sec'):,.0f} tokens/s, {steady(ref, 'tflops_per_gpu'):.1f} TFLOP/s per GPU")
for name in sorted(os.listdir(runs)):
    if name == "gpu1" or not os.path.isdir(os.path.join(runs, name)):
        continue
    try:
        c = rows(name)
    except OSError:
        print(f"{name}: no metrics"); continue
    worst = (max(abs(a["lm_loss"] - b["lm_loss"]) for a, b in zip(ref, c)) if len(c) == len(ref)
             else float("nan"))
    print(f"{name}: {steady(c, 'tokens_per_sec'):,.0f} tokens/s, {steady(c, 'tflops_per_gpu'):.1f} TFLOP/s per GPU;"
          f" largest |loss - 1 GPU| over {len(c)} iterations = {worst:.4f} ({'OK' if worst <= 0.05 else 'DIFFERS'})")
PY
fi
exit $rc
