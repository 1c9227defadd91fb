"""The fastest available CPU implementation of :meth:`PreprocessSpec.apply`, with the numpy reference's bytes.

Order: the native C path (``_native.py``, compiled on first use) for rgb / bgr frames into an rgb / bgr output;
``JETSONKIT_NATIVE=0``, no C compiler, a grey output or a YUV frame run the numpy reference (:mod:`.image`).
OpenCV, where installed, is only the benchmark's peer (``scripts/bench/preprocess.py``): its resize equals the
reference bit for bit but its colour conversions and border handling are not ours, so it never feeds a model here.
"""

from __future__ import annotations

import numpy as np

from . import _native, image
from .config import PreprocessSpec
from .spec import check_frame

__all__ = ["to_tensor", "backend"]


def backend() -> str:
    """The implementation :func:`to_tensor` uses for rgb / bgr frames, and why."""
    return _native.status()


def to_tensor(spec: PreprocessSpec, frame: np.ndarray, fmt: str = "rgb") -> np.ndarray:
    """``frame`` (rgb | bgr (H, W, 3) uint8, nv12, yuyv) -> the network input, as :func:`.image.to_tensor`."""
    fn = _native.function() if fmt in ("rgb", "bgr") and spec.color != "gray" else None
    if fn is None:
        return image.to_tensor(spec, frame, fmt)
    out_h, out_w = spec._need_size()
    info = check_frame(frame, fmt)
    geo = image.geometry(spec, info.width, info.height)
    sx, sy, sw, sh = geo.src
    return _native.run(fn, frame[sy:sy + sh, sx:sx + sw], fmt != spec.color, geo.dst, out_w, out_h, spec.pad,
                       image._norm(spec), spec.layout, spec.dtype)
