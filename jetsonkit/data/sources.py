"""The readers behind :class:`~.spec.DataSpec`: each yields chunks of samples as ``{input name: array}`` (``""``
for the one anonymous array of a one-input source) and knows its sample count, labels and files."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..errors import DataError
from ..preprocess.config import PreprocessSpec
from .images import decode_rgb, spec_for_input
from .inputs import InputInfo

__all__ = ["Source", "ArraySource", "SampleFolderSource", "ImageSource", "FrameSource", "IterableSource",
           "npz_arrays", "check_labels"]


class Source(abc.ABC):
    """A reader: its ``chunks`` yield the samples; ``total``, ``labels`` and ``files`` describe them."""

    label: str = "data"
    total: int | None = None
    labels: np.ndarray | None = None
    files: list[Path] = []

    @abc.abstractmethod
    def chunks(self, size: int, inputs: Sequence[InputInfo] | None) -> Iterator[dict]:
        """Samples in chunks of at most ``size`` rows, as ``{input name: array}``."""


def check_labels(y: Any, n: int, label: str) -> np.ndarray:
    """Integer class labels, one per sample (``[N, 1]`` accepted), or a DataError saying what is wrong."""
    y = np.asarray(y)
    if y.size == n and y.ndim > 1:
        y = y.reshape(-1)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{label!r}: y has shape {list(y.shape)} but x has {n} samples",
                        hint="store one integer class label per sample in y")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise DataError(f"{label!r}: y is {y.dtype} and not integer class labels (e.g. {y[:3].tolist()})",
                        hint="store class indices in y, e.g. y.astype(numpy.int64); one-hot labels: y.argmax(1)")
    return y.astype(np.int64)


class ArraySource(Source):
    """In-memory or memory-mapped arrays, one row per sample."""

    def __init__(self, arrays: dict, labels: Any, label: str, files: list[Path] | None = None):
        scalars = [k or "the array" for k, v in arrays.items() if np.ndim(v) == 0]
        if scalars:
            raise DataError(f"{label}: {', '.join(map(repr, scalars))} is a single value, not samples",
                            hint="save one row per sample (shape [N, ...])")
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) > 1:
            raise DataError(f"{label}: arrays hold different numbers of samples ({lengths})",
                            hint="every input needs one row per sample")
        self.arrays, self.label, self.files = arrays, label, files or []
        self.total = next(iter(lengths.values()), 0)
        self.labels = None if labels is None else check_labels(labels, self.total, label)

    def chunks(self, size: int, inputs: Sequence[InputInfo] | None) -> Iterator[dict]:
        for start in range(0, self.total, size):
            yield {k: np.asarray(v[start:start + size]) for k, v in self.arrays.items()}


def _npz_error(path: Path, names: list[str], inputs: Sequence[InputInfo] | None) -> DataError:
    wanted = [i.name for i in inputs] if inputs else ["x"]
    what = "holds only 'y' (labels)" if names == ["y"] else f"has arrays {names}"
    return DataError(f"{path}: {what}, no input data named {' / '.join(dict.fromkeys([*wanted, 'x']))}",
                     hint="save it with numpy.savez(path, x=inputs, y=labels) or one array per input name")


def npz_arrays(path: Path, inputs: Sequence[InputInfo] | None) -> tuple[dict, Any]:
    """(input arrays, labels or None) of an ``.npz``: arrays named after the inputs, else ``x``, else its one
    array when that is not ``y``; ``y`` is only ever labels."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - zipfile / numpy raise several types for a file that is not an .npz
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data {str(path)!r} is not a readable .npz file: {why}",
                        hint="save it with numpy.savez(path, x=inputs, y=labels)") from exc
    if not hasattr(loaded, "files"):
        raise DataError(f"data {str(path)!r} holds one array (an .npy), not named arrays",
                        hint="name it .npy, or save it with numpy.savez(path, x=inputs, y=labels)")
    with loaded as f:
        names = list(f.files)
        labels = f["y"] if "y" in names else None
        if inputs and len(inputs) > 1 or inputs and inputs[0].name in names and inputs[0].name not in ("x", "y"):
            if not all(i.name in names for i in inputs):
                raise _npz_error(path, names, inputs)
            return {i.name: f[i.name] for i in inputs}, labels
        if "x" in names:
            return {"": f["x"]}, labels
        if len(names) == 1 and names[0] != "y":
            return {"": f[names[0]]}, None
    raise _npz_error(path, names, inputs)


def _read_sample(path: Path, inputs: Sequence[InputInfo] | None) -> tuple[dict, Any]:
    if path.suffix.lower() == ".npz":
        return npz_arrays(path, inputs)
    try:
        return {"": np.load(path, allow_pickle=False)}, None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read sample {str(path)!r}: {exc}", hint="write it with numpy.save") from exc


