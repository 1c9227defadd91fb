"""Model inputs as the data layer sees them, and the check every batch passes before it reaches a model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import DataError

__all__ = ["InputInfo", "check_batch", "shape_text", "onnx_inputs"]


def shape_text(shape: Sequence) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


@dataclass(frozen=True)
class InputInfo:
    """A model input: ``shape`` has None for a dynamic axis."""

    name: str
    shape: tuple
    dtype: np.dtype

    def describe(self) -> str:
        return f"{shape_text(self.shape)} {np.dtype(self.dtype).name}"

    @property
    def static_batch(self) -> int | None:
        """The batch size the model fixes (axis 0), or None when it is dynamic."""
        return self.shape[0] if self.shape and isinstance(self.shape[0], int) else None


def _shape_hint(x: np.ndarray, info: InputInfo) -> str:
    want = info.shape
    if x.ndim == len(want) and all(d is None or d == s for d, s in zip(want[1:], x.shape[1:])):
        return f"the model takes batches of {want[0]}: use --batch-size {want[0]}"
    if x.ndim == len(want) == 4 and all(d is None or d == s for d, s in zip(want[1:], (x.shape[3], *x.shape[1:3]))):
        return "the data is NHWC and the model NCHW: transpose it, x.transpose(0, 3, 1, 2)"
    if x.ndim == len(want) == 4 and all(d is None or d == s for d, s in zip(want[1:], (*x.shape[2:4], x.shape[1]))):
        return "the data is NCHW and the model NHWC: transpose it, x.transpose(0, 2, 3, 1)"
    if x.ndim == len(want) - 1:
        return "one sample has no batch axis: stack samples into [N, ...] (x[None] for one)"
    return "reshape the data, or give --shape for dynamic axes"


def check_batch(batch: dict, inputs: Sequence[InputInfo], index: int, label: str = "data", *,
                free_batch: bool = False, offset: int | None = None) -> dict:
    """The batch with float widths converted; DataError naming the data, the batch, the input and both shapes /
    dtypes. NaN / Inf in the data is the data's fault and is reported as such (before any model runs).
    ``free_batch``: the batch axis is not checked (the batches are re-cut to the model's size afterwards);
    ``offset``: the index of the batch's first sample in the data (named in the NaN message)."""
    out = {}
    for info in inputs:
        if info.name not in batch:
            raise DataError(f"{label}: batch {index} has no data for model input {info.name!r} (it has: "
                            f"{', '.join(map(str, batch)) or 'nothing'})", hint="name the arrays after the inputs")
        x = np.asarray(batch[info.name])
        want = np.dtype(info.dtype)
        if x.dtype != want:
            if not (x.dtype.kind == "f" and want.kind == "f"):
                raise DataError(f"{label}: input {info.name!r} batch {index}: data dtype {x.dtype.name} does not fit "
                                f"the model input dtype {want.name}", hint=f"convert the data to {want.name}")
            x = x.astype(want)
        dims = list(zip(info.shape, x.shape))[1 if free_batch else 0:]
        if x.ndim != len(info.shape) or any(d is not None and d != s for d, s in dims):
            raise DataError(f"{label}: input {info.name!r} batch {index}: data shape {shape_text(x.shape)} does not "
                            f"fit the model input shape {shape_text(info.shape)}", hint=_shape_hint(x, info))
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            bad = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1))[0])
            where = f"sample {offset + bad}" if offset is not None else f"batch {index}, sample {bad} of the batch"
            raise DataError(f"data {label!r} holds NaN or Inf ({where}, input {info.name!r})",
                            hint="clean the data (the model is not at fault)")
        out[info.name] = x
    return out


_ONNX_DTYPES = {1: np.float32, 10: np.float16, 11: np.float64, 7: np.int64, 6: np.int32, 3: np.int8, 2: np.uint8,
                9: np.bool_}


def onnx_inputs(path: str | os.PathLike) -> list[InputInfo]:
    """The graph inputs of an ONNX file (initializers excluded), read with onnx without running anything."""
    from .._deps import require

    onnx = require("onnx", purpose="reading the model's inputs")
    model = onnx.load(os.fspath(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    out = []
    for v in model.graph.input:
        if v.name in inits:
            continue
        t = v.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
        out.append(InputInfo(v.name, dims, np.dtype(_ONNX_DTYPES.get(t.elem_type, np.float32))))
    return out
