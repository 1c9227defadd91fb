#!/usr/bin/env bash
# Install NVIDIA ModelOpt's ONNX quantization without its GPU stack, into a folder of its own, for
# scripts/bench/calibrate.py --modelopt DIR. ModelOpt's [onnx] extra pulls cupy-cuda12x and onnxruntime-gpu on
# x86; they are left out here and the venv's CPU onnxruntime, onnx, onnx-graphsurgeon and torch are used instead
# (modelopt.onnx.quantization.quantize then runs with calibration_eps=["cpu"]). Nothing else in the venv changes.
# Usage: scripts/bench/modelopt_cpu.sh [DIR]   (default /tmp/modelopt-cpu)
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-/tmp/modelopt-cpu}
.venv/bin/python -m pip install --disable-pip-version-check -q --target "$DIR" --no-deps \
  nvidia-modelopt==0.47.0 nvidia-ml-py omegaconf antlr4-python3-runtime==4.9.3 pulp pydantic pydantic-core \
  annotated-types typing-inspection rich markdown-it-py mdurl pygments regex safetensors ninja scipy \
  onnxconverter-common onnxslim polygraphy lief cppimport ml_dtypes
PYTHONPATH="$DIR" .venv/bin/python -c "import modelopt.onnx.quantization as q; print('ModelOpt ONNX quantization in', '$DIR')"
