"""The CPU implementation of a :class:`~.config.PreprocessSpec`: one frame -> the network input tensor.

Built on the camera path's numpy reference (:mod:`.reference`), step by step: frame -> uint8 RGB (``to_rgb8``),
channel order / luma, the source window (center crop) or the letterbox box, fixed-point bilinear resize into the
canvas (``place_in_box``), float32 normalisation (``normalize_nchw``), layout. Image-folder calibration decodes
a file to uint8 RGB with Pillow and calls this same function, so calibration and the runtime see the same bytes.
"""

from __future__ import annotations

import numpy as np

from . import reference
from .config import Geometry, PreprocessSpec
from .spec import Box, check_frame, letterbox_box, norm_spec

__all__ = ["to_tensor", "geometry", "luma"]


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 grey by Pillow's ``convert("L")`` rule: ITU-R 601-2 luma in 16-bit fixed
    point, ``(R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16`` (Pillow, src/libImaging/Convert.c, ``L24``)."""
    x = rgb.astype(np.int32)
    return ((x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def _crop_window(frame_w: int, frame_h: int, out_w: int, out_h: int, crop: float) -> tuple[int, int, int, int]:
    """The centred window with the output's aspect ratio, ``crop`` times the largest such window (rounded)."""
    if frame_w * out_h >= frame_h * out_w:  # the frame is wider than the output: full height
        win_w, win_h = frame_h * out_w / out_h, float(frame_h)
    else:
        win_w, win_h = float(frame_w), frame_w * out_h / out_w
    w = min(frame_w, max(1, round(win_w * crop)))
    h = min(frame_h, max(1, round(win_h * crop)))
    return (frame_w - w) // 2, (frame_h - h) // 2, w, h


def geometry(spec: PreprocessSpec, frame_w: int, frame_h: int) -> Geometry:
    out_h, out_w = spec._need_size()
    if spec.resize == "letterbox":
        box = letterbox_box(frame_w, frame_h, out_w, out_h)
        return Geometry((0, 0, frame_w, frame_h), (box.x, box.y, box.w, box.h))
    if spec.resize == "center_crop":
        return Geometry(_crop_window(frame_w, frame_h, out_w, out_h, spec.crop), (0, 0, out_w, out_h))
    return Geometry((0, 0, frame_w, frame_h), (0, 0, out_w, out_h))


def _norm(spec: PreprocessSpec):
    three = (lambda v: v * 3 if len(v) == 1 else v)
    return norm_spec(spec.scale, three(spec.mean), three(spec.std))


def to_tensor(spec: PreprocessSpec, image: np.ndarray, fmt: str = "rgb") -> np.ndarray:
    """``image`` (a frame in ``fmt``: rgb | bgr (H, W, 3) uint8, nv12, yuyv) -> (1, C, H, W) or (1, H, W, C)."""
    out_h, out_w = spec._need_size()
    info = check_frame(image, fmt)
    rgb = reference.to_rgb8(image, fmt)
    if spec.color == "gray":
        pixels = luma(rgb)[..., None]
    else:
        pixels = rgb[..., ::-1] if spec.color == "bgr" else rgb  # per-channel resize: swapping first is exact
    geo = geometry(spec, info.width, info.height)
    sx, sy, sw, sh = geo.src
    window = pixels[sy:sy + sh, sx:sx + sw]
    canvas = reference.place_in_box(window, Box(*geo.dst), out_w, out_h, spec.pad)
    if spec.dtype == "uint8":
        out = np.ascontiguousarray(canvas.transpose(2, 0, 1))[None]
    else:
        out = reference.normalize_nchw(canvas, _norm(spec), spec.dtype)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1)) if spec.layout == "NHWC" else out
