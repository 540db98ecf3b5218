#!/usr/bin/env bash
# The prepared GPU check: the Triton W4AX kernel tests on CUDA (no interpreter), per-layer timings beside
# tinygemm and torchao, `dyq-vla bench` per mode at scale-100m, scale-400m and pi0-3b (bf16 fp against the
# W4AX modes on the triton backend) and a short closed-loop eval, as JSON under $OUT. Needs a Python with
# CUDA torch, triton, transformers and this package's dependencies (torchao optional); run it from the
# repository root: `OUT=/tmp/cuda_out scripts/cuda_check.sh`.
#
# pi0-3b is a random 3.5B-parameter PI0 built on the GPU in bfloat16 (no float32 copy), saved to a 7 GB
# temporary checkpoint and loaded twice (the fp copy and the W4AX copy): about 15 GB of GPU memory at peak
# and minutes of start-up; the first W4AX steps autotune each layer shape once (cached). Set TMPDIR to a
# disk with room. The eval runs the shipped model.
set -euo pipefail
OUT=${OUT:-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" DYQ_VLA_NO_EXTENSION=1 HF_HUB_OFFLINE=1
unset TRITON_INTERPRET
"$PY" -c "import torch, triton; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv >> "$OUT/device.txt" 2>&1 || true

# 1. the kernels against the reference backend, compiled for this GPU
"$PY" -m pytest -q test/quant/test_triton.py --junitxml="$OUT/kernel_tests.xml" | tee "$OUT/kernel_tests.txt"

# 2. one layer of each main shape (tokens x in x out): SigLIP, the VLM prefix, the action expert
"$PY" -m dyq_vla_ros.quant.layer_bench --json "$OUT/layers_scale-400m.json" \
    --shapes 256x768x768,256x768x1536,304x1024x1024,304x1024x4096,304x4096x1024,51x1024x4096,51x4096x1024
"$PY" -m dyq_vla_ros.quant.layer_bench --json "$OUT/layers_pi0-3b.json" \
    --shapes 256x1152x1152,256x1152x4304,256x4304x1152,304x2048x2048,304x2048x16384,304x16384x2048,51x1024x2048,51x1024x4096,51x4096x1024

# 3. per-step latency and resident bytes per mode; 4. closed-loop success on the GPU
"$PY" -m dyq_vla_ros.cli bench --model scale-100m --device cuda --backend triton --steps 20 --json "$OUT/bench_cuda_scale-100m.json"
"$PY" -m dyq_vla_ros.cli bench --model scale-400m --device cuda --backend triton --steps 10 --json "$OUT/bench_cuda_scale-400m.json"
"$PY" -m dyq_vla_ros.cli bench --model pi0-3b --device cuda --backend triton --precision-modes fp,w4a16,w4a8,w4a4 --steps 5 --warmup 2 --json "$OUT/bench_cuda_pi0-3b.json"
"$PY" -m dyq_vla_ros.cli eval --device cuda --episodes 10 --precision-modes fp,w4a8,dyq --json "$OUT/eval_cuda.json"
