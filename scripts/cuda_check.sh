#!/usr/bin/env bash
# The prepared GPU check (issue 9): W4AX bench per mode on CUDA (bf16 as fp) and a short closed-loop
# eval, as JSON under $OUT. Needs a Python with CUDA torch, transformers and this package's
# dependencies; run it from the repository root: `OUT=/tmp/cuda_out scripts/cuda_check.sh`.
set -euo pipefail
OUT=${OUT:-cuda_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" DYQ_VLA_NO_EXTENSION=1 HF_HUB_OFFLINE=1
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$OUT/device.txt" 2>&1 || true
"$PY" -m dyq_vla_ros.cli bench --model embedded --device cuda --steps 20 --json "$OUT/bench_cuda_embedded.json"
"$PY" -m dyq_vla_ros.cli bench --model scale-100m --device cuda --steps 20 --json "$OUT/bench_cuda_scale-100m.json"
"$PY" -m dyq_vla_ros.cli bench --model scale-400m --device cuda --steps 10 --json "$OUT/bench_cuda_scale-400m.json"
"$PY" -m dyq_vla_ros.cli eval --device cuda --episodes 5 --precision-modes fp,w4a8,dyq --json "$OUT/eval_cuda.json"
