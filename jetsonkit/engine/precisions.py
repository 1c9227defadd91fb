"""Per-layer precisions wanted by the user: from the quantization area's PrecisionPlan, a file, or a plain mapping."""

from __future__ import annotations

import os
from typing import Any, Mapping

from .._deps import require
from ..errors import ConfigError

__all__ = ["resolve_layer_precisions"]


def resolve_layer_precisions(precision_plan: Any, onnx_path: str | os.PathLike) -> dict[str, str]:
    """node -> "fp32" | "fp16" | "int8".

    ``precision_plan`` is None, a {node: precision} mapping, a path to a precision-plan file (loaded with
    ``jetsonkit.quantize.plan.PrecisionPlan.load``), or an object with ``layer_precisions(model)`` or
    ``resolve(model)`` (decisions with ``.precision``).
    """
    if precision_plan is None:
        return {}
    if isinstance(precision_plan, Mapping):
        return {str(k): str(v).lower() for k, v in precision_plan.items()}
    if isinstance(precision_plan, (str, os.PathLike)):
        from ..quantize import PrecisionPlan

        precision_plan = PrecisionPlan.load(str(precision_plan))
    onnx = require("onnx", purpose="resolving the precision plan against the model")
    model = onnx.load(str(onnx_path), load_external_data=False)
    if hasattr(precision_plan, "layer_precisions"):
        return {str(k): str(v).lower() for k, v in precision_plan.layer_precisions(model).items()}
    if hasattr(precision_plan, "resolve"):
        return {str(k): str(d.precision).lower() for k, d in precision_plan.resolve(model).items()}
    raise ConfigError(f"precision plan of type {type(precision_plan).__name__} has neither layer_precisions() nor resolve()",
                      hint="pass a PrecisionPlan, a plan file, or a {node: precision} mapping")
