"""Detection data sets on disk: a COCO folder and a YOLO folder, read into one form.

* **COCO**: ``root/annotations.json`` (``images``: id, file_name, width, height; ``annotations``: image_id,
  category_id, bbox ``[x, y, w, h]`` in pixels, optional iscrowd; ``categories``: id, name) and the images under
  ``root/images/`` (``file_name`` relative to it), or beside the annotations (relative to ``root``).
* **YOLO**: ``root/images/**`` and ``root/labels/**`` with the same relative path and a ``.txt`` suffix, one
  ``class cx cy w h`` line per box, normalised to [0, 1] by the image size (an image without a label file is
  a background image); class names from ``root/classes.txt`` (one a line) when present, else ``"0"``, ``"1"``, ...

Both give a :class:`DetectionSet`: per image a :class:`DetectionSample` with ``boxes`` ``[K, 4]`` float32
x1, y1, x2, y2 in image pixels and ``classes`` ``[K]`` int64, a contiguous class index (COCO category ids are
sorted and numbered 0..C-1; ``category_ids[i]`` maps back). :meth:`DetectionSet.to_coco` writes the ground truth
in COCO form (for pycocotools / faster-coco-eval). Images are read for calibration and evaluation like any image
folder (:class:`jetsonkit.data.DataSpec` on the same root); a malformed file is a DataError naming file (and line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from .images import is_image, list_images

__all__ = ["DetectionSample", "DetectionSet", "read_coco", "read_yolo", "detection_format"]


@dataclass(frozen=True)
class DetectionSample:
    image: Path
    image_id: int
    width: int
    height: int
    boxes: np.ndarray  # [K, 4] float32 x1, y1, x2, y2 (pixels)
    classes: np.ndarray  # [K] int64 class index
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # [K] COCO iscrowd


@dataclass
class DetectionSet:
    root: Path
    format: str  # "coco" | "yolo"
    samples: list[DetectionSample]
    class_names: list[str]
    category_ids: list[int]

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self):
        return iter(self.samples)

    def images(self) -> list[Path]:
        return [s.image for s in self.samples]

    def to_coco(self) -> dict:
        """The ground truth as a COCO dict (category ids: :attr:`category_ids`)."""
        anns, next_id = [], 1
        for s in self.samples:
            crowd = s.crowd if len(s.crowd) == len(s.boxes) else np.zeros(len(s.boxes), bool)
            for box, cls, c in zip(s.boxes.tolist(), s.classes.tolist(), crowd.tolist()):
                w, h = box[2] - box[0], box[3] - box[1]
                anns.append({"id": next_id, "image_id": s.image_id, "category_id": self.category_ids[cls],
                             "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": int(c)})
                next_id += 1
        return {"images": [{"id": s.image_id, "file_name": s.image.relative_to(self.root / "images").as_posix()
                            if s.image.is_relative_to(self.root / "images") else s.image.name,
                            "width": s.width, "height": s.height} for s in self.samples],
                "annotations": anns,
                "categories": [{"id": i, "name": n} for i, n in zip(self.category_ids, self.class_names)]}


def detection_format(root: Path) -> str | None:
    """"coco", "yolo" or None for a folder, by its layout."""
    if (root / "annotations.json").is_file():
        return "coco"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "yolo"
    return None


def _fail(where: Path | str, message: str, hint: str | None = None) -> DataError:
    return DataError(f"{where}: {message}", hint=hint)


def _number(value, where: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, f"{where} is {value!r}, not a number")
    return float(value)


def read_coco(root: str | Path) -> DetectionSet:
    root = Path(root)
    path = root / "annotations.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise _fail(root, "has no annotations.json", hint="a COCO folder holds images/ and annotations.json") from None
    except (OSError, ValueError) as exc:
        raise _fail(path, f"is not readable JSON ({exc})", hint="write it with json.dump") from exc
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key) if isinstance(doc, dict) else None, list):
            raise _fail(path, f"has no list {key!r}", hint="COCO ground truth needs images, annotations, categories")
    try:
        cats = sorted((int(c["id"]), str(c.get("name", c["id"]))) for c in doc["categories"])
        images = {int(i["id"]): i for i in doc["images"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"a category or image entry lacks its id ({exc!r})") from None
    cat_index = {cid: k for k, (cid, _) in enumerate(cats)}
    per_image: dict[int, list] = {i: [] for i in images}
    for n, a in enumerate(doc["annotations"]):
        where = f"annotations[{n}]"
        if not isinstance(a, dict) or a.get("image_id") not in images or a.get("category_id") not in cat_index:
            raise _fail(path, f"{where} names an unknown image_id or category_id",
                        hint="every annotation points at an entry of images and of categories")
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise _fail(path, f"{where}.bbox is {bbox!r}, not [x, y, w, h]")
        x, y, w, h = (_number(v, f"{where}.bbox", path) for v in bbox)
        if w < 0 or h < 0:
            raise _fail(path, f"{where}.bbox has a negative width or height ({bbox})")
        per_image[a["image_id"]].append((x, y, x + w, y + h, cat_index[a["category_id"]], bool(a.get("iscrowd", 0))))
    samples = []
    for image_id in sorted(images):
        entry = images[image_id]
        name = entry.get("file_name")
        if not isinstance(name, str):
            raise _fail(path, f"image {image_id} has no file_name")
        file = next((p for p in (root / "images" / name, root / name) if is_image(p)), None)
        if file is None:
            raise _fail(root / "images" / name, "listed in annotations.json but not found",
                        hint="put the images under images/ with the file_name of annotations.json")
        rows = per_image[image_id]
        width, height = entry.get("width"), entry.get("height")
        if not isinstance(width, int) or not isinstance(height, int):
            width, height = _image_size(file)
        samples.append(DetectionSample(file, image_id, width, height, _boxes(rows), _classes(rows),
                                       np.array([r[5] for r in rows], bool)))
    return DetectionSet(root, "coco", samples, [n for _, n in cats], [c for c, _ in cats])


def _boxes(rows: list) -> np.ndarray:
    return np.array([r[:4] for r in rows], np.float32).reshape(-1, 4)


def _classes(rows: list) -> np.ndarray:
    return np.array([r[4] for r in rows], np.int64)


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header (Pillow reads no pixels for this)."""
    from .images import decode_rgb

    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except ImportError:
        h, w = decode_rgb(path).shape[:2]  # raises the missing-Pillow error with its install line
        return w, h
    except OSError as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}", hint="remove or replace the file") from exc


