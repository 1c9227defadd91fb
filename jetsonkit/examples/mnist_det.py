"""A detection data set made from the bundled MNIST: digits scaled and placed on a cluttered colour canvas.

Every image is ``SIZE x SIZE`` RGB (uint8), with 1-6 digits of height 14-44 px (varied scale, some overlap:
a new digit may cover at most 30 % of an earlier one's box), each drawn in a random colour over a random
gradient background with clutter (strokes, blobs and pixel noise) that is not labelled. Everything follows from
the seed: the same ``(split, count, seed)`` always gives the same images and boxes.

Splits: ``train`` draws its digits from MNIST train + val; ``test`` (the held-back part) from the MNIST test split,
so evaluation sees digit shapes the detector never trained on.

Ground truth is COCO format: ``bbox`` is ``[x, y, width, height]`` in pixels (the tight box of the digit's ink),
``category_id`` is ``digit + 1`` (COCO ids start at 1) with the digit as the category name.
:func:`write_coco` writes ``images/*.png`` + ``annotations.json`` to a folder; :func:`generate` gives the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import _io
from ..errors import DataError

SIZE = 96
NUM_CLASSES = 10
MAX_DIGITS = 6
DIGIT_HEIGHT = (14, 44)  # min, max ink height in pixels
MAX_COVER = 0.3  # the most of an earlier digit's box a later one may cover
SPLITS = ("train", "test")
CATEGORIES = [{"id": d + 1, "name": str(d), "supercategory": "digit"} for d in range(NUM_CLASSES)]


@dataclass
class DetectionSet:
    """Images ``[N, SIZE, SIZE, 3]`` uint8 and, per image, boxes ``[k, 4]`` (x1, y1, x2, y2 pixels) + labels ``[k]``."""

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    def nchw(self) -> np.ndarray:
        """The images as float32 NCHW in [0, 1] (the detector's input)."""
        return np.ascontiguousarray(self.images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)

    def coco(self, file_names: list[str] | None = None) -> dict:
        """COCO ground truth (image ids 1..N, annotation ids 1..)."""
        return coco_ground_truth(self.boxes, self.labels, [self.images.shape[2]] * len(self),
                                 [self.images.shape[1]] * len(self), file_names)


def coco_ground_truth(boxes: list[np.ndarray], labels: list[np.ndarray], widths: list[int], heights: list[int],
                      file_names: list[str] | None = None) -> dict:
    """A COCO ground-truth dict from per-image xyxy boxes and class indices (category_id = class + 1)."""
    images, annotations = [], []
    for i, (b, c) in enumerate(zip(boxes, labels)):
        name = file_names[i] if file_names else f"{i:06d}.png"
        images.append({"id": i + 1, "file_name": name, "width": int(widths[i]), "height": int(heights[i])})
        for (x1, y1, x2, y2), cls in zip(np.asarray(b, np.float64).reshape(-1, 4), np.asarray(c).reshape(-1)):
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(cls) + 1,
                                "bbox": [round(float(x1), 2), round(float(y1), 2), round(float(w), 2),
                                         round(float(h), 2)], "area": round(float(w * h), 2), "iscrowd": 0})
    return {"images": images, "annotations": annotations, "categories": CATEGORIES}


