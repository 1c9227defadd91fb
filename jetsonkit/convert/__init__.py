"""Raspberry Pi fallback: ONNX -> TFLite / LiteRT (fp32, fp16, full-integer int8) with jetsonkit's own lowering.

The stage: ``run_convert(model, output, ConvertSettings(precision=...), data=..., calib=...)``
(:mod:`jetsonkit.convert.stage`: the CLI's and the recipe's contract); underneath it
``convert_tflite(onnx_path, out_path, precision=..., data=..., calib=...)`` and ``read_metadata(path)``
(:mod:`jetsonkit.convert.tflite`). Heavy packages (onnx, onnxruntime, ai-edge-litert) load on first call.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {"convert_tflite": "jetsonkit.convert.tflite", "read_metadata": "jetsonkit.convert.tflite",
         "ConvertResult": "jetsonkit.convert.tflite", "ConvertSettings": "jetsonkit.convert.options",
         "run_convert": "jetsonkit.convert.stage"}
__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
