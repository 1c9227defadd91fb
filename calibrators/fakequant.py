"""Symmetric INT8 fake quantization: the one arithmetic every jetsonkit stage uses.

ONNX ``QuantizeLinear`` with zero point 0 computes ``saturate(round_half_to_even(x / scale))`` and
``DequantizeLinear`` multiplies back by ``scale`` (ONNX operator spec). TensorRT's explicit quantization uses the same
symmetric form with ``scale = amax / 127`` (TensorRT developer guide, "Working with Quantized Types"). Weights use
the narrow range [-127, 127] (symmetric, as TensorRT and pytorch-quantization do); activations the full int8
range [-128, 127], which is what ``QuantizeLinear`` saturates to.
"""

from __future__ import annotations

import numpy as np

__all__ = ["int8_scale", "fake_quantize", "quantize_int8", "channel_amax"]

QMAX = 127


def int8_scale(amax):
    """float32 scale(s) ``amax / 127``; an amax of 0 (an all-zero tensor) gives scale 0."""
    amax = np.asarray(amax, dtype=np.float64)
    if np.any(amax < 0) or not np.all(np.isfinite(amax)):
        raise ValueError(f"amax must be finite and >= 0, got {amax!r}")
    return (amax / QMAX).astype(np.float32)


def _broadcast_scale(scale: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    if axis is None:
        if scale.ndim != 0:
            raise ValueError(f"per-tensor quantization needs a scalar amax, got shape {scale.shape}")
        return scale
    shape = [1] * ndim
    shape[axis] = scale.size
    return scale.reshape(shape)


def quantize_int8(x, amax, axis: int | None = None, narrow: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes of ``x`` and the float32 scale(s): ``clamp(rint(x / scale), lo, 127)``.

    ``axis`` selects per-channel amax (one per index along ``axis``); ``narrow`` clamps to [-127, 127]
    (weights) instead of [-128, 127] (activations). ``np.rint`` rounds half to even, as ONNX QuantizeLinear does.
    Channels whose amax is 0 quantize to 0.
    """
    x = np.asarray(x, dtype=np.float32)
    if axis is not None:
        axis = axis % x.ndim
        if np.size(amax) != x.shape[axis]:
            raise ValueError(f"per-channel amax has {np.size(amax)} values but axis {axis} has {x.shape[axis]}")
    scale = _broadcast_scale(int8_scale(amax), x.ndim, axis)
    safe = np.where(scale > 0, scale, np.float32(1.0)).astype(np.float32)
    lo = -QMAX if narrow else -QMAX - 1
    q = np.clip(np.rint(x / safe), lo, QMAX)
    q = np.where(scale > 0, q, 0).astype(np.int8)
    return q, int8_scale(amax)


def fake_quantize(x, amax, axis: int | None = None, narrow: bool = False) -> np.ndarray:
    """``dequantize(quantize(x))`` in float32: what INT8 inference sees in place of ``x``."""
    x = np.asarray(x, dtype=np.float32)
    q, scale = quantize_int8(x, amax, axis=axis, narrow=narrow)
    ax = None if axis is None else axis % x.ndim
    return (q.astype(np.float32) * _broadcast_scale(scale, x.ndim, ax)).astype(np.float32)


def channel_amax(w, axis: int = 0) -> np.ndarray:
    """Per-channel max |w| along ``axis`` (the output-channel axis: 0 for Conv KCRS and Gemm with transB)."""
    w = np.asarray(w)
    axis = axis % w.ndim
    other = tuple(i for i in range(w.ndim) if i != axis)
    return np.max(np.abs(w), axis=other).astype(np.float64) if other else np.abs(w).astype(np.float64)
