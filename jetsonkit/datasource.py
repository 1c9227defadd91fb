"""Calibration data: where batches come from, and checks that they fit the model's inputs.

Accepted sources (:func:`open_data`):

- ``"mnist:<split>[:<limit>]"``: the bundled real MNIST (normalised as the example model expects);
- a ``.npy`` file (one input; memory-mapped, so a large file is read batch by batch) or a ``.npz`` file (arrays
  named after the inputs, or one array for a one-input model);
- a folder of images (PNG / JPEG / BMP / PPM / PGM / WebP, read with Pillow): resized to the model's input size,
  scaled to [0, 1], normalised with ``mean`` / ``std``, laid out NCHW or NHWC (see :class:`ImageOptions`);
- a numpy array, a dict ``{input name: array}``, an iterable of batches (arrays or dicts), or a callable that
  returns such an iterable.
Every batch is checked against the model inputs: a wrong rank, size or dtype names the input and both shapes or
dtypes. Float data of another width (float64 for a float32 input) is converted; other dtype kinds are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .errors import DataError, MissingDependencyError

__all__ = ["InputInfo", "ImageOptions", "DataStream", "open_data", "check_batch", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp")


@dataclass(frozen=True)
class InputInfo:
    """A model input: ``shape`` has None for a dynamic axis."""

    name: str
    shape: tuple
    dtype: np.dtype

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{dims} {np.dtype(self.dtype).name}"


@dataclass(frozen=True)
class ImageOptions:
    """How an image folder becomes input tensors: ``size`` (H, W) defaults to the model's static input size."""

    size: tuple[int, int] | None = None
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str | None = None  # "NCHW" or "NHWC"; default: read off the model input (channels of 1 or 3)
    scale: float = 1.0 / 255.0


@dataclass
class DataStream:
    """Batches as ``{input name: array}``; ``total`` is the number of samples when known in advance."""

    batches: Iterable[dict]
    total: int | None
    label: str

    def __iter__(self) -> Iterator[dict]:
        return iter(self.batches)


def _shape_text(shape: Sequence) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


def check_batch(batch: dict, inputs: Sequence[InputInfo], index: int) -> dict:
    """The batch with float widths converted; DataError naming the input, the batch and both shapes / dtypes."""
    out = {}
    for info in inputs:
        if info.name not in batch:
            raise DataError(f"batch {index} has no data for model input {info.name!r} (it has: "
                            f"{', '.join(map(str, batch)) or 'nothing'})", hint="name the arrays after the inputs")
        x = np.asarray(batch[info.name])
        want = np.dtype(info.dtype)
        if x.dtype != want:
            if not (x.dtype.kind == "f" and want.kind == "f"):
                raise DataError(f"input {info.name!r} batch {index}: data dtype {x.dtype.name} does not fit the model "
                                f"input dtype {want.name}", hint=f"convert the data to {want.name}")
            x = x.astype(want)
        if x.ndim != len(info.shape) or any(d is not None and d != s for d, s in zip(info.shape, x.shape)):
            raise DataError(f"input {info.name!r} batch {index}: data shape {_shape_text(x.shape)} does not fit the "
                            f"model input shape {_shape_text(info.shape)}",
                            hint="reshape the data, or give --shape for dynamic axes")
        out[info.name] = x
    return out


def _split(arrays: dict[str, np.ndarray], batch_size: int) -> Iterator[dict]:
    n = len(next(iter(arrays.values())))
    for start in range(0, n, batch_size):
        yield {k: np.asarray(v[start:start + batch_size]) for k, v in arrays.items()}


def _array_stream(arrays: dict[str, np.ndarray], batch_size: int, label: str) -> DataStream:
    lengths = {k: len(v) if np.ndim(v) else 0 for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{label}: arrays hold different numbers of samples ({lengths})",
                        hint="every input needs one row per sample")
    return DataStream(_split(arrays, batch_size), next(iter(lengths.values()), 0), label)


def _mnist(spec: str, batch_size: int) -> DataStream:
    from .evaluate import load_data

    x, _ = load_data(spec)
    return _array_stream({"": x}, batch_size, spec)


def _npz_arrays(path: Path, inputs: Sequence[InputInfo]) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        names = list(f.files)
        if all(i.name in names for i in inputs):
            return {i.name: f[i.name] for i in inputs}
        if len(inputs) == 1 and len(names) == 1:
            return {inputs[0].name: f[names[0]]}
        if len(inputs) == 1 and "x" in names:
            return {inputs[0].name: f["x"]}
    raise DataError(f"{path}: arrays {names} do not match the model inputs "
                    f"{[i.name for i in inputs]}", hint="save one array per input name with numpy.savez")


def _file_stream(path: Path, inputs: Sequence[InputInfo], batch_size: int) -> DataStream:
    if not path.exists():
        raise DataError(f"calibration data {str(path)!r} does not exist",
                        hint="pass a .npy / .npz file, an image folder, or mnist:train:1000")
    if path.is_dir():
        return _image_stream(path, inputs, batch_size, ImageOptions())
    try:
        if path.suffix == ".npy":
            return _array_stream({"": np.load(path, mmap_mode="r", allow_pickle=False)}, batch_size, str(path))
        if path.suffix == ".npz":
            return _array_stream(_npz_arrays(path, inputs), batch_size, str(path))
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read calibration data {str(path)!r}: {exc}", hint="write it with numpy.save") from exc
    raise DataError(f"calibration data {str(path)!r} is not a .npy / .npz file or a folder",
                    hint="pass a .npy / .npz file, an image folder, or mnist:train:1000")


