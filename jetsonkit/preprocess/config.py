"""``PreprocessSpec``: how a picture becomes the network's input tensor, as one small value object.

The same object drives calibration (image folders in :mod:`jetsonkit.data`), evaluation and the runtime's frame
path, and is stored with every artifact (ONNX ``metadata_props``, TFLite metadata, engine sidecar; see
:mod:`.metadata`), so the pixels a model is calibrated on are the pixels the camera path feeds it::

    spec = PreprocessSpec(size=(640, 640), resize="letterbox", pad=114, color="rgb", scale=1 / 255)
    x = spec.apply(frame, "bgr")        # HxWx3 uint8 BGR camera frame -> (1, 3, 640, 640) float32
    geo = spec.geometry(frame_w, frame_h)  # map boxes in network pixels back to frame pixels

Fields (all validated; unknown keys in :meth:`PreprocessSpec.from_dict` are refused by name):

* ``size``: the network input (height, width); None = "the model's input size" (fill it with :meth:`with_size`).
* ``resize``: ``stretch`` (to the size, aspect ratio not kept) | ``letterbox`` (aspect kept, centred, the border
  filled with ``pad``, a uint8 value: YOLO uses 114) | ``center_crop`` (the centred window of the output's aspect
  ratio, ``crop`` of the largest one, resized: ``crop=0.875`` is the ImageNet "resize 256, crop 224" rule).
* ``color``: the channel order the network takes: ``rgb`` | ``bgr`` | ``gray`` (one channel, luma by Pillow's
  integer ITU-R 601 rule, so a grey model sees what ``Image.convert("L")`` gives).
* normalisation ``(x * scale - mean[c]) / std[c]`` in float32 (``mean`` / ``std``: one number or one per
  channel, in the network's channel order); ``dtype`` float32 | float16 | uint8 (uint8: the resized pixels as they
  are, for int8-I/O models; scale / mean / std must then keep their defaults).
* ``layout``: ``NCHW`` | ``NHWC`` of the output.

The arithmetic is the numpy reference of the camera path (:func:`.reference.to_tensor`: fixed-point bilinear
resize with half-pixel centres, the letterbox rule, float32 normalisation in one order), the one CPU definition;
:meth:`PreprocessSpec.apply` runs it through :mod:`.fast` (the native C path, byte-identical, where it applies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Union

import numpy as np

from ..errors import ConfigError
from .spec import NormSpec, letterbox_box, norm_spec

__all__ = ["PreprocessSpec", "Geometry", "RESIZE_MODES", "COLORS", "LAYOUTS", "OUTPUT_DTYPES"]

RESIZE_MODES = ("stretch", "letterbox", "center_crop")
COLORS = ("rgb", "bgr", "gray")
LAYOUTS = ("NCHW", "NHWC")
OUTPUT_DTYPES = ("float32", "float16", "uint8")


Where = Union[str, Callable[[str], str]]  # a prefix, or key -> "file:line: key 'preprocess.<key>'"


def _fail(where: Where, key: str, message: str, hint: str | None = None) -> ConfigError:
    place = where(key) if callable(where) else f"{where} key {key!r}"
    return ConfigError(f"{place}: {message}", hint=hint)


def _choice(where: Where, key: str, value: Any, allowed: tuple) -> str:
    text = value.upper() if key == "layout" and isinstance(value, str) else value
    text = text.lower() if key != "layout" and isinstance(text, str) else text
    if text not in allowed:
        raise _fail(where, key, f"{value!r} is not one of {', '.join(allowed)}")
    return text


def _number(where: Where, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(where, key, f"expected a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise _fail(where, key, f"{value!r} is not a finite number")
    return float(value)


def _numbers(where: Where, key: str, value: Any) -> tuple[float, ...]:
    items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value]
    vals = tuple(_number(where, key, v) for v in items)
    if len(vals) not in (1, 3):
        raise _fail(where, key, f"has {len(vals)} values; give one number or one per channel (3)",
                    hint=f"e.g. {key}: [0.485, 0.456, 0.406]" if key == "mean" else None)
    return vals


def _size(where: Where, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.lower().split("x")]
        except ValueError:
            raise _fail(where, "size", f"{value!r} is not HxW", hint="e.g. 224x224 or [224, 224]") from None
    items = [value, value] if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if (not isinstance(items, (list, tuple)) or len(items) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 < v <= 16384
                       for v in items)):
        raise _fail(where, "size", f"{value!r} is not a (height, width) pair of ints in 1..16384",
                    hint="e.g. size: [224, 224]")
    return int(items[0]), int(items[1])


@dataclass(frozen=True)
class Geometry:
    """Where a frame's pixels land in the network input: the source window ``src`` (x, y, w, h) of the frame
    is resized into the box ``dst`` (x, y, w, h) of the output. Maps network pixels back to frame pixels."""

    src: tuple[int, int, int, int]
    dst: tuple[int, int, int, int]

    def to_frame(self, px: float, py: float) -> tuple[float, float]:
        sx, sy, sw, sh = self.src
        dx, dy, dw, dh = self.dst
        return sx + (px - dx) * sw / dw, sy + (py - dy) * sh / dh

    def boxes_to_frame(self, boxes: np.ndarray) -> np.ndarray:
        """``[N, 4]`` boxes x1, y1, x2, y2 in network pixels -> frame pixels (clipped to the source window)."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        sx, sy, sw, sh = self.src
        dx, dy, dw, dh = self.dst
        out = np.empty_like(b)
        out[:, 0::2] = np.clip(sx + (b[:, 0::2] - dx) * sw / dw, sx, sx + sw)
        out[:, 1::2] = np.clip(sy + (b[:, 1::2] - dy) * sh / dh, sy, sy + sh)
        return out


