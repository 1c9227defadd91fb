"""The numpy reference: the one CPU definition of the frame step (:func:`to_tensor`), which the native C path
(``_frame.c``) and the CUDA kernels in ``kernels/preprocess.cu`` must match bit for bit.

Rounding, stated once (the kernels follow it operation by operation):

* **Colour** (NV12 / YUYV -> RGB): integer fixed point x256 with the matrix of :data:`.spec.YUV_MATRICES`
  (BT.601 limited range by default), ``(... + 128) >> 8`` (arithmetic shift, i.e. floor), clamped to [0, 255].
  Chroma is shared by each 2x2 (NV12) / 2x1 (YUYV) block, not interpolated.
* **Resize**: bilinear, half-pixel centres (OpenCV INTER_LINEAR's convention), edge pixels replicated. The source
  position of output index d inside a box of size B over a source of size S is
  ``pos = floor(((2d + 1) * S - B) * 2048 / (2 * B))`` in exact integers (negative -> 0), i.e. the 1/2048 grid
  below ``(d + 0.5) * S / B - 0.5``; index ``pos >> 11``, weight ``pos & 2047``; at or past the last pixel the
  index is S - 1 with weight 0. Taps combine in integers, x first then y, and round once:
  ``((top * (2048 - wy) + bottom * wy) + 2^21) >> 22`` -> uint8. Colour conversion happens before resizing.
* **Letterbox**: :func:`.spec.letterbox_box` places the resized frame; the rest is filled with ``pad`` (uint8,
  114 by default as in YOLO), then normalised like any pixel.
* **Normalise**: float32, in this order, each a single rounding: ``t = x * scale; t = t - mean[c];
  t = t * inv_std[c]`` with ``inv_std = float32(1 / std)``; float16 output is numpy's round-to-nearest-even cast.
"""

from __future__ import annotations

import numpy as np

from .spec import YUV_MATRICES, Box, NormSpec, check_frame