def _image_layout(info: InputInfo, options: ImageOptions) -> tuple[str, int, tuple[int, int] | None]:
    if len(info.shape) != 4:
        raise DataError(f"an image folder needs a 4-D model input; {info.name!r} is {info.describe()}")
    layout = options.layout or ("NHWC" if info.shape[3] in (1, 3) and info.shape[1] not in (1, 3) else "NCHW")
    if layout not in ("NCHW", "NHWC"):
        raise DataError(f"image layout {layout!r} is not NCHW or NHWC")
    c_axis, hw = (1, info.shape[2:4]) if layout == "NCHW" else (3, info.shape[1:3])
    channels = info.shape[c_axis]
    if channels not in (1, 3):
        raise DataError(f"input {info.name!r} ({info.describe()}) has {channels} channels; images give 1 or 3",
                        hint="set the layout, or feed .npy data")
    size = options.size or (tuple(hw) if None not in hw else None)
    if size is None:
        raise DataError(f"input {info.name!r} has dynamic height/width ({info.describe()})",
                        hint="give the calibration shape, e.g. --shape input:1x3x224x224")
    return layout, channels, (int(size[0]), int(size[1]))


def _load_image(path: Path, channels: int, size: tuple[int, int], options: ImageOptions) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError("Pillow is not installed (needed to read an image folder)",
                                     hint="pip install pillow") from exc
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB").resize((size[1], size[0]), Image.BILINEAR)
            x = np.asarray(img, dtype=np.float32).reshape(size[0], size[1], channels)
    except OSError as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}", hint="remove or replace the file") from exc
    mean = np.asarray(options.mean, np.float32)
    std = np.asarray(options.std, np.float32)
    return (x * np.float32(options.scale) - mean) / std


def _image_stream(folder: Path, inputs: Sequence[InputInfo], batch_size: int, options: ImageOptions) -> DataStream:
    if len(inputs) != 1:
        raise DataError(f"an image folder feeds one input; the model has {len(inputs)}",
                        hint="feed an .npz with one array per input")
    info = inputs[0]
    layout, channels, size = _image_layout(info, options)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"image folder {str(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")

    def batches() -> Iterator[dict]:
        for start in range(0, len(files), batch_size):
            hwc = np.stack([_load_image(p, channels, size, options) for p in files[start:start + batch_size]])
            yield {info.name: hwc if layout == "NHWC" else np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))}

    return DataStream(batches(), len(files), str(folder))


def _as_batch(item: Any, inputs: Sequence[InputInfo]) -> dict:
    if isinstance(item, dict):
        return item
    if isinstance(item, (tuple, list)) and len(item) == len(inputs) and len(inputs) > 1:
        return {i.name: x for i, x in zip(inputs, item)}
    x = np.asarray(item)
    if len(inputs) == 1 and x.ndim == len(inputs[0].shape) - 1:
        x = x[None]  # one sample: add the batch axis
    return {inputs[0].name if len(inputs) == 1 else "": x}


def _iterable_stream(items: Iterable, inputs: Sequence[InputInfo]) -> DataStream:
    return DataStream((_as_batch(item, inputs) for item in items), None, "iterable")


def _name_single(stream: DataStream, inputs: Sequence[InputInfo]) -> DataStream:
    """Give the anonymous array of a one-input source the input's name."""
    if len(inputs) != 1:
        return stream
    name = inputs[0].name
    return DataStream(({name if k == "" else k: v for k, v in b.items()} for b in stream.batches), stream.total,
                      stream.label)


def open_data(data: Any, inputs: Sequence[InputInfo], *, batch_size: int = 32,
              image_options: ImageOptions | None = None) -> DataStream:
    """A :class:`DataStream` over ``data`` (see the module docstring for what ``data`` may be)."""
    if batch_size < 1:
        raise DataError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(data, str) and (data == "mnist" or data.startswith("mnist:")):
        stream = _mnist(data, batch_size)
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir() and image_options is not None:
            stream = _image_stream(path, inputs, batch_size, image_options)
        else:
            stream = _file_stream(path, inputs, batch_size)
    elif isinstance(data, np.ndarray):
        stream = _array_stream({"": data}, batch_size, "array")
    elif isinstance(data, dict):
        stream = _array_stream({k: np.asarray(v) for k, v in data.items()}, batch_size, "arrays")
    elif callable(data):
        stream = _iterable_stream(data(), inputs)
    elif isinstance(data, Iterable):
        stream = _iterable_stream(data, inputs)
    else:
        raise DataError(f"calibration data of type {type(data).__name__} is not supported",
                        hint="pass a path, mnist:train:1000, an array, a dict of arrays, or an iterable of batches")
    return _name_single(stream, inputs)
