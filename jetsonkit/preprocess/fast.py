"""The CPU frame step: :func:`.reference.to_tensor`'s bytes, by the fastest path that gives them.

Order: the native C path (``_native.py``, compiled on first use) for rgb / bgr frames into an rgb / bgr output;
``JETSONKIT_NATIVE=0``, no C compiler, a grey output or a YUV frame run the numpy reference (:mod:`.reference`).
:meth:`PreprocessSpec.apply` (calibration / evaluation images), ``Runtime.infer_frame`` and the CPU side of
:class:`~.core.Preprocess` all come here. OpenCV, where installed, is only the benchmark's peer
(``scripts/bench/preprocess.py``): its resize equals the reference bit for bit but its colour conversions and
border handling are not ours, so it never feeds a model here.
"""

from __future__ import annotations

import numpy as np

from . import _native, reference
from .spec import check_frame

__all__ = ["to_tensor", "backend"]


def backend() -> str:
    """The implementation :func:`to_tensor` uses for rgb / bgr frames, and why."""
    return _native.status()


def to_tensor(spec, frame: np.ndarray, fmt: str = "rgb", matrix: str = "bt601") -> np.ndarray:
    """``frame`` (rgb | bgr (H, W, 3) uint8, nv12, yuyv) -> the network input ``spec`` (a PreprocessSpec)
    describes, byte for byte :func:`.reference.to_tensor`."""
    fn = _native.function() if fmt in ("rgb", "bgr") and spec.color != "gray" else None
    if fn is None:
        return reference.to_tensor(spec, frame, fmt, matrix)
    out_h, out_w = spec.need_size()
    info = check_frame(frame, fmt)
    geo = spec.geometry(info.width, info.height)
    sx, sy, sw, sh = geo.src
    return _native.run(fn, frame[sy:sy + sh, sx:sx + sw], fmt != spec.color, geo.dst, out_w, out_h, spec.pad,
                       spec.norm(), spec.layout, spec.dtype)
