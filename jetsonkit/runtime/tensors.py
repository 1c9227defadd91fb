"""Tensor metadata shared by every backend, and the one input check they all use.

A :class:`TensorInfo` describes one input or output: its name, its shape (an ``int`` per fixed dimension, a ``str``
for a dynamic one: the symbolic name from the model, or ``"?"``), its numpy dtype, the profile bounds a TensorRT
engine accepts (``min_shape`` / ``max_shape``), and, for LiteRT integer tensors, the quantization (scale, zero point).

:func:`check_feed` turns what a caller passed (one array, or a dict of arrays) into a dict of C-contiguous arrays,
or raises :class:`~jetsonkit.errors.InputSpecError` naming the model, the tensor and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputSpecError

@dataclass(frozen=True)
class TensorInfo:
    """Name, shape (int = fixed, str = dynamic), dtype of one model input or output."""

    name: str
    shape: tuple
    dtype: np.dtype
    min_shape: tuple | None = None  # TensorRT optimization profile bounds (inputs only)
    max_shape: tuple | None = None
    quantization: tuple[float, int] | None = None  # LiteRT integer tensor: (scale, zero_point)

    @property
    def is_dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.shape)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": np.dtype(self.dtype).name}
        if self.min_shape is not None:
            out["min_shape"], out["max_shape"] = list(self.min_shape), list(self.max_shape or ())
        if self.quantization is not None:
            out["quantization"] = {"scale": self.quantization[0], "zero_point": self.quantization[1]}
        return out

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        return f"{self.name}:{dims}:{np.dtype(self.dtype).name}"


def dynamic_dim(value: Any) -> int | str:
    """Normalise a backend's dimension value: a positive int stays, anything else (None, -1, a name) is dynamic."""
    if isinstance(value, (int, np.integer)) and int(value) >= 0:
        return int(value)
    if isinstance(value, str) and value:
        return value
    return "?"


def concrete_shape(info: TensorInfo, fill: int = 1) -> tuple[int, ...]:
    """A shape that fits ``info``: fixed dims as they are, dynamic dims ``fill`` (or the profile minimum if larger)."""
    dims = []
    for i, d in enumerate(info.shape):
        if isinstance(d, int):
            dims.append(d)
        else:
            low = info.min_shape[i] if info.min_shape is not None else 1
            dims.append(max(fill, int(low)))
    return tuple(dims)


def _fits(shape: tuple, want: tuple) -> bool:
    return all(not isinstance(w, int) or g == w for g, w in zip(shape, want))


def _shape_hint(shape: tuple, want: tuple) -> str:
    """'transpose' when the array is the model's image layout the other way round (NCHW <-> NHWC)."""
    if len(shape) == 4:
        if _fits((shape[0], shape[3], shape[1], shape[2]), want):
            return "the model takes NCHW and this array is NHWC: transpose it, x.transpose(0, 3, 1, 2)"
        if _fits((shape[0], shape[2], shape[3], shape[1]), want):
            return "the model takes NHWC and this array is NCHW: transpose it, x.transpose(0, 2, 3, 1)"
    return "resize or reshape the input"


def _check_shape(model: str, info: TensorInfo, shape: tuple[int, ...]) -> None:
    if len(shape) != len(info.shape):
        raise InputSpecError(
            f"{model}: input {info.name!r} has shape {list(shape)}, the model expects rank {len(info.shape)} "
            f"{list(info.shape)}", hint="reshape the array to the model's input shape")
    for axis, (got, want) in enumerate(zip(shape, info.shape)):
        if isinstance(want, int) and got != want:
            raise InputSpecError(
                f"{model}: input {info.name!r} has shape {list(shape)}, the model expects {list(info.shape)} "
                f"(axis {axis} must be {want})", hint=_shape_hint(shape, info.shape))
    if info.min_shape is not None and info.max_shape is not None:
        low, high = tuple(info.min_shape), tuple(info.max_shape)
        if any(g < lo or g > hi for g, lo, hi in zip(shape, low, high)):
            raise InputSpecError(
                f"{model}: input {info.name!r} shape {list(shape)} is outside the engine's optimization profile "
                f"(min {list(low)}, max {list(high)})",
                hint="rebuild the engine with a wider profile or split the batch")


def check_feed(model: str, feed: Any, inputs: Sequence[TensorInfo]) -> dict[str, np.ndarray]:
    """Validate ``feed`` (one array or {name: array}) against ``inputs``; return {name: contiguous array}."""
    if type(feed) is np.ndarray and len(inputs) == 1:  # the common case, kept short: it runs on every call
        info = inputs[0]
        if feed.dtype == info.dtype and len(feed.shape) == len(info.shape) and info.min_shape is None and all(
                g == w for g, w in zip(feed.shape, info.shape) if type(w) is int):
            return {info.name: feed if feed.flags.c_contiguous else np.ascontiguousarray(feed)}
    names = [i.name for i in inputs]
    if not isinstance(feed, Mapping):
        if len(inputs) != 1:
            raise InputSpecError(f"{model} has {len(inputs)} inputs ({', '.join(names)}); a single array is ambiguous",
                                 hint="pass a dict {input name: array}")
        feed = {names[0]: feed}
    missing = [n for n in names if n not in feed]
    extra = [str(k) for k in feed if k not in names]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + \
                ([f"unknown {', '.join(map(repr, extra))}"] if extra else [])
        raise InputSpecError(f"{model}: inputs {'; '.join(parts)}",
                             hint=f"the model's inputs are {', '.join(str(i) for i in inputs)}")
    out: dict[str, np.ndarray] = {}
    for info in inputs:
        value = feed[info.name]
        if not isinstance(value, np.ndarray):
            raise InputSpecError(f"{model}: input {info.name!r} is a {type(value).__name__}, not a numpy array",
                                 hint=f"pass np.asarray(value, dtype=np.{np.dtype(info.dtype).name})")
        if value.dtype != info.dtype:
            raise InputSpecError(
                f"{model}: input {info.name!r} has dtype {value.dtype.name}, the model expects "
                f"{np.dtype(info.dtype).name}", hint=f"convert it: x.astype(np.{np.dtype(info.dtype).name})")
        _check_shape(model, info, tuple(value.shape))
        out[info.name] = value if value.flags.c_contiguous else np.ascontiguousarray(value)
    return out
