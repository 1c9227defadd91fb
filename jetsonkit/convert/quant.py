"""Int8 numbers for TFLite's full-integer scheme.

The scheme (TensorFlow Lite 8-bit quantization specification, ai.google.dev/edge/litert/models/quantization_spec):
activations int8 per tensor, real = scale * (q - zero_point), zero point in [-128, 127]; weights int8 symmetric
(zero point 0) in [-127, 127], per output channel for convolutions and fully-connected layers; biases int32 with
scale = input scale * weight scale and zero point 0. Rounding is round-half-to-even (numpy's ``rint``), as in
``calibrators.fake_quantize``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .flatbuf import QParams

_TINY = 1e-8  # a zero range still needs a positive scale


@dataclass
class Range:
    """An activation's int8 range: [lo, hi] and where it came from ("table" or "calibrated:<method>")."""

    lo: float
    hi: float
    source: str


def range_qparams(lo: float, hi: float) -> QParams:
    """[0, hi] -> scale hi/255, zero point -128 (non-negative tensors); else symmetric amax/127, zero point 0."""
    if lo >= 0.0:
        return QParams.per_tensor(max(hi, _TINY) / 255.0, -128)
    amax = max(-lo, hi, _TINY)
    return QParams.per_tensor(amax / 127.0, 0)


def activation_qparams(r: Range) -> QParams:
    """:func:`range_qparams` of a calibrated range."""
    return range_qparams(float(r.lo), float(r.hi))


def quantize_weights(w: np.ndarray, axis: int | None) -> tuple[np.ndarray, QParams]:
    """Symmetric int8 weights, per channel along ``axis`` (per tensor when None); amax = max |w|."""
    w = np.asarray(w, np.float32)
    if axis is None:
        amax = np.array([np.abs(w).max()], np.float32)
        bscale = amax
    else:
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=other).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        bscale = amax.reshape(shape)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    bscale = np.where(bscale > 0, bscale / 127.0, 1.0)
    q = np.clip(np.rint(w / bscale), -127, 127).astype(np.int8)
    return q, QParams(scale, np.zeros(scale.shape, np.int64), 0 if axis is None else axis)


def quantize_bias(b: np.ndarray, in_scale: float, w_scale: np.ndarray) -> tuple[np.ndarray, QParams]:
    """int32 bias with scale in_scale * w_scale (per channel), zero point 0."""
    scale = (np.float64(in_scale) * w_scale.astype(np.float64)).astype(np.float32)
    q = np.rint(np.asarray(b, np.float64) / scale.astype(np.float64))
    q = np.clip(q, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
    return q, QParams(scale, np.zeros(scale.shape, np.int64), 0)


def quantize_tensor(x: np.ndarray, qp: QParams) -> np.ndarray:
    """Float -> int8 with a per-tensor QParams (for int8 model inputs)."""
    q = np.rint(np.asarray(x, np.float32) / qp.scale[0]) + qp.zero_point[0]
    return np.clip(q, -128, 127).astype(np.int8)
