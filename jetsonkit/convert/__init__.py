"""Raspberry Pi fallback: ONNX -> TFLite / LiteRT (fp32, fp16, full-integer int8) with jetsonkit's own lowering.

``convert_tflite(onnx_path, out_path, precision=..., data=..., calib=...)`` and ``read_metadata(path)``;
see :mod:`jetsonkit.convert.tflite`. Heavy packages (onnx, onnxruntime, ai-edge-litert) load on first call.
"""

from __future__ import annotations

from typing import Any

__all__ = ["convert_tflite", "read_metadata", "ConvertResult"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import tflite

        return getattr(tflite, name)
    raise AttributeError(f"module 'jetsonkit.convert' has no attribute {name!r}")
