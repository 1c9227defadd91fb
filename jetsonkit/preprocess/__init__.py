"""Pre-processing: a picture -> the network's input tensor.

* :class:`PreprocessSpec` (``config.py``): what to do (resize mode, colour order, mean / std / scale, dtype,
  layout, size), stored with each artifact (``metadata.py``) and used by calibration, evaluation and the runtime.
* One CPU implementation: :func:`reference.to_tensor` (numpy, the definition), run through :func:`fast.to_tensor`
  (the native C path of ``_frame.c`` where it applies, byte-identical); :meth:`PreprocessSpec.apply` calls it.
* :class:`Preprocess` (``core.py``): the camera-frame step (RGB / BGR / NV12 / YUYV, pitched): a spec plus a
  source format, on the CPU (the implementation above) or the CUDA kernels of ``kernels/preprocess.cu``, writing
  straight into a device buffer.

numpy only at import; the CUDA driver is loaded at first GPU use.
"""

from __future__ import annotations

from .config import COLORS, LAYOUTS, RESIZE_MODES, Geometry, PreprocessSpec
from .core import Preprocess
from .spec import FORMATS, YUV_MATRICES, Box, FrameInfo, check_frame, letterbox_box

__all__ = ["Preprocess", "PreprocessSpec", "Geometry", "RESIZE_MODES", "COLORS", "LAYOUTS", "Box", "FrameInfo",
           "FORMATS", "YUV_MATRICES", "check_frame", "letterbox_box"]
