"""Activation ranges for full-integer INT8: one calibration for every backend.

The amax of a tensor comes, in this order, from a calibration table made by ``jetsonkit calibrate`` (the same
table the TensorRT Q/DQ path uses), from ``jetsonkit.calibrate.calibrate`` on the given data, or, for tensors the
table does not cover (TensorRT needs no range on a network's logits; TFLite does), from the min / max that
ONNX Runtime observes on the same calibration data. The observed minimum also tells which tensors never go
negative; those get an asymmetric [0, amax] int8 range (TFLite's scheme: zero point -128), the others a symmetric one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._deps import available, require
from .._progress import progress
from ..errors import ConfigError, DataError, InputError


@dataclass
class Range:
    lo: float
    hi: float
    source: str  # "table" | "calibrators:<method>" | "observed"


def load_table(path: str | os.PathLike):
    """A ``calibrators.CalibrationTable`` from ``path`` (written by ``jetsonkit calibrate``)."""
    calibrators = require("calibrators", purpose="reading calibration tables")
    if not os.path.isfile(path):
        raise InputError(f"calibration table {str(path)!r} not found", hint="make one with `jetsonkit calibrate`")
    try:
        return calibrators.CalibrationTable.load(path)
    except calibrators.CalibrationError as exc:  # names the file and the key; one line
        raise ConfigError(str(exc).strip().splitlines()[0]) from exc


def calibration_samples(data, shape: tuple, name: str, limit: int | None = None) -> np.ndarray:
    """The first ``limit`` samples of ``data`` as float32 ``[N, *shape[1:]]`` (NCHW, like the ONNX model).

    ``data`` is anything :func:`jetsonkit.datasource.open_data` accepts, as for ``jetsonkit calibrate``:
    ``mnist:<split>[:<limit>]``, a ``.npy`` / ``.npz`` file, an image folder, an array or an iterable of batches.
    """
    from ..datasource import InputInfo, check_batch, open_data

    info = InputInfo(name, (None, *shape[1:]), np.dtype(np.float32))
    parts, n = [], 0
    for k, batch in enumerate(open_data(data, [info], batch_size=256)):
        x = check_batch(batch, [info], k)[name]
        parts.append(x)
        n += len(x)
        if limit is not None and n >= limit:
            break
    x = np.concatenate(parts) if parts else np.zeros((0, *shape[1:]), np.float32)
    return check_data(x[:limit], shape, name)


def check_data(data: np.ndarray, shape: tuple, name: str) -> np.ndarray:
    """Calibration data as float32 ``[N, *shape[1:]]`` or a DataError naming the input."""
    x = np.asarray(data)
    if x.ndim != len(shape) or tuple(x.shape[1:]) != tuple(shape[1:]):
        raise DataError(f"calibration data for input {name!r} has shape {x.shape}, the model needs [N, "
                        f"{', '.join(map(str, shape[1:]))}]", hint="pass samples in the model's (NCHW) layout")
    if x.shape[0] == 0:
        raise DataError(f"calibration data for input {name!r} is empty", hint="pass at least one sample")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise DataError(f"calibration data for input {name!r} contains NaN or Inf", hint="clean the samples")
    return x


def observe(onnx_path: str, names: list[str], input_name: str, x: np.ndarray, batch: int = 100):
    """Min / max of each tensor in ``names`` over ``x`` (run through ONNX Runtime), and a
    ``calibrators.HistogramCollector`` of the same tensors when calibrators is installed (else None)."""
    onnx = require("onnx", purpose="INT8 calibration")
    ort = require("onnxruntime", purpose="INT8 calibration")
    collector = require("calibrators").HistogramCollector() if available("calibrators") else None
    model = onnx.load(onnx_path)
    have = {o.name for o in model.graph.output}
    for name in names:
        if name not in have:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor observable
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    starts = range(0, len(x), batch)
    for k, s in enumerate(progress(starts, "calibrating (observing ranges)", total=len(starts))):
        outs = sess.run(names, {input_name: x[s:s + batch]})
        for n, v in zip(names, outs):
            lo[n] = min(lo[n], float(v.min()))
            hi[n] = max(hi[n], float(v.max()))
            if collector is not None:
                collector.update(n, v, batch=k)
    return {n: (lo[n], hi[n]) for n in names}, collector


def table_from_data(onnx_path: str, x: np.ndarray, method: str):
    """``jetsonkit.calibrate.calibrate`` on the data when the calibration stage is installed, else None."""
    if not available("jetsonkit.calibrate"):
        return None
    from .. import calibrate as cal  # the calibration engineer's stage

    return cal.calibrate(onnx_path, x, method=method)


def activation_ranges(onnx_path: str, names: list[str], input_name: str, x: np.ndarray, table=None,
                      method: str = "percentile") -> dict:
    """``{tensor: Range}`` for every name: the table's amax first, then ``method`` on the same data
    (calibrators), then the observed min / max when calibrators is not installed."""
    observed, collector = observe(onnx_path, names, input_name, x)
    covered = set(getattr(table, "tensors", {}) or {}) if table is not None else set()
    fill = None
    if collector is not None:
        fill = require("calibrators").CalibrationTable.from_collector(collector, method)
    out = {}
    for n in names:
        lo, hi = observed[n]
        if n in covered:
            amax, source = float(table.amax(n)), "table"
        elif fill is not None:
            amax, source = float(fill.amax(n)), f"calibrators:{method}"
        else:
            out[n] = Range(min(lo, 0.0), max(hi, 0.0), "observed")
            continue
        out[n] = Range(0.0 if lo >= 0 else -amax, amax, source)
    return out
