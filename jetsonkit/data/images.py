"""Image folders: listing (recursive, suffixes case-insensitive, ImageNet-style class folders), decoding with
Pillow to uint8 RGB, and the pre-processing spec a model input implies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError, MissingDependencyError
from ..preprocess.config import PreprocessSpec
from .inputs import InputInfo

__all__ = ["IMAGE_SUFFIXES", "is_image", "list_images", "class_folders", "decode_rgb", "default_spec",
           "preprocess_options", "spec_for_input"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def list_images(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursive, ``.JPEG`` as well as ``.jpg``), sorted by path."""
    return sorted(p for p in folder.rglob("*") if is_image(p))


def class_folders(folder: Path, files: Sequence[Path]) -> tuple[list[str], np.ndarray] | None:
    """(sorted class names, label per file) when every image lies under a first-level sub-folder of ``folder``
    (the ImageNet / torchvision ``ImageFolder`` layout: class index = position of the name in sorted order);
    None for a flat folder."""
    if not files or any(len(p.relative_to(folder).parts) < 2 for p in files):
        return None
    names = sorted({p.relative_to(folder).parts[0] for p in files})
    index = {n: i for i, n in enumerate(names)}
    return names, np.array([index[p.relative_to(folder).parts[0]] for p in files], dtype=np.int64)


def decode_rgb(path: Path, modes: set | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (Pillow; grey and palette images are expanded to RGB); the file's own
    colour mode goes into ``modes`` (so a reader can say once that it converted colour to gray or back)."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingDependencyError("Pillow is not installed (needed to read an image folder)",
                                     hint="pip install pillow") from exc
    try:
        with Image.open(path) as img:
            if modes is not None:
                modes.add(img.mode)
            return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    except OSError as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}", hint="remove or replace the file") from exc


def default_spec(info: InputInfo, **given) -> PreprocessSpec:
    """The pre-processing a 4-D image input implies (layout and colour read off its shape: channels of 1 or 3 last
    means NHWC, one channel means gray), with the ``given`` fields on top."""
    shape = info.shape
    if len(shape) != 4:
        raise DataError(f"images feed a 4-D input; {info.name!r} is {info.describe()}",
                        hint="feed .npy / .npz samples instead")
    nhwc = shape[3] in (1, 3) and shape[1] not in (1, 3)
    channels = shape[3] if nhwc else shape[1]
    if channels not in (1, 3):
        raise DataError(f"input {info.name!r} ({info.describe()}) has {channels} channels; images give 1 or 3",
                        hint="feed .npy / .npz samples instead")
    implied = {"layout": "NHWC" if nhwc else "NCHW", "color": "gray" if channels == 1 else "rgb"}
    return PreprocessSpec(**{**implied, **given})


def preprocess_options(model: str | os.PathLike | None, **options) -> PreprocessSpec | None:
    """The spec that command-line image options (None: not given) ask for, on top of what the model's input
    implies (:func:`default_spec`; an ONNX file with one input); None when no option is given."""
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return None
    if model is not None and str(model).endswith(".onnx") and Path(model).is_file():
        from .inputs import onnx_inputs

        inputs = onnx_inputs(model)
        if len(inputs) == 1 and len(inputs[0].shape) == 4:
            return default_spec(inputs[0], **given)
    return PreprocessSpec(**given)


def spec_for_input(spec: PreprocessSpec | None, info: InputInfo | None, label: str) -> PreprocessSpec:
    """``spec`` completed from the model input: size (H, W), and, when no spec was given, the layout and colour
    (one channel: gray) read off the input's shape."""
    if info is None:
        if spec is None or spec.size is None:
            raise DataError(f"image data {label!r} needs an input size",
                            hint="give the model (its input size is used) or a pre-processing size, e.g. 224x224")
        return spec
    if len(info.shape) != 4:
        raise DataError(f"image data {label!r} feeds a 4-D input; {info.name!r} is {info.describe()}",
                        hint="feed .npy / .npz samples instead")
    shape = info.shape
    spec = spec or default_spec(info)
    hw = shape[1:3] if spec.layout == "NHWC" else shape[2:4]
    if spec.size is None:
        if None in hw:
            raise DataError(f"input {info.name!r} has a dynamic height/width ({info.describe()})",
                            hint="give the image size (--image-size 224x224) or a calibration shape (--shape)")
        spec = spec.with_size(*hw)
    return spec
