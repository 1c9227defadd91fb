"""The convert stage as one contract: :class:`ConvertSettings` (defaults and checks) and :func:`run_convert`.

``jetsonkit convert``'s flags are read off :class:`ConvertSettings` (:mod:`jetsonkit.settings`); a recipe's TFLite
target (``targets.<name>``: ``precision``, ``input_layout``) is checked by the same class, so a value the CLI refuses
the recipe refuses too (naming file, key and line). int8 takes its ranges from the one calibration: the shared
table (``calib``) or, without one, the table ``jetsonkit calibrate`` would make with its default method.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from ..settings import check
from .options import DEFAULT_LIMIT, ConvertSettings, parse_shape
from .tflite import ConvertResult

__all__ = ["ConvertSettings", "run_convert", "DEFAULT_LIMIT", "parse_shape"]


def _check_inputs(s: ConvertSettings, data: Any, calib: Any, is_onnx: bool, inputs: Sequence[str] | None,
                  weights: str | None, model: str) -> None:
    if s.precision == "int8" and data is None:
        raise UsageError("--precision int8 needs --data (the calibration samples)",
                         hint="add --data samples.npy (and --calib calib.json to reuse its ranges)")
    if s.precision != "int8":
        unused = [f for f, v in (("--data", data), ("--limit", s.limit), ("--method", s.method)) if v is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} calibrate(s) --precision int8 and would do nothing for "
                             f"--precision {s.precision}", hint="drop them, or pass --precision int8")
    if is_onnx and (inputs or weights):
        raise UsageError(f"--input / --weights describe a PyTorch spec, and {model!r} is already ONNX",
                         hint="drop them (the ONNX file carries its input shapes and weights)")
    if not is_onnx and not inputs:
        raise UsageError(f"{model!r} is not an .onnx file; a PyTorch spec needs --input NAME:SHAPE",
                         hint="e.g. --input input:1x1x28x28, or export first with `jetsonkit export`")


def _onnx_from_spec(spec: str, weights: str | None, inputs: Sequence[str], workdir: str) -> str:
    from ..export import export_onnx
    from ..modelspec import load_model
    from ..specs import parse_input_spec

    specs = [parse_input_spec(s) for s in inputs]
    path = os.path.join(workdir, "model.onnx")
    export_onnx(load_model(spec, weights), tuple(s.example() for s in specs), path,
                input_names=[s.name for s in specs], dynamic=True)
    return path


def default_output(model: str | os.PathLike, precision: str) -> str:
    """``MODEL.<precision>.tflite`` beside the working directory (``model.<precision>.tflite`` for a PyTorch spec)."""
    model = str(model)
    return f"{Path(model).stem if model.endswith('.onnx') else 'model'}.{precision}.tflite"


def run_convert(model: str | os.PathLike, output: str | os.PathLike | None = None,
                settings: ConvertSettings = ConvertSettings(), *, data: Any = None, calib: Any = None,
                allow_other_model: bool = False, inputs: Sequence[str] | None = None,
                weights: str | None = None) -> ConvertResult:
    """Convert ``model`` (a .onnx file, or a PyTorch spec with ``inputs`` = ``NAME:SHAPE`` texts) to ``output``
    (default :func:`default_output`) with ``settings``; returns the :class:`ConvertResult` (path, size, precision,
    ops, calibration used). ``data``: calibration samples for int8 (an array, used whole, or a data spec, of which
    ``settings.limit`` -- default :data:`DEFAULT_LIMIT` -- samples are read); ``calib``: the shared table."""
    from .._io import check_output_path, check_output_suffix
    from .tflite import convert_tflite

    settings = check(settings)
    model = str(model)
    is_onnx = model.endswith(".onnx")
    _check_inputs(settings, data, calib, is_onnx, inputs, weights, model)
    out = str(output or default_output(model, settings.precision))
    check_output_suffix(out, (".tflite",), "a TFLite model")
    sources = (model if is_onnx else None, calib if isinstance(calib, (str, os.PathLike)) else None,
               data if isinstance(data, (str, os.PathLike)) else None)
    check_output_path(out, inputs=sources)
    check_output_path(f"{out}.json", inputs=sources)  # the sidecar
    limit = settings.limit if settings.limit is not None or not isinstance(data, (str, os.PathLike)) \
        else DEFAULT_LIMIT
    with tempfile.TemporaryDirectory(prefix="jetsonkit-convert-") as tmp:
        onnx_path = model if is_onnx else _onnx_from_spec(model, weights, inputs or (), tmp)
        return convert_tflite(onnx_path, out, precision=settings.precision, data=data, calib=calib,
                              method=settings.method, io=settings.io, input_layout=settings.input_layout,
                              limit=limit, allow_other_model=allow_other_model, input_shape=settings.input_shape)
