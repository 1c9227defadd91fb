"""Detection evaluation reads COCO and YOLO folders through the one data spec, and feeds one-channel detectors."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.cli import main
from jetsonkit.detect.evaluate import evaluate_detection, input_size, load_detection_data
from jetsonkit.examples import mnist_det


@pytest.fixture(scope="module")
def small_det():
    return mnist_det.generate("test", 24, seed=0)


def _write_yolo(data, folder):
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i, (img, boxes, labels) in enumerate(zip(data.images, data.boxes, data.labels)):
        Image.fromarray(img).save(folder / "images" / f"{i:03d}.png")
        h, w = img.shape[:2]
        rows = [f"{c} {(x1 + x2) / 2 / w:.8f} {(y1 + y2) / 2 / h:.8f} {(x2 - x1) / w:.8f} {(y2 - y1) / h:.8f}"
                for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist())]
        (folder / "labels" / f"{i:03d}.txt").write_text("\n".join(rows) + "\n")
    (folder / "classes.txt").write_text("\n".join(str(d) for d in range(10)) + "\n")
    return folder


def test_coco_and_yolo_folders_score_like_the_generated_set(detector_onnx, small_det, tmp_path):
    generated = evaluate_detection(detector_onnx, load_detection_data("mnist_det:test:24"))
    mnist_det.write_coco(small_det, tmp_path / "coco")
    coco = load_detection_data(str(tmp_path / "coco"))
    yolo = load_detection_data(str(_write_yolo(small_det, tmp_path / "yolo")))
    assert len(coco) == len(yolo) == 24 and np.array_equal(yolo.frames[3], small_det.images[3])
    for data in (coco, yolo):
        res = evaluate_detection(detector_onnx, data)
        assert res["map50"] == pytest.approx(generated["map50"], abs=1e-6)
        assert res["map"] == pytest.approx(generated["map"], abs=1e-3)  # YOLO labels: 8 decimals of the box
    assert main(["evaluate", str(detector_onnx), "--task", "detect", "--data", str(tmp_path / "yolo")]) == 0


def test_image_folder_without_boxes_is_refused(detector_onnx, tmp_path, capsys):
    (tmp_path / "imgs" / "cat").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / "cat" / "a.JPEG")
    assert main(["evaluate", str(detector_onnx), "--task", "detect", "--data", str(tmp_path / "imgs")]) == 2
    assert "not a detection folder" in capsys.readouterr().err


def test_one_channel_detector_gets_gray_letterboxed_frames(session_tmp):
    pytest.importorskip("torch")
    from jetsonkit.examples import zoo
    from jetsonkit.export import export_onnx

    path = session_tmp / "zoo_yolo_trained.onnx"
    if not path.exists():
        export_onnx(zoo.build("yolo"), np.zeros((1, 1, 28, 28), np.float32), path, input_names=["input"],
                    output_names=["output"], parity=False)
    assert input_size(path) == (28, 28)  # NCHW with one channel: H, W are the last two
    res = evaluate_detection(path, load_detection_data("mnist_det:test:8"))
    assert res["images"] == 8 and 0.0 <= res["map50"] <= 1.0