_ONE = 2048  # 11-bit fixed-point weights
_SHIFT = 22  # two weight multiplications
_HALF = 1 << (_SHIFT - 1)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, matrix: str = "bt601") -> np.ndarray:
    """Integer YUV -> RGB (uint8, last axis R, G, B) for same-shaped Y, U, V arrays."""
    y_off, ky, rv, gu, gv, bu = YUV_MATRICES[matrix]
    c = (y.astype(np.int32) - y_off) * ky
    d = u.astype(np.int32) - 128
    e = v.astype(np.int32) - 128
    r = (c + rv * e + 128) >> 8
    g = (c - gu * d - gv * e + 128) >> 8
    b = (c + bu * d + 128) >> 8
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def nv12_to_rgb(frame: np.ndarray, matrix: str = "bt601") -> np.ndarray:
    """(H * 3 // 2, W) NV12 -> (H, W, 3) uint8 RGB."""
    info = check_frame(frame, "nv12")
    h = info.height
    y = frame[:h]
    uv = frame[h:].reshape(h // 2, info.width // 2, 2)
    u = np.repeat(np.repeat(uv[..., 0], 2, axis=0), 2, axis=1)
    v = np.repeat(np.repeat(uv[..., 1], 2, axis=0), 2, axis=1)
    return yuv_to_rgb(y, u, v, matrix)


def yuyv_to_rgb(frame: np.ndarray, matrix: str = "bt601") -> np.ndarray:
    """(H, W, 2) YUYV (bytes Y0 U Y1 V per pixel pair) -> (H, W, 3) uint8 RGB."""
    check_frame(frame, "yuyv")
    y = frame[..., 0]
    u = np.repeat(frame[:, 0::2, 1], 2, axis=1)
    v = np.repeat(frame[:, 1::2, 1], 2, axis=1)
    return yuv_to_rgb(y, u, v, matrix)


def to_rgb8(frame: np.ndarray, fmt: str, matrix: str = "bt601") -> np.ndarray:
    """Any supported frame -> (H, W, 3) uint8 in R, G, B order."""
    if fmt == "nv12":
        return nv12_to_rgb(frame, matrix)
    if fmt == "yuyv":
        return yuyv_to_rgb(frame, matrix)
    check_frame(frame, fmt)
    return frame[..., ::-1] if fmt == "bgr" else frame


def axis_taps(box: int, src: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w1) for every output index 0..box-1: the two source indices and the 11-bit weight of i1."""
    d = np.arange(box, dtype=np.int64)
    num = ((2 * d + 1) * src - box) * _ONE
    pos = np.where(num <= 0, 0, num // (2 * box))
    i0 = pos >> 11
    w1 = pos & (_ONE - 1)
    last = i0 >= src - 1
    i0 = np.where(last, src - 1, i0)
    w1 = np.where(last, 0, w1)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, w1


def resize_bilinear_u8(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """(H, W, C) uint8 -> (out_h, out_w, C) uint8 by the fixed-point bilinear rule above."""
    x0, x1, wx = axis_taps(out_w, img.shape[1])
    y0, y1, wy = axis_taps(out_h, img.shape[0])
    rows0, rows1 = np.take(img, y0, axis=0), np.take(img, y1, axis=0)

    def tap(rows, cols):  # gather in uint8, widen after: every sum below stays under 255 * 2^22 + 2^21 < 2^31
        return np.take(rows, cols, axis=1).astype(np.int32)

    wx = wx.astype(np.int32)[None, :, None]
    top = tap(rows0, x0) * (_ONE - wx) + tap(rows0, x1) * wx
    bot = tap(rows1, x0) * (_ONE - wx) + tap(rows1, x1) * wx
    wy = wy.astype(np.int32)[:, None, None]
    return ((top * (_ONE - wy) + bot * wy + _HALF) >> _SHIFT).astype(np.uint8)


def place_in_box(img: np.ndarray, box: Box, dst_w: int, dst_h: int, pad: int) -> np.ndarray:
    """Resize (H, W, C) uint8 into ``box`` of a (dst_h, dst_w, C) canvas filled with ``pad``."""
    canvas = np.full((dst_h, dst_w, img.shape[2]), pad, dtype=np.uint8)
    canvas[box.y:box.y + box.h, box.x:box.x + box.w] = resize_bilinear_u8(img, box.w, box.h)
    return canvas


def normalize_nchw(img: np.ndarray, norm: NormSpec, dtype: str = "float32") -> np.ndarray:
    """(H, W, C) uint8 -> (1, C, H, W) float32 / float16, by the float32 order documented above (C = 3, or 1 for
    a grey input, which takes the first mean / std)."""
    c = img.shape[2]
    x = np.ascontiguousarray(img.transpose(2, 0, 1)).astype(np.float32)
    mean = np.asarray(norm.mean[:c], dtype=np.float32)[:, None, None]
    inv = np.asarray(norm.inv_std[:c], dtype=np.float32)[:, None, None]
    t = x * norm.scale
    t = t - mean
    t = t * inv
    return t[None].astype(np.float16) if dtype == "float16" else t[None]


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 grey by Pillow's ``convert("L")`` rule: ITU-R 601-2 luma in 16-bit fixed
    point, ``(R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16`` (Pillow, src/libImaging/Convert.c, ``L24``)."""
    x = rgb.astype(np.int32)
    return ((x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def to_tensor(spec, frame: np.ndarray, fmt: str = "rgb", matrix: str = "bt601") -> np.ndarray:
    """The whole step on the CPU: ``frame`` (rgb | bgr (H, W, 3) uint8, nv12, yuyv) -> the network input that
    ``spec`` (a :class:`~.config.PreprocessSpec`) describes, (1, C, H, W) or (1, H, W, C). What the native C path
    and the CUDA kernels must equal byte for byte.

    Frame -> uint8 RGB (``matrix`` for YUV), channel order / luma, the source window (center crop) or the
    letterbox box, fixed-point bilinear resize into the canvas, float32 normalisation, layout."""
    out_h, out_w = spec.need_size()
    info = check_frame(frame, fmt)
    rgb = to_rgb8(frame, fmt, matrix)
    if spec.color == "gray":
        pixels = luma(rgb)[..., None]
    else:
        pixels = rgb[..., ::-1] if spec.color == "bgr" else rgb  # per-channel resize: swapping first is exact
    geo = spec.geometry(info.width, info.height)
    sx, sy, sw, sh = geo.src
    canvas = place_in_box(pixels[sy:sy + sh, sx:sx + sw], Box(*geo.dst), out_w, out_h, spec.pad)
    if spec.dtype == "uint8":
        out = np.ascontiguousarray(canvas.transpose(2, 0, 1))[None]
    else:
        out = normalize_nchw(canvas, spec.norm(), spec.dtype)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1)) if spec.layout == "NHWC" else out