def _digit_source(split: str) -> tuple[np.ndarray, np.ndarray]:
    from . import mnist

    if split == "train":
        parts = [mnist.load_split(s, normalize=False) for s in ("train", "val")]
        return np.concatenate([p[0] for p in parts])[:, 0], np.concatenate([p[1] for p in parts])
    x, y = mnist.load_split("test", normalize=False)
    return x[:, 0], y


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a 2-D float image (pixel centres aligned, as in OpenCV's INTER_LINEAR)."""
    ys = np.clip((np.arange(h) + 0.5) * img.shape[0] / h - 0.5, 0, img.shape[0] - 1)
    xs = np.clip((np.arange(w) + 0.5) * img.shape[1] / w - 0.5, 0, img.shape[1] - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, img.shape[0] - 1), np.minimum(x0 + 1, img.shape[1] - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def _crop_ink(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 0.2)
    return digit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random two-colour gradient with strokes, blobs and noise (float RGB in [0, 1])."""
    a, b = rng.uniform(0, 0.6, 3), rng.uniform(0, 0.6, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = np.clip(0.5 + (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)), 0, 1)[..., None]
    canvas = a * (1 - t) + b * t
    for _ in range(rng.integers(2, 7)):  # strokes
        x0, y0, x1, y1 = rng.uniform(0, size, 4)
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        px = np.clip(np.linspace(x0, x1, n).astype(int), 0, size - 1)
        py = np.clip(np.linspace(y0, y1, n).astype(int), 0, size - 1)
        canvas[py, px] = rng.uniform(0, 1, 3)
    for _ in range(rng.integers(1, 4)):  # soft blobs
        cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(3, 10)
        alpha = np.exp(-((xx * size - cx) ** 2 + (yy * size - cy) ** 2) / (2 * r * r))[..., None] * 0.6
        canvas = canvas * (1 - alpha) + rng.uniform(0, 1, 3) * alpha
    canvas += rng.normal(0, 0.04, canvas.shape)
    return canvas


def _cover(box: np.ndarray, other: np.ndarray) -> float:
    """The share of ``other``'s area that ``box`` covers (xyxy)."""
    w = min(box[2], other[2]) - max(box[0], other[0])
    h = min(box[3], other[3]) - max(box[1], other[1])
    area = (other[2] - other[0]) * (other[3] - other[1])
    return max(w, 0) * max(h, 0) / area if area > 0 else 0.0


def _place(rng: np.random.Generator, h: int, w: int, size: int, boxes: list[np.ndarray]) -> np.ndarray | None:
    for _ in range(20):
        x, y = rng.integers(0, size - w + 1), rng.integers(0, size - h + 1)
        box = np.array([x, y, x + w, y + h], np.float32)
        if all(_cover(box, b) <= MAX_COVER and _cover(b, box) <= MAX_COVER for b in boxes):
            return box
    return None


def _render(rng: np.random.Generator, digits: np.ndarray, classes: np.ndarray, size: int):
    canvas = _background(rng, size)
    boxes, labels = [], []
    for _ in range(rng.integers(1, MAX_DIGITS + 1)):
        k = rng.integers(len(digits))
        ink = _crop_ink(digits[k])
        h = int(rng.integers(DIGIT_HEIGHT[0], min(DIGIT_HEIGHT[1], size) + 1))
        w = max(2, int(round(ink.shape[1] * h / ink.shape[0] * rng.uniform(0.85, 1.15))))
        w = min(w, size)
        box = _place(rng, h, w, size, boxes)
        if box is None:
            continue
        x, y = int(box[0]), int(box[1])
        alpha = np.clip(_resize(ink, h, w), 0, 1)[..., None]
        colour = rng.uniform(0.55, 1.0, 3) if rng.random() < 0.7 else rng.uniform(0, 1, 3)
        region = canvas[y:y + h, x:x + w]
        canvas[y:y + h, x:x + w] = region * (1 - alpha) + colour * alpha
        boxes.append(box)
        labels.append(int(classes[k]))
    image = np.clip(canvas * 255 + 0.5, 0, 255).astype(np.uint8)
    return image, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def generate(split: str = "test", count: int = 500, seed: int = 0, size: int = SIZE) -> DetectionSet:
    """``count`` images of ``split`` (train | test), deterministic from ``seed``."""
    if split not in SPLITS:
        raise DataError(f"unknown mnist_det split {split!r}", hint=f"choose one of {', '.join(SPLITS)}")
    if count < 1 or size < 48:
        raise DataError(f"mnist_det needs count >= 1 and size >= 48 (got count={count}, size={size})",
                        hint="e.g. generate('test', 500)")
    digits, classes = _digit_source(split)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    images, boxes, labels = [], [], []
    for _ in range(count):
        img, b, c = _render(rng, digits, classes, size)
        images.append(img)
        boxes.append(b)
        labels.append(c)
    return DetectionSet(np.stack(images), boxes, labels)


@lru_cache(maxsize=4)
def generated(split: str = "test", count: int = 500, seed: int = 0) -> DetectionSet:
    """:func:`generate`, kept for the process (a pipeline run reads the same frames for several stages); the arrays
    are read-only, so no caller can change another's copy."""
    data = generate(split, count, seed)
    data.images.setflags(write=False)
    return data


def write_coco(data: DetectionSet, folder: str | Path) -> Path:
    """Write ``images/NNNNNN.png`` and ``annotations.json`` (COCO) under ``folder``; returns the json's path."""
    from .._deps import require

    image_mod = require("PIL.Image", purpose="writing the detection images as PNG")
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = [f"{i:06d}.png" for i in range(len(data))]
    for name, img in zip(names, data.images):
        with _io.atomic_path(folder / "images" / name) as tmp:
            image_mod.fromarray(img).save(tmp, format="PNG")
    gt = data.coco([f"images/{n}" for n in names])
    out = folder / "annotations.json"
    _io.write_json_atomic(out, gt)
    return out
