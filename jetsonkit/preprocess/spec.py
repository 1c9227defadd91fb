"""What a pre-processing step is asked to do, and the checks a frame passes before any kernel runs.

Shared by the numpy reference (:mod:`.reference`) and the CUDA path (:mod:`.cuda`), so both see the same
geometry, colour matrix and normalisation constants. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError

FORMATS = ("rgb", "bgr", "nv12", "yuyv")
MODES = ("letterbox", "resize")
DTYPES = ("float32", "float16")

# YUV -> RGB in fixed point x256: (y_off, ky, rv, gu, gv, bu) with
#   c = (Y - y_off) * ky;  R = (c + rv*(V-128) + 128) >> 8;  G = (c - gu*(U-128) - gv*(V-128) + 128) >> 8;
#   B = (c + bu*(U-128) + 128) >> 8, each clamped to [0, 255].
# bt601 limited range: Microsoft, "Converting 8-bit YUV to RGB888" (the ITU-R BT.601 studio-swing matrix x256);
# bt709 limited range: the same derivation with Kr = 0.2126, Kb = 0.0722 (R = 1.164 C + 1.793 E, G = 1.164 C -
# 0.213 D - 0.533 E, B = 1.164 C + 2.112 D); bt601_full (JPEG / JFIF): R = Y + 1.402 E, G = Y - 0.344 D -
# 0.714 E, B = Y + 1.772 D.
YUV_MATRICES: dict[str, tuple[int, int, int, int, int, int]] = {
    "bt601": (16, 298, 409, 100, 208, 516),
    "bt709": (16, 298, 459, 55, 136, 541),
    "bt601_full": (0, 256, 359, 88, 183, 454),
}


@dataclass(frozen=True)
class Box:
    """Where the resized frame lands in the output: columns x..x+w-1, rows y..y+h-1."""

    x: int
    y: int
    w: int
    h: int

    def to_frame(self, px: float, py: float, frame_w: int, frame_h: int) -> tuple[float, float]:
        """Map a point in output pixels back to frame pixels (for boxes a detector returns)."""
        return (px - self.x) * frame_w / self.w, (py - self.y) * frame_h / self.h


@dataclass(frozen=True)
class FrameInfo:
    """A validated frame: its pixel size and the byte offsets / pitches a kernel needs."""

    fmt: str
    width: int
    height: int
    pitch: int  # bytes between rows (NV12: of the Y plane)
    uv_offset: int  # NV12: bytes from the frame start to the UV plane
    uv_pitch: int


def letterbox_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> Box:
    """Scale to fit with the aspect ratio kept, centred; the left/top padding takes the smaller half.

    r = min(dst_w / src_w, dst_h / src_h); the resized size is round(src * r) (Python's round: half to even,
    computed in float64), clamped to [1, dst]; x = (dst_w - w) // 2, y = (dst_h - h) // 2.
    """
    r = min(dst_w / src_w, dst_h / src_h)
    w = min(dst_w, max(1, round(src_w * r)))
    h = min(dst_h, max(1, round(src_h * r)))
    return Box((dst_w - w) // 2, (dst_h - h) // 2, w, h)


def output_box(mode: str, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Box:
    if mode == "letterbox":
        return letterbox_box(src_w, src_h, dst_w, dst_h)
    return Box(0, 0, dst_w, dst_h)


def _fail(fmt: str, what: str, fix: str) -> DataError:
    return DataError(f"{fmt} frame {what}", hint=fix)


def _row_pitch(shape: tuple, strides: tuple, fmt: str, pixel_bytes: int) -> int:
    """Bytes between rows; the bytes inside a row must be contiguous (any row pitch is fine)."""
    if strides[-1] != 1 or (len(shape) == 3 and strides[1] != pixel_bytes):
        raise _fail(fmt, f"has strides {strides}: pixels inside a row must be contiguous",
                    "pass np.ascontiguousarray(frame) or a row-pitched view of a contiguous buffer")
    if strides[0] < shape[1] * pixel_bytes:
        raise _fail(fmt, f"row pitch {strides[0]} is smaller than a row ({shape[1] * pixel_bytes} bytes)",
                    "rows must not overlap or run backwards; pass np.ascontiguousarray(frame)")
    return int(strides[0])


_LAYOUTS = {"rgb": "(H, W, 3)", "bgr": "(H, W, 3)", "yuyv": "(H, W, 2)", "nv12": "(H * 3 // 2, W)"}


def check_frame(frame: object, fmt: str) -> FrameInfo:
    """Validate a host frame for ``fmt`` and describe it; raise DataError (one line, with the fix) otherwise.

    Layouts: rgb / bgr ``(H, W, 3)`` uint8; yuyv ``(H, W, 2)`` uint8 with W even; nv12 ``(H * 3 // 2, W)`` uint8
    (Y plane of H rows, then H / 2 rows of interleaved U, V) with H and W even. Rows may be pitched (a view of a
    wider buffer); the pixels inside a row must be contiguous.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unsupported frame format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if not isinstance(frame, np.ndarray):
        raise _fail(fmt, f"is a {type(frame).__name__}, not a numpy array", "pass a numpy uint8 array")
    if frame.dtype != np.uint8:
        raise _fail(fmt, f"has dtype {frame.dtype}, expected uint8",
                    "camera frames are 8-bit; convert with .astype(np.uint8) only if the values are 0..255")
    return check_layout(frame.shape, frame.strides, fmt)


def check_layout(shape: tuple, strides: tuple, fmt: str) -> FrameInfo:
    """Validate a uint8 frame's shape and byte strides for ``fmt`` (host or device memory alike)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unsupported frame format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    want = 2 if fmt == "nv12" else 3
    if len(shape) != want or (want == 3 and shape[2] != (2 if fmt == "yuyv" else 3)):
        raise _fail(fmt, f"has shape {tuple(shape)}, expected {_LAYOUTS[fmt]}", f"reshape the frame to {_LAYOUTS[fmt]}")
    if shape[0] == 0 or shape[1] == 0:
        raise _fail(fmt, f"is empty (shape {tuple(shape)})", "pass a frame with at least one pixel")
    if fmt == "nv12":
        return _check_nv12(shape, strides)
    w, h = int(shape[1]), int(shape[0])
    if fmt == "yuyv" and w % 2:
        raise _fail(fmt, f"width {w} is odd: YUYV stores pixel pairs", "crop the frame to an even width")
    pitch = _row_pitch(shape, strides, fmt, shape[2])
    return FrameInfo(fmt, w, h, pitch, 0, 0)


def _check_nv12(shape: tuple, strides: tuple) -> FrameInfo:
    rows, w = int(shape[0]), int(shape[1])
    if rows % 3:
        raise _fail("nv12", f"has {rows} rows, not a multiple of 3 (H rows of Y + H/2 rows of UV, H even)",
                    "pass the whole NV12 buffer of an even-height frame as a (H * 3 // 2, W) array")
    h = rows * 2 // 3
    if h % 2 or w % 2:
        raise _fail("nv12", f"size {w}x{h} is odd: NV12 needs an even width and height (4:2:0 chroma)",
                    "crop the frame to even dimensions")
    pitch = _row_pitch(shape, strides, "nv12", 1)
    return FrameInfo("nv12", w, h, pitch, h * pitch, pitch)


@dataclass(frozen=True)
class NormSpec:
    """out[c] = (x * scale - mean[c]) * inv_std[c], all float32 (inv_std = float32(1 / std) computed in float64)."""

    scale: np.float32
    mean: tuple[np.float32, np.float32, np.float32]
    inv_std: tuple[np.float32, np.float32, np.float32]


def norm_spec(scale: float, mean, std) -> NormSpec:
    mean = _three("mean", mean)
    std = _three("std", std)
    if any(s == 0 for s in std) or not np.isfinite(scale) or not all(np.isfinite(mean + std)):
        raise ConfigError(f"normalisation scale={scale}, mean={mean}, std={std} has a zero std or a non-finite value",
                          hint="pass finite numbers and a non-zero std per channel")
    inv = tuple(np.float32(1.0 / s) for s in std)
    return NormSpec(np.float32(scale), tuple(np.float32(m) for m in mean), inv)  # type: ignore[arg-type]


def _three(name: str, value) -> tuple[float, float, float]:
    vals = (float(value),) * 3 if np.isscalar(value) else tuple(float(v) for v in value)
    if len(vals) != 3:
        raise ConfigError(f"{name} has {len(vals)} values, expected 3 (one per output channel) or one number",
                          hint=f"for example {name}=(0.485, 0.456, 0.406)")
    return vals  # type: ignore[return-value]
