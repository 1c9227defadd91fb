"""COCO and YOLO folders: boxes in pixels, contiguous class indices, COCO ground truth, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.data import DataSpec, InputInfo
from jetsonkit.errors import DataError

from .conftest import write_png

INPUTS = [InputInfo("x", (None, 3, 16, 16), np.dtype(np.float32))]


def _images(root, sizes):
    rng = np.random.default_rng(0)
    for name, (h, w) in sizes.items():
        write_png(root / "images" / name, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_coco_folder(tmp_path):
    _images(tmp_path, {"a.png": (20, 40), "sub/b.png": (30, 10)})
    doc = {"images": [{"id": 7, "file_name": "a.png", "width": 40, "height": 20},
                      {"id": 3, "file_name": "sub/b.png", "width": 10, "height": 30}],
           "categories": [{"id": 90, "name": "truck"}, {"id": 1, "name": "person"}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 90, "bbox": [2, 4, 10, 6]},
                           {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 40, 20], "iscrowd": 1}]}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    spec = DataSpec.parse(tmp_path)
    assert spec.kind == "coco"
    ds = spec.detections()
    assert ds.class_names == ["person", "truck"] and ds.category_ids == [1, 90]
    b, a = ds.samples  # sorted by image id
    assert b.image_id == 3 and b.boxes.shape == (0, 4) and b.classes.shape == (0,)
    assert a.boxes.tolist() == [[2, 4, 12, 10], [0, 0, 40, 20]] and a.classes.tolist() == [1, 0]
    assert a.crowd.tolist() == [False, True]
    gt = ds.to_coco()
    assert [x["bbox"] for x in gt["annotations"]] == [[2, 4, 10, 6], [0, 0, 40, 20]]
    assert [x["category_id"] for x in gt["annotations"]] == [90, 1] and gt["annotations"][1]["iscrowd"] == 1
    assert {i["file_name"] for i in gt["images"]} == {"a.png", "sub/b.png"}
    (batch,) = list(spec.batches(INPUTS, batch_size=8))  # its images calibrate like any image folder
    assert batch["x"].shape == (2, 3, 16, 16)


def test_coco_images_beside_the_annotations(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    doc = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 3, "name": "c"}],
           "annotations": [{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4]}]}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    spec = DataSpec.parse(tmp_path)
    (sample,) = spec.detections().samples
    assert sample.image == tmp_path / "a.png" and (sample.width, sample.height) == (8, 8)
    assert sample.boxes.tolist() == [[1, 2, 4, 6]]
    assert [len(b["x"]) for b in spec.batches(INPUTS)] == [1]


def test_coco_errors_name_the_file(tmp_path):
    _images(tmp_path, {"a.png": (8, 8)})
    doc = {"images": [{"id": 1, "file_name": "gone.png"}], "categories": [], "annotations": []}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"images/gone.png: listed in annotations.json but not found"):
        DataSpec.parse(tmp_path).detections()
    doc = {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1}],
           "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"annotations\[0\].bbox is \[0, 0, 1\], not \[x, y, w, h\]"):
        DataSpec.parse(tmp_path).detections()


def test_yolo_folder(tmp_path):
    _images(tmp_path, {"a.jpg.png": (20, 40), "b.PNG": (10, 10)})
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.jpg.txt").write_text("2 0.5 0.5 0.5 0.5\n\n0 0.25 0.25 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\nbird\n")
    spec = DataSpec.parse(tmp_path)
    assert spec.kind == "yolo"
    ds = spec.detections()
    a, b = ds.samples  # b.PNG has no label file: a background image
    assert a.image.name == "a.jpg.png" and (a.width, a.height) == (40, 20)
    assert a.boxes.tolist() == [[10, 5, 30, 15], [0, 0, 20, 10]] and a.classes.tolist() == [2, 0]
    assert b.boxes.shape == (0, 4) and ds.class_names == ["cat", "dog", "bird"]
    assert ds.to_coco()["annotations"][0]["bbox"] == [10, 5, 20, 10]


@pytest.mark.parametrize("line,needle", [("1 0.5 0.5 0.2", "is not 'class cx cy w h'"),
                                         ("1 0.5 0.5 1.2 0.2", "outside [0, 1]"),
                                         ("one 0.5 0.5 0.2 0.2", "is not 'class cx cy w h'")])
def test_yolo_bad_line_names_file_and_line(tmp_path, line, needle):
    _images(tmp_path, {"a.png": (8, 8)})
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n" + line + "\n")
    with pytest.raises(DataError) as err:
        DataSpec.parse(tmp_path).detections()
    assert f"a.txt:2: {line!r}" in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)


def test_detections_of_other_data_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    with pytest.raises(DataError, match="is not a detection folder"):
        DataSpec.parse(tmp_path / "x.npy").detections()
