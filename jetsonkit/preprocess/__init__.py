"""GPU pre-processing: camera frame (RGB / BGR / NV12 / YUYV, pitched) -> normalised NCHW float32 / float16.

``Preprocess`` runs the numpy reference on the CPU or the CUDA kernels of ``kernels/preprocess.cu`` on the GPU
(compiled at run time with NVRTC or nvcc, cached per compute capability) and can write straight into a device
buffer on a stream (``run_into``). numpy only at import; the CUDA driver is loaded at first GPU use.
"""

from __future__ import annotations

from .core import Preprocess
from .spec import FORMATS, YUV_MATRICES, Box, FrameInfo, check_frame, letterbox_box

__all__ = ["Preprocess", "Box", "FrameInfo", "FORMATS", "YUV_MATRICES", "check_frame", "letterbox_box"]