def read_yolo(root: str | Path) -> DetectionSet:
    root = Path(root)
    image_dir, label_dir = root / "images", root / "labels"
    if not image_dir.is_dir():
        raise _fail(root, "has no images/ folder", hint="a YOLO folder holds images/ and labels/")
    files = list_images(image_dir)
    if not files:
        raise _fail(image_dir, "holds no images")
    samples, top = [], -1
    for image_id, file in enumerate(files, start=1):
        width, height = _image_size(file)
        label = (label_dir / file.relative_to(image_dir)).with_suffix(".txt")
        rows = _yolo_rows(label, width, height) if label.is_file() else []
        top = max([top, *[r[4] for r in rows]])
        samples.append(DetectionSample(file, image_id, width, height, _boxes(rows), _classes(rows)))
    names_file = root / "classes.txt"
    names = [n.strip() for n in names_file.read_text().splitlines() if n.strip()] if names_file.is_file() else []
    if names and top >= len(names):
        raise _fail(names_file, f"lists {len(names)} classes, the labels use class {top}",
                    hint="one class name a line, in class-index order")
    names = names or [str(i) for i in range(top + 1)]
    return DetectionSet(root, "yolo", samples, names, list(range(len(names))))


def _yolo_rows(path: Path, width: int, height: int) -> list:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 5:
                raise ValueError(f"{len(parts)} fields")
            cls, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:])
        except ValueError as exc:
            raise _fail(f"{path}:{n}", f"{line.strip()!r} is not 'class cx cy w h' ({exc})",
                        hint="one box a line: an integer class and four numbers normalised to [0, 1]") from None
        if cls < 0 or not all(0 <= v <= 1 for v in (cx, cy, w, h)):
            raise _fail(f"{path}:{n}", f"{line.strip()!r} has a negative class or a value outside [0, 1]",
                        hint="YOLO labels are normalised by the image width and height")
        rows.append(((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height, cls))
    return rows