class SampleFolderSource(Source):
    """A folder of ``.npy`` / ``.npz`` files, one sample each (without the batch axis; a leading axis of 1 that
    the model input has is accepted too)."""

    def __init__(self, files: list[Path], label: str):
        self.files, self.label, self.total = files, label, len(files)

    @property
    def labels(self) -> np.ndarray | None:  # type: ignore[override]
        """``y`` of every sample (.npz files), or None when any sample has none (read on first use)."""
        if not hasattr(self, "_labels"):
            self._labels = self._read_labels()
        return self._labels

    def _read_labels(self) -> np.ndarray | None:
        ys = []
        for f in self.files:
            _, y = _read_sample(f, None) if f.suffix.lower() == ".npz" else (None, None)
            if y is None:
                return None
            ys.append(np.asarray(y).reshape(-1)[:1])
        return check_labels(np.concatenate(ys), len(ys), self.label)

    def chunks(self, size: int, inputs: Sequence[InputInfo] | None) -> Iterator[dict]:
        ranks = {("" if inputs and len(inputs) == 1 else i.name): len(i.shape) for i in inputs or ()}
        first: dict = {}
        for start in range(0, self.total, size):
            parts: dict[str, list] = {}
            for path in self.files[start:start + size]:
                arrays, _ = _read_sample(path, inputs)
                for k, a in arrays.items():
                    a = np.asarray(a)
                    a = a if ranks.get(k) == a.ndim and a.shape[:1] == (1,) else a[None]
                    shape = first.setdefault(k, a.shape[1:])
                    if a.shape[1:] != shape:
                        raise DataError(f"sample {str(path)!r} has shape {list(a.shape[1:])}, the first sample "
                                        f"{list(shape)}", hint="every sample of a folder has the same shape")
                    parts.setdefault(k, []).append(a)
            yield {k: np.concatenate(v) for k, v in parts.items()}


class ImageSource(Source):
    """Image files decoded with Pillow to uint8 RGB, then the pre-processing spec's CPU path (the runtime's)."""

    def __init__(self, files: list[Path], labels: np.ndarray | None, classes: list[str] | None,
                 spec: PreprocessSpec | None, label: str):
        self.files, self.labels, self.classes, self.spec, self.label = files, labels, classes, spec, label
        self.total = len(files)

    def resolved_spec(self, inputs: Sequence[InputInfo] | None) -> PreprocessSpec:
        if inputs is not None and len(inputs) != 1:
            raise DataError(f"image data {self.label!r} feeds one input; the model has {len(inputs)}",
                            hint="feed an .npz with one array per input")
        return spec_for_input(self.spec, inputs[0] if inputs else None, self.label)

    def chunks(self, size: int, inputs: Sequence[InputInfo] | None) -> Iterator[dict]:
        spec = self.resolved_spec(inputs)
        modes: set = set()
        said = False
        for start in range(0, self.total, size):
            chunk = np.concatenate([spec.apply(self._frame(i, modes), "rgb")
                                    for i in range(start, min(start + size, self.total))])
            gray = spec.color == "gray"
            converted = sorted(m for m in modes if (m != "L" if gray else m in ("L", "LA", "1")))
            if converted and not said:
                from .._progress import warn

                warn(f"images in {self.label!r} are {', '.join(converted)}; converted to "
                     f"{'gray (1 channel)' if gray else spec.color.upper() + ' (3 channels)'} as the input takes them")
                said = True
            yield {"": chunk}

    def _frame(self, index: int, modes: set) -> np.ndarray:
        """Sample ``index`` as uint8 RGB HWC (its Pillow mode added to ``modes``)."""
        return decode_rgb(self.files[index], modes)


class FrameSource(ImageSource):
    """Frames already in memory (uint8 RGB HWC, e.g. a generated detection set) through the same pre-processing."""

    def __init__(self, frames: Sequence[np.ndarray], spec: PreprocessSpec | None, label: str):
        super().__init__([], None, None, spec, label)
        self.frames, self.total = frames, len(frames)

    def _frame(self, index: int, modes: set) -> np.ndarray:
        return self.frames[index]


def _as_batch(item: Any, inputs: Sequence[InputInfo] | None) -> dict:
    if isinstance(item, dict):
        return item
    if inputs and isinstance(item, (tuple, list)) and len(item) == len(inputs) and len(inputs) > 1:
        return {i.name: x for i, x in zip(inputs, item)}
    x = np.asarray(item)
    if inputs and len(inputs) == 1 and x.ndim == len(inputs[0].shape) - 1:
        x = x[None]  # one sample: add the batch axis
    return {"": x}


class IterableSource(Source):
    """Batches from Python: an iterable (or a callable returning one) of arrays, dicts or per-input tuples."""

    def __init__(self, items: Iterable, label: str):
        self.items, self.label = items, label

    def chunks(self, size: int, inputs: Sequence[InputInfo] | None) -> Iterator[dict]:
        for item in (self.items() if callable(self.items) else self.items):
            yield _as_batch(item, inputs)
