#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript / spark.worker.resource.gpu.discoveryScript):
# prints the GPUs this executor may use as Spark's ResourceInformation JSON, {"name": "gpu", "addresses": ["0", ...]}.
# Addresses are physical ids; Lattice maps them to CUDA ordinals through CUDA_VISIBLE_DEVICES when that is set.
set -euo pipefail
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  ids="${CUDA_VISIBLE_DEVICES}"
elif command -v nvidia-smi >/dev/null 2>&1; then
  ids="$(nvidia-smi --query-gpu=index --format=csv,noheader | paste -sd, -)"
else
  ids=""
fi
json=""
IFS=',' read -ra list <<< "$ids"
for id in "${list[@]}"; do
  id="${id// /}"
  [[ -z "$id" ]] && continue
  json+="${json:+,}\"$id\""
done
echo "{\"name\": \"gpu\", \"addresses\": [${json}]}"
