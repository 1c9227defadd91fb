"""The kernels' parameter block (``struct JkParams`` in ``kernels/preprocess.cu``) as a ctypes structure.

Every field is 4 bytes, so the C and ctypes layouts agree without padding rules; a test compiles the kernel
source on the host and checks ``sizeof(JkParams)`` against :data:`ctypes.sizeof` of this class.
"""

from __future__ import annotations

import ctypes

from .spec import YUV_MATRICES, Box, FrameInfo, NormSpec

_FIELDS = ["src_w", "src_h", "src_pitch", "uv_pitch", "dst_w", "dst_h", "box_x", "box_y", "box_w", "box_h",
           "pad", "swap_rb", "y_off", "ky", "rv", "gu", "gv", "bu"]


class JkParams(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in _FIELDS] + [
        ("scale", ctypes.c_float),
        ("mean", ctypes.c_float * 3),
        ("inv_std", ctypes.c_float * 3),
    ]


# kernel entry point by (frame format, output dtype); rgb and bgr share the packed kernel
NCHW_KERNELS = {
    ("rgb", "float32"): "jk_rgb_nchw_f32",
    ("bgr", "float32"): "jk_rgb_nchw_f32",
    ("nv12", "float32"): "jk_nv12_nchw_f32",
    ("yuyv", "float32"): "jk_yuyv_nchw_f32",
    ("rgb", "float16"): "jk_rgb_nchw_f16",
    ("bgr", "float16"): "jk_rgb_nchw_f16",
    ("nv12", "float16"): "jk_nv12_nchw_f16",
    ("yuyv", "float16"): "jk_yuyv_nchw_f16",
}
RGB8_KERNELS = {"nv12": "jk_nv12_rgb8", "yuyv": "jk_yuyv_rgb8"}
ALL_KERNELS = sorted(set(NCHW_KERNELS.values()) | set(RGB8_KERNELS.values()))


def swap_rb(fmt: str, out_order: str) -> bool:
    """True when channels 0 and 2 must be exchanged: the kernels read rgb/bgr as stored, YUV as R, G, B."""
    source_order = "bgr" if fmt == "bgr" else "rgb"
    return source_order != out_order


def make_params(info: FrameInfo, box: Box, dst_w: int, dst_h: int, *, norm: NormSpec, out_order: str = "rgb",
                pad: int = 114, matrix: str = "bt601") -> JkParams:
    """Fill the parameter block for one launch."""
    p = JkParams()
    p.src_w, p.src_h, p.src_pitch, p.uv_pitch = info.width, info.height, info.pitch, info.uv_pitch
    p.dst_w, p.dst_h = dst_w, dst_h
    p.box_x, p.box_y, p.box_w, p.box_h = box.x, box.y, box.w, box.h
    p.pad = int(pad)
    p.swap_rb = int(swap_rb(info.fmt, out_order))
    p.y_off, p.ky, p.rv, p.gu, p.gv, p.bu = YUV_MATRICES[matrix]
    p.scale = float(norm.scale)
    p.mean[:] = [float(m) for m in norm.mean]
    p.inv_std[:] = [float(s) for s in norm.inv_std]
    return p
