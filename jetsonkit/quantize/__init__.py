"""Explicit INT8 quantization: Q/DQ placement and insertion, the precision plan, sensitivity search.

- :mod:`.placement` — where Q/DQ goes (TensorRT's rules): :func:`calibration_tensors`, :func:`quant_sites`.
- :mod:`.qdq` — :func:`quantize_qdq` writes the Q/DQ ONNX model from a calibration table.
- :mod:`.plan` — :class:`PrecisionPlan`: per-layer int8 / fp16 / fp32 rules, compiled to the graph or to builder
  settings.
- :mod:`.sensitivity` — per-layer sensitivity and the search for the fewest layers kept out of INT8.
- :mod:`.fp16` — :func:`to_fp16`: the plan compiled into an FP16 graph with fp32 islands held by Casts.

Names resolve lazily, so importing this package needs numpy alone; onnx is imported by the functions that use it.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "calibration_tensors": "jetsonkit.quantize.placement",
    "quant_sites": "jetsonkit.quantize.placement",
    "QuantSite": "jetsonkit.quantize.placement",
    "has_qdq": "jetsonkit.quantize.placement",
    "quantize_qdq": "jetsonkit.quantize.qdq",
    "QdqResult": "jetsonkit.quantize.qdq",
    "PrecisionPlan": "jetsonkit.quantize.plan",
    "Rule": "jetsonkit.quantize.plan",
    "Decision": "jetsonkit.quantize.plan",
    "layer_sensitivity": "jetsonkit.quantize.sensitivity",
    "search_mixed_precision": "jetsonkit.quantize.sensitivity",
    "SensitivityReport": "jetsonkit.quantize.sensitivity",
    "to_fp16": "jetsonkit.quantize.fp16",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
