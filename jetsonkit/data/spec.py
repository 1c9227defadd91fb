"""``DataSpec``: what ``--data``, a recipe's ``data:`` key, or a Python argument names, parsed once.

Accepted (:meth:`DataSpec.parse`):

- ``mnist``, ``mnist:<train|val|test>[:<limit>]``: the bundled real MNIST (normalised as the example model expects,
  labelled);
- ``file.npy``: one input, memory-mapped (read batch by batch), no labels;
- ``file.npz``: arrays named after the model inputs, or ``x`` (and labels ``y``), or its one array (never ``y``:
  ``y`` is only ever labels);
- a folder of per-sample ``.npy`` / ``.npz`` files (one sample each, sorted by name; ``y`` in an ``.npz`` labels it);
- a folder of images (recursive; ``.png .jpg .jpeg .bmp .ppm .pgm .webp .tif .tiff``, any case): decoded with Pillow
  to uint8 RGB and turned into the input tensor by the :class:`~jetsonkit.preprocess.PreprocessSpec` (the
  runtime's own CPU path; size, layout and colour read off the model input when not given); class sub-folders
  label the images the ImageNet way (sorted folder names -> 0, 1, ...);
- a COCO folder (``images/`` + ``annotations.json``) or a YOLO folder (``images/`` + ``labels/``): its images as
  above, and the boxes through :meth:`DataSpec.detections` (:mod:`.detection`);
- ``mnist_det``, ``mnist_det:<train|test>[:<count>]``: the generated MNIST detection set
  (:mod:`jetsonkit.examples.mnist_det`, seed 0, default 500 frames), its frames through the pre-processing spec like
  an image folder and its boxes through :meth:`DataSpec.detections`;
- from Python: a numpy array, a dict ``{input name: array}``, an iterable of batches (arrays, dicts, per-input
  tuples) or a callable returning one, or a DataSpec.

Use: :meth:`DataSpec.batches` (model-sized, checked batches for calibration; :mod:`.batching`) and
:meth:`DataSpec.load_xy` (``(x, y or None)`` for evaluation and training). Every bad case is a one-line
DataError (``--max-samples 0`` a UsageError) that names the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import DataError
from ..preprocess.config import PreprocessSpec
from .batching import DataStream, check_max_samples, stream_batches
from .images import IMAGE_SUFFIXES, class_folders, list_images
from .inputs import InputInfo
from .sources import ArraySource, ImageSource, IterableSource, SampleFolderSource, Source, npz_arrays

__all__ = ["DataSpec", "KINDS", "MNIST_SPLITS"]

KINDS = ("mnist", "mnist_det", "npy", "npz", "samples", "images", "coco", "yolo", "array", "arrays", "iterable")
MNIST_SPLITS = ("train", "val", "test")
MNIST_DET_SPLITS = ("train", "test")
MNIST_DET_COUNT = 500  # frames of mnist_det:<split> without a count
DETECTION_KINDS = ("mnist_det", "coco", "yolo")
_FORMS = "mnist:train:1000, a .npy / .npz file, a folder of images or of .npy / .npz samples"


def _parse_mnist(text: str) -> tuple[str, int | None]:
    parts = text.split(":")[1:] or ["test"]
    split = parts[0] or "test"
    if split not in MNIST_SPLITS or len(parts) > 2:
        what = f"unknown MNIST split {split!r}" if split not in MNIST_SPLITS else "too many ':' parts"
        raise DataError(f"{what} in data spec {text!r}", hint=f"use mnist:<{'|'.join(MNIST_SPLITS)}>[:limit]")
    try:
        limit = int(parts[1]) if len(parts) > 1 else None
    except ValueError as exc:
        raise DataError(f"limit {parts[1]!r} in data spec {text!r} is not an integer", hint="e.g. mnist:test:1000") \
            from exc
    if limit is not None and limit < 1:
        raise DataError(f"limit {limit} in data spec {text!r} must be >= 1", hint="e.g. mnist:test:1000")
    return split, limit


def _parse_mnist_det(text: str) -> tuple[str, int]:
    parts = text.split(":")[1:] or ["test"]
    form = f"mnist_det:<{'|'.join(MNIST_DET_SPLITS)}>[:count >= 1]"
    try:
        count = int(parts[1]) if len(parts) > 1 else MNIST_DET_COUNT
    except ValueError:
        raise DataError(f"count {parts[1]!r} in data spec {text!r} is not an integer",
                        hint="e.g. mnist_det:test:500") from None
    if len(parts) > 2 or parts[0] not in MNIST_DET_SPLITS or count < 1:
        raise DataError(f"data spec {text!r} is not {form}", hint="e.g. mnist_det:test:500")
    return parts[0], count


def _folder_kind(path: Path) -> str:
    from .detection import detection_format

    fmt = detection_format(path)
    if fmt:
        return fmt
    samples = False
    for p in path.rglob("*"):  # stops at the first image
        suffix = p.suffix.lower()
        if suffix in IMAGE_SUFFIXES and p.is_file():
            return "images"
        samples = samples or suffix in (".npy", ".npz") and p.is_file()
    if samples:
        return "samples"
    raise DataError(f"data folder {str(path)!r} holds no images ({' '.join(IMAGE_SUFFIXES)}, any case) and no "
                    f".npy / .npz samples", hint="point --data at the folder that holds them")


@dataclass(frozen=True)
class DataSpec:
    """A parsed data source (see the module docstring). ``location``: the resolved path or the MNIST split;
    ``value``: the Python object for the ``array`` / ``arrays`` / ``iterable`` kinds; ``text``: how it was given."""

    kind: str
    text: str
    location: str | None = None
    limit: int | None = None
    value: Any = None
    preprocess: PreprocessSpec | None = None

    @classmethod
    def parse(cls, data: Any, *, preprocess: PreprocessSpec | None = None,
              base: str | os.PathLike | None = None) -> "DataSpec":
        """Parse ``data``; paths are resolved against ``base`` (a recipe's folder) and must exist."""
        if isinstance(data, DataSpec):
            return data if preprocess is None else replace(data, preprocess=preprocess)
        if isinstance(data, str) and (data == "mnist" or data.startswith("mnist:")):
            split, limit = _parse_mnist(data)
            return cls("mnist", data, split, limit, preprocess=preprocess)
        if isinstance(data, str) and (data == "mnist_det" or data.startswith("mnist_det:")):
            split, count = _parse_mnist_det(data)
            return cls("mnist_det", data, split, count, preprocess=preprocess)
        if isinstance(data, (str, os.PathLike)):
            return cls._parse_path(os.fspath(data), preprocess, base)
        if isinstance(data, np.ndarray):
            return cls("array", "array", value=data, preprocess=preprocess)
        if isinstance(data, dict):
            return cls("arrays", "arrays", value={k: np.asarray(v) for k, v in data.items()}, preprocess=preprocess)
        if callable(data) or isinstance(data, Iterable):
            return cls("iterable", "iterable", value=data, preprocess=preprocess)
        raise DataError(f"data of type {type(data).__name__} is not supported",
                        hint=f"pass {_FORMS}, an array, a dict of arrays or an iterable of batches")

    @classmethod
    def _parse_path(cls, text: str, preprocess: PreprocessSpec | None, base) -> "DataSpec":
        if not text:
            raise DataError("the data spec is empty", hint=f"pass {_FORMS}")
        path = Path(text).expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if not path.exists():
            raise DataError(f"data {text!r} does not exist" + (f" (looked for {path})" if str(path) != text else ""),
                            hint=f"pass {_FORMS}")
        if path.is_dir():
            return cls(_folder_kind(path), text, str(path), preprocess=preprocess)
        suffix = path.suffix.lower()
        if suffix not in (".npy", ".npz"):
            raise DataError(f"data {text!r} is not a .npy / .npz file or a folder", hint=f"pass {_FORMS}")
        return cls(suffix[1:], text, str(path), preprocess=preprocess)

    # ---- reading ---------------------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        """The files this data reads (their hashes key cached pipeline stages)."""
        if self.kind in ("npy", "npz"):
            return [Path(self.location)]
        if self.kind in ("images", "samples", "coco", "yolo"):
            return self.source().files
        return []

    def source(self, inputs: Sequence[InputInfo] | None = None) -> Source:
        """The reader (opens files lazily: an .npy is memory-mapped, a folder listed)."""
        kind, where = self.kind, self.location
        if kind == "mnist":
            from ..examples import mnist

            x, y = mnist.load_split(where, limit=self.limit)
            return ArraySource({"": x}, y, self.text)
        if kind == "npy":
            try:
                x = np.load(where, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read data {self.text!r}: {exc}", hint="write it with numpy.save") from exc
            return ArraySource({"": x}, None, self.text, [Path(where)])
        if kind == "npz":
            arrays, labels = npz_arrays(Path(where), inputs)
            return ArraySource(arrays, labels, self.text, [Path(where)])
        if kind == "samples":
            files = sorted(p for p in Path(where).rglob("*") if p.suffix.lower() in (".npy", ".npz") and p.is_file())
            return SampleFolderSource(files, self.text)
        if kind == "mnist_det":
            from .sources import FrameSource

            return FrameSource(list(self._mnist_det().images), self.preprocess, self.text)
        if kind in ("images", "coco", "yolo"):
            root = Path(where) / "images" if kind != "images" and (Path(where) / "images").is_dir() else Path(where)
            files = list_images(root)
            if not files:
                raise DataError(f"image folder {str(root)!r} holds no images ({' '.join(IMAGE_SUFFIXES)}, any case)")
            classes = class_folders(root, files) if kind == "images" else None
            return ImageSource(files, classes[1] if classes else None, classes[0] if classes else None,
                               self.preprocess, self.text)
        if kind == "array":
            return ArraySource({"": self.value}, None, "array")
        if kind == "arrays":
            return ArraySource(dict(self.value), None, "arrays")
        return IterableSource(self.value, "iterable")

    def batches(self, inputs: Sequence[InputInfo], *, batch_size: int | None = None,
                max_samples: int | None = None) -> DataStream:
        """Model-sized batches ``{input name: array}``, each checked against ``inputs`` (see :mod:`.batching`)."""
        return stream_batches(self.source(inputs), inputs, batch_size=batch_size, max_samples=max_samples)

    def load_xy(self, inputs: Sequence[InputInfo] | None = None, *,
                max_samples: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(x, y or None)`` of a one-input source; an ``.npy`` stays memory-mapped. ``inputs`` (optional) gives
        image folders their size / layout and picks ``.npz`` arrays by name."""
        check_max_samples(max_samples)
        src = self.source(inputs)
        if isinstance(src, ArraySource):
            arrays = src.arrays
            if len(arrays) != 1:
                raise DataError(f"data {self.text!r} holds {len(arrays)} input arrays; evaluation takes one",
                                hint="evaluate a one-input model, or save its input as x")
            x, y = next(iter(arrays.values())), src.labels
        else:
            parts, n = [], 0
            for part in src.chunks(256, inputs):  # decode no more than max_samples
                parts.append(part)
                n += len(next(iter(part.values()))) if part else 0
                if max_samples is not None and n >= max_samples:
                    break
            keys = {k for p in parts for k in p}
            if len(keys) > 1:
                raise DataError(f"data {self.text!r} holds arrays {sorted(keys)}; evaluation takes one input")
            x = np.concatenate([p[k] for p in parts for k in p]) if parts else np.zeros((0,), np.float32)
            y = src.labels
        if max_samples is not None:
            x, y = x[:max_samples], (None if y is None else y[:max_samples])
        if len(x) == 0:
            raise DataError(f"data {self.text!r} is empty (0 samples)", hint="give at least one sample")
        return x, y

    def labelled(self) -> bool:
        """Whether the data carries class labels (MNIST, ``y`` in an .npz, class sub-folders)."""
        if self.kind in ("npy", "array", "arrays", "iterable", *DETECTION_KINDS):
            return False
        if self.kind == "mnist":
            return True
        return self.source().labels is not None

    def _mnist_det(self):
        from ..examples import mnist_det

        return mnist_det.generated(self.location, self.limit)

    def frames(self) -> tuple[list[np.ndarray], dict]:
        """(frames as uint8 RGB HWC, COCO ground truth in frame pixels) of a detection data set."""
        if self.kind == "mnist_det":
            data = self._mnist_det()
            return list(data.images), data.coco()
        from .images import decode_rgb

        boxes = self.detections()
        return [decode_rgb(s.image) for s in boxes], boxes.to_coco()

    def detections(self):
        """The boxes of a COCO or YOLO folder (a :class:`~.detection.DetectionSet`)."""
        from .detection import read_coco, read_yolo

        if self.kind == "coco":
            return read_coco(self.location)
        if self.kind == "yolo":
            return read_yolo(self.location)
        raise DataError(f"data {self.text!r} is not a detection folder (it is {self.kind})",
                        hint="a COCO folder holds images/ + annotations.json, a YOLO folder images/ + labels/, or "
                        "use mnist_det:test:500")
