"""Evaluation helpers: top-1 accuracy on labelled data and agreement of a candidate with the FP32 reference.

Models are ONNX files (or ModelProtos) run in ONNX Runtime on the CPU, or any runner that honours the
:mod:`jetsonkit.runtime` contract (``.infer(array) -> {name: array}``), or a plain callable ``x -> logits``.
Data comes from :mod:`jetsonkit.data` (``DataSpec.parse(...).load_xy()``); a model with a static batch axis
runs in batches of its size.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .artifacts import DEFAULT_BATCH, ort_predictor  # noqa: F401 - ort_predictor: part of this module's API
from .artifacts import batched as _batched
from .errors import DataError

__all__ = ["Agreement", "predict", "top1", "agreement", "ort_predictor", "fit_input_layout"]


@dataclass(frozen=True)
class Agreement:
    """How closely a candidate's outputs follow the reference's on the same inputs."""

    top1_agreement: float  # fraction of samples whose arg-max class matches
    cosine: float  # mean per-sample cosine similarity of the output vectors
    max_abs_error: float  # largest |candidate - reference| over all outputs
    samples: int

    def as_dict(self) -> dict:
        return asdict(self)


def _predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    if hasattr(model, "infer"):
        inputs = getattr(model, "inputs", None)
        first = inputs[0].shape[0] if inputs and len(inputs[0].shape) else None
        fixed = first if isinstance(first, int) else None  # a static batch axis: batches of exactly that size

        def run(x: np.ndarray) -> np.ndarray:
            return _batched(lambda b: next(iter(model.infer(b).values())), x, fixed or DEFAULT_BATCH,
                            exact=bool(fixed))

        return run
    if callable(model):
        return model
    suffix = Path(os.fspath(model)).suffix if isinstance(model, (str, os.PathLike)) else ".onnx"
    if suffix not in (".onnx", ""):
        from .runtime import Runtime

        runner = Runtime.open(model)
        return _predictor(runner)
    return ort_predictor(model)


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's first output for every sample of ``x`` (run in batches; see :func:`fit_input_layout`)."""
    x, _ = fit_input_layout(model, _check_inputs(x))
    return np.asarray(_predictor(model)(x))


def fit_input_layout(model: Any, x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``x`` as ``model`` takes it, and a note saying what was changed (None when nothing was).

    Evaluation data is NCHW, like the ONNX model. A .tflite written by ``jetsonkit convert`` states its input layout
    in its metadata (NHWC by default); 4-D data that does not fit that NHWC input as it is, but does once transposed
    from NCHW, is transposed. Data that fits neither layout is a DataError naming both shapes.
    """
    want = _tflite_nhwc_input(model) if np.ndim(x) == 4 else None
    if want is None or tuple(x.shape[1:]) == want:
        return x, None
    h, w, c = want
    if tuple(x.shape[1:]) != (c, h, w):
        raise DataError(f"data shape {list(x.shape)} fits neither the NHWC input of {os.fspath(model)} "
                        f"[N, {h}, {w}, {c}] nor NCHW [N, {c}, {h}, {w}]",
                        hint="pass NCHW samples (like the ONNX model) or NHWC samples of that size")
    note = f"NCHW data transposed to NHWC for {os.fspath(model)} (its jetsonkit metadata: NHWC input)"
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), note


def _tflite_nhwc_input(model: Any) -> tuple | None:
    """(H, W, C) of a .tflite's single 4-D input when its jetsonkit metadata says NHWC, else None."""
    if not isinstance(model, (str, os.PathLike)) or Path(model).suffix != ".tflite" or not Path(model).is_file():
        return None
    with open(model, "rb") as f:
        if f.read(8)[4:8] != b"TFL3":
            return None  # not a flatbuffer: the runtime says so when it opens the file
    from .artifacts import read_tflite_metadata

    inputs = read_tflite_metadata(model).get("inputs") or []
    if len(inputs) != 1 or inputs[0].get("layout") != "NHWC" or len(inputs[0].get("shape") or ()) != 4:
        return None
    return tuple(int(d) for d in inputs[0]["shape"][1:])


def check_finite(x: np.ndarray, label: str = "evaluation data") -> None:
    """DataError naming the first sample that holds NaN or Inf: the one rule for evaluation data (evaluate and
    compress); the model is never blamed for its input."""
    if x.dtype.kind in "fc" and x.size:
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1) if x.ndim else ~np.isfinite(x)
        if bad.any():
            raise DataError(f"{label} holds NaN or Inf in {int(bad.sum())} of {len(x)} samples (first: sample "
                            f"{int(np.argmax(bad))})", hint="clean or drop those samples first")


def _check_inputs(x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.size == 0:
        raise DataError("evaluation data is empty", hint="pass at least one sample")
    check_finite(x)
    return np.ascontiguousarray(x, dtype=np.float32) if x.dtype.kind == "f" else x


def top1(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)`` (fraction in [0, 1])."""
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise DataError(f"{len(x)} samples but {len(y)} labels", hint="pass one label per sample")
    logits = predict(model, x)
    return float((logits.reshape(len(x), -1).argmax(1) == y).mean())


def agreement_of_outputs(candidate: np.ndarray, reference: np.ndarray) -> Agreement:
    """Agreement figures of two output arrays (same shape, samples on axis 0)."""
    c = np.asarray(candidate, np.float64).reshape(len(candidate), -1)
    r = np.asarray(reference, np.float64).reshape(len(reference), -1)
    if c.shape != r.shape:
        raise DataError(f"candidate outputs {c.shape} and reference outputs {r.shape} differ in shape",
                        hint="compare models with the same output")
    norms = np.linalg.norm(c, axis=1) * np.linalg.norm(r, axis=1)
    cos = np.where(norms > 0, (c * r).sum(1) / np.maximum(norms, 1e-30), 1.0)
    return Agreement(float((c.argmax(1) == r.argmax(1)).mean()), float(cos.mean()),
                     float(np.abs(c - r).max()), len(c))


def agreement(candidate: Any, reference: Any, x: np.ndarray) -> Agreement:
    """Top-1 agreement, mean cosine and max abs error of ``candidate`` against ``reference`` on ``x``."""
    return agreement_of_outputs(predict(candidate, x), predict(reference, x))
