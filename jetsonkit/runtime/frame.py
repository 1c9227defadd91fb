"""The frame path shared by every backend: a camera frame -> the model's input tensor, by one PreprocessSpec.

:func:`resolve_spec` turns what ``Runtime.open(..., preprocess=)`` received (a :class:`PreprocessSpec`, its dict
form, ``"auto"`` = the spec stored with the artifact) into a spec fitted to the model's own input
(:func:`fit_spec`): the layout (NCHW / NHWC) is read off the input's channel axis, the dtype is the input's, the
size is the spec's or, when it has none, the input's fixed height / width (a dynamic input without a spec size
takes its profile maximum on TensorRT, else it is refused with the fix). A declared spec that contradicts a
fixed input (size, channels) is refused naming both, never silently changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, InputSpecError
from ..preprocess.config import Geometry, PreprocessSpec
from .tensors import TensorInfo

FRAME_FORMATS = ("bgr", "rgb")


@dataclass(frozen=True)
class FrameFeed:
    """What ``infer_frame`` does: run ``spec`` on a frame in ``fmt`` and feed the result to input ``name``.

    ``gpu``: a :class:`~jetsonkit.preprocess.Preprocess` step given instead of a spec (always NCHW output, its own
    source format); the CPU backends run the CPU frame step on its spec, the TensorRT backend its CUDA kernels."""

    name: str
    spec: PreprocessSpec | None
    fmt: str
    gpu: Any = None
    layout: str = "NCHW"

    def tensor(self, frame: np.ndarray, fmt: str | None = None) -> tuple[np.ndarray, Geometry]:
        """(input tensor, where the frame landed in it)."""
        from ..preprocess.fast import to_tensor

        if self.gpu is not None:
            info = self.gpu.check(frame)
            x = to_tensor(replace(self.gpu.spec, layout=self.layout), frame, self.gpu.src_format, self.gpu.yuv_matrix)
            return x, self.geometry(info.width, info.height)
        fmt = self.fmt if fmt is None else check_format(fmt)
        return to_tensor(self.spec, frame, fmt), self.spec.geometry(frame.shape[1], frame.shape[0])

    def geometry(self, frame_w: int, frame_h: int) -> Geometry:
        return (self.gpu.spec if self.gpu is not None else self.spec).geometry(frame_w, frame_h)


def check_format(fmt: Any) -> str:
    if fmt not in FRAME_FORMATS:
        raise ConfigError(f"frame format {fmt!r} is not one of {', '.join(FRAME_FORMATS)}",
                          hint="pass frame_format='bgr' (OpenCV / most cameras) or 'rgb' (Pillow, imageio)")
    return fmt


def layout_of(info: TensorInfo, channels: int, fallback: str) -> str:
    """NCHW or NHWC from a rank-4 input's fixed channel axis (1 or 3 channels); ``fallback`` when both or neither
    axis can be the channel axis."""
    at1, at3 = info.shape[1] == channels, info.shape[3] == channels
    if at1 != at3:
        return "NCHW" if at1 else "NHWC"
    return fallback


def fit_spec(spec: PreprocessSpec, info: TensorInfo, model: str) -> PreprocessSpec:
    """``spec`` with the model input's layout, dtype and (when the spec has none) size; refuses contradictions."""
    if len(info.shape) != 4:
        raise InputSpecError(f"{model}: input {info.name!r} has shape {list(info.shape)}; the frame path needs an "
                             "image input of rank 4 (NCHW or NHWC)", hint="call infer(tensor) for this model")
    layout = layout_of(info, spec.channels, spec.layout)
    c_axis, h_axis, w_axis = (1, 2, 3) if layout == "NCHW" else (3, 1, 2)
    if isinstance(info.shape[c_axis], int) and info.shape[c_axis] != spec.channels:
        raise InputSpecError(f"{model}: input {info.name!r} {list(info.shape)} has {info.shape[c_axis]} channels; "
                             f"the pre-processing spec makes {spec.channels} (color {spec.color!r})",
                             hint="pass a spec whose color matches the model (gray: 1 channel, rgb / bgr: 3)")
    dims = [info.shape[h_axis], info.shape[w_axis]]
    high = info.max_shape
    if spec.size is not None:
        if any(isinstance(d, int) and d != s for d, s in zip(dims, spec.size)):
            raise InputSpecError(f"{model}: pre-processing size {list(spec.size)} does not fit input {info.name!r} "
                                 f"{list(info.shape)} (H, W {dims})", hint="drop size from the spec (the model's is "
                                 "used) or export the model at that size")
        size = spec.size
    elif all(isinstance(d, int) for d in dims):
        size = (dims[0], dims[1])
    elif high is not None:  # TensorRT dynamic profile: the largest frame size it accepts
        size = (int(high[h_axis]), int(high[w_axis]))
    else:
        raise InputSpecError(f"{model}: input {info.name!r} {list(info.shape)} has a dynamic height / width and the "
                             "pre-processing spec no size", hint="give the spec a size, e.g. size=(640, 640)")
    dtype = np.dtype(info.dtype).name
    if dtype not in ("float32", "float16", "uint8") or (dtype == "uint8") != (spec.dtype == "uint8"):
        raise InputSpecError(f"{model}: input {info.name!r} is {dtype}; the pre-processing spec makes {spec.dtype}",
                             hint="use dtype uint8 for a uint8 input and float32 / float16 otherwise")
    return replace(spec, size=(int(size[0]), int(size[1])), layout=layout, dtype=dtype)


