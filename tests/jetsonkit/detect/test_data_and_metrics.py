"""The generated MNIST detection set, COCO mAP plumbing and NMS (numpy against ONNX Runtime's NonMaxSuppression)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.detect import Detections, box_agreement, coco_map, nms
from jetsonkit.detect.postprocess import iou_matrix, postprocess
from jetsonkit.errors import DataError
from jetsonkit.examples import mnist_det


@pytest.fixture(scope="module")
def small_set():
    return mnist_det.generate("test", 40, seed=3)


def test_generation_is_deterministic_and_boxes_are_valid(small_set):
    again = mnist_det.generate("test", 40, seed=3)
    assert np.array_equal(small_set.images, again.images)
    assert all(np.array_equal(a, b) for a, b in zip(small_set.boxes, again.boxes))
    other = mnist_det.generate("test", 40, seed=4)
    assert not np.array_equal(small_set.images, other.images)
    counts = [len(b) for b in small_set.boxes]
    assert 1 <= min(counts) and max(counts) <= mnist_det.MAX_DIGITS and len(set(counts)) > 2
    boxes = np.concatenate(small_set.boxes)
    assert boxes.min() >= 0 and boxes.max() <= mnist_det.SIZE
    heights = boxes[:, 3] - boxes[:, 1]
    assert heights.min() >= mnist_det.DIGIT_HEIGHT[0] and heights.max() <= mnist_det.DIGIT_HEIGHT[1]
    labels = np.concatenate(small_set.labels)
    assert labels.min() >= 0 and labels.max() <= 9
    # each box holds ink: its pixels differ from the canvas around it (digit colours are drawn over the background)
    assert small_set.images.dtype == np.uint8 and small_set.images.shape == (40, 96, 96, 3)


def test_write_coco_round_trips(small_set, tmp_path):
    path = mnist_det.write_coco(small_set, tmp_path / "set")
    gt = json.loads(path.read_text())
    assert len(gt["images"]) == 40 and len(gt["annotations"]) == sum(len(b) for b in small_set.boxes)
    first = gt["annotations"][0]
    x1, y1, x2, y2 = small_set.boxes[0][0]
    assert first["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert first["category_id"] == small_set.labels[0][0] + 1
    from PIL import Image

    with Image.open(tmp_path / "set" / gt["images"][5]["file_name"]) as im:
        assert np.array_equal(np.asarray(im), small_set.images[5])


def _truth_as_detections(data, jitter: float = 0.0, rng=None):
    out = []
    for b, c in zip(data.boxes, data.labels):
        size = np.concatenate((b[:, 2:] - b[:, :2],) * 2, 1)
        boxes = b + (rng.normal(0, jitter, b.shape) * size if jitter else 0)  # jitter: a share of the box size
        out.append(Detections(boxes.astype(np.float32), np.linspace(0.9, 0.5, len(b)).astype(np.float32), c))
    return out


def test_coco_map_of_ground_truth_is_one_and_drops_with_noise(small_set):
    gt = small_set.coco()
    perfect = coco_map(gt, _truth_as_detections(small_set))
    assert perfect["map"] == pytest.approx(1.0) and perfect["map50"] == pytest.approx(1.0)
    noisy = coco_map(gt, _truth_as_detections(small_set, 0.05, np.random.default_rng(0)))
    # 5 % of the box size per side: IoU < 0.5 needs a ~4-sigma shift, IoU >= 0.95 is rare
    assert noisy["map50"] > 0.98 and noisy["map"] < 0.9
    wrong = [Detections(d.boxes, d.scores, (d.labels + 1) % 10) for d in _truth_as_detections(small_set)]
    assert coco_map(gt, wrong)["map50"] == 0.0
    with pytest.raises(DataError, match="detection lists"):
        coco_map(gt, _truth_as_detections(small_set)[:-1])


def test_box_agreement_counts_confident_reference_boxes(small_set):
    ref = _truth_as_detections(small_set)
    assert box_agreement(ref, ref)["agreement"] == 1.0
    shifted = [Detections(d.boxes + 30, d.scores, d.labels) for d in ref]
    assert box_agreement(shifted, ref)["agreement"] == 0.0
    assert box_agreement(ref, ref, conf=0.95)["reference_boxes"] == 0


def _random_boxes(rng, n):
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(5, 30, (n, 2))
    return np.concatenate((xy, xy + wh), 1).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


def test_numpy_nms_matches_onnxruntime_nonmaxsuppression():
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    node = helper.make_node("NonMaxSuppression", ["b", "s", "m", "i", "t"], ["sel"])
    graph = helper.make_graph([node], "nms", [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, None, 4]),
                                              helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 1, None]),
                                              helper.make_tensor_value_info("m", TensorProto.INT64, [1]),
                                              helper.make_tensor_value_info("i", TensorProto.FLOAT, [1]),
                                              helper.make_tensor_value_info("t", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("sel", TensorProto.INT64, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for n, thr in ((200, 0.5), (300, 0.3), (50, 0.7)):
        boxes, scores = _random_boxes(rng, n)
        sel = sess.run(None, {"b": boxes[None, :, [1, 0, 3, 2]], "s": scores[None, None],  # ONNX: y1, x1, y2, x2
                              "m": np.array([n], np.int64), "i": np.array([thr], np.float32),
                              "t": np.array([0.0], np.float32)})[0]
        assert nms(boxes, scores, thr).tolist() == sel[:, 2].tolist()


def test_postprocess_keeps_classes_apart_and_decodes_centre_boxes():
    out = np.zeros((1, 4 + 3, 3), np.float32)
    out[0, :4, 0] = [50, 50, 20, 10]  # cx, cy, w, h
    out[0, :4, 1] = [51, 50, 20, 10]  # nearly the same box
    out[0, :4, 2] = [51, 50, 20, 10]
    out[0, 4, 0], out[0, 4, 1], out[0, 5, 2] = 0.9, 0.8, 0.7  # anchors 0, 1: class 0; anchor 2: class 1
    det = postprocess(out, conf=0.5, iou=0.5, num_classes=3)[0]
    assert det.labels.tolist() == [0, 1] and det.scores.tolist() == pytest.approx([0.9, 0.7])
    assert det.boxes[0].tolist() == pytest.approx([40, 45, 60, 55])
    assert iou_matrix(det.boxes[:1], det.boxes[1:])[0, 0] > 0.9
    with pytest.raises(DataError, match="4 \\+ 5 classes"):
        postprocess(out, num_classes=5)