@dataclass(frozen=True)
class PreprocessSpec:
    """How an image becomes the network input (see the module docstring). Construct it directly (validated) or
    with :meth:`from_dict`; :meth:`to_dict` gives the plain JSON-able form stored in artifact metadata."""

    size: tuple[int, int] | None = None
    resize: str = "stretch"
    pad: int = 114
    crop: float = 1.0
    color: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    dtype: str = "float32"
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        self._check("preprocess")

    def _check(self, where: Where) -> None:
        set_ = object.__setattr__
        set_(self, "size", _size(where, self.size))
        set_(self, "resize", _choice(where, "resize", self.resize, RESIZE_MODES))
        set_(self, "color", _choice(where, "color", self.color, COLORS))
        set_(self, "dtype", _choice(where, "dtype", self.dtype, OUTPUT_DTYPES))
        set_(self, "layout", _choice(where, "layout", self.layout, LAYOUTS))
        if isinstance(self.pad, bool) or not isinstance(self.pad, (int, np.integer)) or not 0 <= self.pad <= 255:
            raise _fail(where, "pad", f"{self.pad!r} is not a uint8 value", hint="use an int in 0..255 (YOLO: 114)")
        set_(self, "pad", int(self.pad))
        crop = _number(where, "crop", self.crop)
        if not 0 < crop <= 1:
            raise _fail(where, "crop", f"{crop!r} is not in (0, 1]", hint="ImageNet's resize 256 / crop 224 is 0.875")
        set_(self, "crop", crop)
        set_(self, "scale", _number(where, "scale", self.scale))
        set_(self, "mean", _numbers(where, "mean", self.mean))
        std = _numbers(where, "std", self.std)
        if any(s == 0 for s in std):
            raise _fail(where, "std", f"{list(std)} has a zero: dividing by it gives inf",
                        hint="use the data's standard deviation per channel, e.g. [0.229, 0.224, 0.225]")
        set_(self, "std", std)
        if self.color == "gray" and (len(set(self.mean)) > 1 or len(set(self.std)) > 1):
            raise _fail(where, "mean" if len(set(self.mean)) > 1 else "std",
                        "a gray (one-channel) input takes one number", hint="give one mean and one std")
        if self.dtype == "uint8" and (self.scale != 1.0 / 255.0 or set(self.mean) != {0.0} or set(self.std) != {1.0}):
            raise _fail(where, "dtype", "uint8 output is the resized pixels as they are; scale / mean / std do not apply",
                        hint="drop scale, mean and std, or choose float32")

    # ---- plain-dict form -------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-able dict of every field (the form stored in ONNX / TFLite metadata and the engine sidecar)."""
        return {"size": list(self.size) if self.size else None, "resize": self.resize, "pad": self.pad,
                "crop": self.crop, "color": self.color, "scale": self.scale, "mean": list(self.mean),
                "std": list(self.std), "dtype": self.dtype, "layout": self.layout}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Where = "preprocess") -> "PreprocessSpec":
        """Validated spec from a mapping; an unknown key or a bad value is a ConfigError naming ``where`` and the key
        (``where``: a prefix, or a function of the key giving the whole location, e.g. a recipe's file:line)."""
        if not isinstance(data, Mapping):
            place = where("") if callable(where) else where
            raise ConfigError(f"{place}: expected a mapping of pre-processing keys, got {data!r}",
                              hint=f"keys: {', '.join(f.name for f in fields(cls))}")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                import difflib

                near = difflib.get_close_matches(str(key), known, n=1)
                raise _fail(where, str(key), "unknown key",
                            hint=f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(known)}")
        spec = object.__new__(cls)
        for f in fields(cls):
            object.__setattr__(spec, f.name, data.get(f.name, f.default))
        spec._check(where)
        return spec

    # ---- use -------------------------------------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def with_size(self, height: int, width: int) -> "PreprocessSpec":
        return replace(self, size=(int(height), int(width)))

    def output_shape(self) -> tuple[int, int, int, int]:
        """(1, C, H, W) or (1, H, W, C); needs ``size``."""
        h, w = self.need_size()
        return (1, self.channels, h, w) if self.layout == "NCHW" else (1, h, w, self.channels)

    def need_size(self) -> tuple[int, int]:
        if self.size is None:
            raise ConfigError("pre-processing spec has no size",
                              hint="give size: [H, W], or let jetsonkit read it off the model input")
        return self.size

    def geometry(self, frame_w: int, frame_h: int) -> Geometry:
        """Where a ``frame_w`` x ``frame_h`` frame lands in the output (see :class:`Geometry`)."""
        out_h, out_w = self.need_size()
        if self.resize == "letterbox":
            box = letterbox_box(frame_w, frame_h, out_w, out_h)
            return Geometry((0, 0, frame_w, frame_h), (box.x, box.y, box.w, box.h))
        if self.resize == "center_crop":
            return Geometry(_crop_window(frame_w, frame_h, out_w, out_h, self.crop), (0, 0, out_w, out_h))
        return Geometry((0, 0, frame_w, frame_h), (0, 0, out_w, out_h))

    def norm(self) -> NormSpec:
        """The float32 normalisation constants (one mean / std per channel, 1 / std precomputed)."""
        def three(v):
            return v * 3 if len(v) == 1 else v

        return norm_spec(self.scale, three(self.mean), three(self.std))

    def apply(self, image: np.ndarray, fmt: str = "rgb", matrix: str = "bt601") -> np.ndarray:
        """One frame -> the network input, batch axis included. ``image``: (H, W, 3) uint8 in ``fmt`` order
        (rgb | bgr), or an nv12 / yuyv frame (see :func:`.spec.check_frame`; ``matrix`` its YUV matrix). Runs
        :func:`.fast.to_tensor`: the native C path where it applies, else the numpy reference; the same bytes."""
        from .fast import to_tensor

        return to_tensor(self, image, fmt, matrix)


def _crop_window(frame_w: int, frame_h: int, out_w: int, out_h: int, crop: float) -> tuple[int, int, int, int]:
    """The centred window with the output's aspect ratio, ``crop`` times the largest such window (rounded)."""
    if frame_w * out_h >= frame_h * out_w:  # the frame is wider than the output: full height
        win_w, win_h = frame_h * out_w / out_h, float(frame_h)
    else:
        win_w, win_h = float(frame_w), frame_w * out_h / out_w
    w = min(frame_w, max(1, round(win_w * crop)))
    h = min(frame_h, max(1, round(win_h * crop)))
    return (frame_w - w) // 2, (frame_h - h) // 2, w, h