def frame_feed(value: Any, frame_format: str, inputs: tuple[TensorInfo, ...], stored: Any, model: str) -> FrameFeed:
    """The frame feed for ``Runtime.open(..., preprocess=value, frame_format=...)``; ``stored`` is a callable giving
    the artifact's own spec (or None)."""
    from ..preprocess.core import Preprocess

    if len(inputs) != 1:
        raise InputSpecError(f"{model} has {len(inputs)} inputs; the frame path feeds one image input",
                             hint="open it without preprocess= and call infer({name: array})")
    info = inputs[0]
    if isinstance(value, Preprocess):
        if len(info.shape) != 4:
            raise InputSpecError(f"{model}: input {info.name!r} {list(info.shape)} is not an image input")
        layout = layout_of(info, 3, "NCHW")
        want = (value.height, value.width)
        dims = [info.shape[2], info.shape[3]] if layout == "NCHW" else [info.shape[1], info.shape[2]]
        if any(isinstance(d, int) and d != s for d, s in zip(dims, want)):
            raise InputSpecError(f"{model}: Preprocess size {list(want)} does not fit input {info.name!r} "
                                 f"{list(info.shape)}", hint="build the Preprocess step at the model's size")
        return FrameFeed(info.name, None, value.src_format, gpu=value, layout=layout)
    spec = fit_spec(resolve_spec(value, stored() if value == "auto" else None, model), info, model)
    return FrameFeed(info.name, spec, check_format(frame_format), layout=spec.layout)


def resolve_spec(value: Any, stored: PreprocessSpec | None, model: str) -> PreprocessSpec:
    """The spec ``preprocess=`` names: a spec, its dict form, or "auto" (``stored``, refused when absent)."""
    if isinstance(value, PreprocessSpec):
        return value
    if isinstance(value, Mapping):
        return PreprocessSpec.from_dict(value, where=f"{model}: preprocess=")
    if value == "auto":
        if stored is None:
            raise ConfigError(f"{model}: preprocess='auto' but the model stores no pre-processing spec",
                              hint="pass preprocess=PreprocessSpec(...), or export the model with one")
        return stored
    raise ConfigError(f"{model}: preprocess={value!r} is not a PreprocessSpec, a dict or 'auto'",
                      hint="e.g. preprocess=PreprocessSpec(resize='letterbox', scale=1 / 255)")
