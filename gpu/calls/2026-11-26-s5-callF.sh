#!/usr/bin/env bash
# Device call F (session 5, a 4-GPU machine): issue 9's layouts that 4 GPUs allow (TP2xPP2 interleaved, TP2xDP2
# ZeRO-1, DP4 ZeRO-3) against the 1-GPU curve (GPT-2 350M, mock data, 24 iterations), then issue 7's 1.3B rows on
# 1 and 2 of its GPUs (1 GPU, DP2 ZeRO-1 overlapped, TP2).
set -uo pipefail
mkdir -p /tmp/b && tar -xJf "$(dirname "$0")/bundle.tar.xz" -C /tmp/b && cd /tmp/b
source cuda-env.sh
export LATTICE_KERNEL_CACHE=/tmp/lattice-kernels
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $OUT/gpu.txt
cp="$(ls lib/*.jar | grep -v console-standalone | tr '\n' ':')test-classes"
runs=/tmp/lattice-layouts; mkdir -p $runs
m350="--num-layers 24 --hidden-size 1024 --num-attention-heads 16 --micro-batch-size 2 --global-batch-size 32"
layout() { local name=$1; shift; echo "### $name: $*" >> $OUT/layouts.log
  timeout 100 jre/bin/java -Xmx48g -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
    --seq-length 1024 --max-position-embeddings 1024 --lr 3e-4 --min-lr 3e-5 --lr-warmup-iters 2 --eval-iters 0 \
    --log-interval 1 --train-iters 24 --save "$runs/$name" --save-interval 1000000 $m350 "$@" > "$runs/$name.log" 2>&1
  echo "exit $?" >> "$runs/$name.log"
  grep -E "iteration +24/|memory of rank 0|rror|xception|^exit" "$runs/$name.log" | tail -6 >> $OUT/layouts.log; }
layout gpu1
layout tp2pp2 --world-size 4 --tensor-model-parallel-size 2 --pipeline-model-parallel-size 2 --num-layers-per-virtual-pipeline-stage 6
layout tp2dp2 --world-size 4 --tensor-model-parallel-size 2 --zero-stage 1 --overlap-grad-reduce
layout dp4z3 --world-size 4 --zero-stage 3
python3 - "$runs" <<'PY' >> $OUT/layouts.log 2>&1
import json, os, sys, glob
runs = sys.argv[1]
def rows(name):
    f = glob.glob(os.path.join(runs, name, "**", "metrics.jsonl"), recursive=True)
    with open(f[0]) as fh:
        return [r for r in map(json.loads, fh) if r.get("lm_loss") is not None]
def steady(rs, key):
    v = [r[key] for r in rs if r["iteration"] > 8]
    return sum(v) / len(v) if v else float("nan")
ref = rows("gpu1")
print(f"gpu1: {steady(ref, 'tokens_per_sec'):,.0f} tokens/s, {steady(ref, 'tflops_per_gpu'):.1f} TFLOP/s per GPU")
for name in ["tp2pp2", "tp2dp2", "dp4z3"]:
    try:
        c = rows(name)
    except Exception as e:
        print(f"{name}: no metrics ({e})"); continue
    worst = max(abs(a["lm_loss"] - b["lm_loss"]) for a, b in zip(ref, c)) if len(c) == len(ref) else float("nan")
    print(f"{name}: {steady(c, 'tokens_per_sec'):,.0f} tokens/s, {steady(c, 'tflops_per_gpu'):.1f} TFLOP/s per GPU;"
          f" largest |loss - 1 GPU| over {len(c)} iterations = {worst:.4f} ({'OK' if worst <= 0.05 else 'DIFFERS'})")
PY
cat $OUT/layouts.log
t() { echo "### train $*" >> $OUT/bench3d.log; timeout 100 jre/bin/java -Xmx32g -cp "$cp" dev.lattice.trainer.cli.TrainCommand --mock-data --devices cuda --bf16 \
  --seq-length 1024 --max-position-embeddings 1024 --lr 1e-4 --eval-iters 0 --log-interval 4 --train-iters 12 "$@" 2>&1 \
  | grep -E "iteration +(8|12)/|memory of rank|rror|xception" | tail -4 >> $OUT/bench3d.log; }
m13="--num-layers 24 --hidden-size 2048 --num-attention-heads 16 --micro-batch-size 4 --global-batch-size 16"
t $m13
t $m13 --world-size 2 --zero-stage 1 --overlap-grad-reduce --overlap-param-gather
t $m13 --world-size 2 --tensor-model-parallel-size 2
cat $OUT/bench3d.log
