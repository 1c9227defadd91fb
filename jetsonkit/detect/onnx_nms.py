"""The ONNX ``NonMaxSuppression`` tail: NMS inside the graph, after a YOLO-style decode head.

:func:`add_nms_tail` appends to a model whose output is ``[batch, 4 + classes, anchors]`` (centre x, centre y,
width, height + class scores): Slice + Transpose to boxes ``[batch, anchors, 4]``, Slice to scores
``[batch, classes, anchors]``, and the standard ``NonMaxSuppression`` op (ONNX operator spec, opset >= 11:
``center_point_box=1`` reads [x_center, y_center, width, height]; per batch and class, greedy, a box is dropped when
its IoU with a kept box exceeds ``iou_threshold``; boxes below ``score_threshold`` are never selected). The model
then also returns ``selected_indices`` ``[K, 3]`` (batch, class, anchor): a data-dependent shape. The decoded output
stays, and :func:`detections_from_indices` gathers the boxes and scores from it (TensorRT reads the same op as its
``INMSLayer``, TensorRT >= 8.6).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._deps import require
from .._io import atomic_path
from ..errors import DataError, ModelLoadError
from .postprocess import IOU, MAX_DET, Detections, xywh_to_xyxy

SELECTED = "selected_indices"


def add_nms_tail(model, out_path: str | os.PathLike, *, output: str | None = None, max_per_class: int = MAX_DET,
                 iou: float = IOU, score: float = 0.001):
    """Write ``model`` (path or ModelProto) plus the NMS tail on ``output`` (default: the first) to ``out_path``."""
    onnx = require("onnx", purpose="adding the NonMaxSuppression tail")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    proto = onnx.load(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model
    graph = proto.graph
    names = [o.name for o in graph.output]
    output = output or names[0]
    if output not in names:
        raise ModelLoadError(f"model has no output {output!r} (outputs: {', '.join(names)})",
                             hint="name the decoded [batch, 4 + classes, anchors] output")
    if SELECTED in names:
        raise ModelLoadError(f"model already has an output {SELECTED!r}", hint="add the NMS tail once")
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 11:
        raise ModelLoadError(f"model opset {opset} < 11: NonMaxSuppression with these inputs needs opset >= 11",
                             hint="re-export with opset >= 13")
    p = "nms_tail/"
    consts = {p + "zero": [0], p + "four": [4], p + "end": [np.iinfo(np.int64).max], p + "axis": [1]}
    for name, value in consts.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    graph.initializer.extend([numpy_helper.from_array(np.array([max_per_class], np.int64), p + "max"),
                              numpy_helper.from_array(np.array([iou], np.float32), p + "iou"),
                              numpy_helper.from_array(np.array([score], np.float32), p + "score")])
    graph.node.extend([
        helper.make_node("Slice", [output, p + "zero", p + "four", p + "axis"], [p + "boxes_cf"], name=p + "Slice_0"),
        helper.make_node("Transpose", [p + "boxes_cf"], [p + "boxes"], perm=[0, 2, 1], name=p + "Transpose"),
        helper.make_node("Slice", [output, p + "four", p + "end", p + "axis"], [p + "scores"], name=p + "Slice_1"),
        helper.make_node("NonMaxSuppression", [p + "boxes", p + "scores", p + "max", p + "iou", p + "score"],
                         [SELECTED], center_point_box=1, name=p + "NonMaxSuppression"),
    ])
    graph.output.append(helper.make_tensor_value_info(SELECTED, onnx.TensorProto.INT64, ["selected", 3]))
    onnx.checker.check_model(proto)
    with atomic_path(out_path) as tmp:
        onnx.save(proto, os.fspath(tmp))
    return Path(out_path)


def detections_from_indices(output: np.ndarray, selected: np.ndarray, max_det: int = MAX_DET) -> list[Detections]:
    """Per-image detections from the decoded output ``[B, 4 + C, A]`` and ``selected_indices`` ``[K, 3]``."""
    output, selected = np.asarray(output, np.float32), np.asarray(selected).reshape(-1, 3).astype(np.int64)
    b, rows, a = output.shape
    if len(selected) and (selected.min() < 0 or selected[:, 0].max() >= b or selected[:, 1].max() >= rows - 4
                          or selected[:, 2].max() >= a):
        raise DataError(f"selected_indices out of range for an output of shape {[b, rows, a]}",
                        hint="pass the NMS tail's own decoded output beside its indices")
    result = []
    for i in range(b):
        sel = selected[selected[:, 0] == i]
        scores = output[i, 4 + sel[:, 1], sel[:, 2]]
        order = np.argsort(-scores, kind="stable")[:max_det]
        sel, scores = sel[order], scores[order]
        boxes = xywh_to_xyxy(output[i][:4, sel[:, 2]].T if len(sel) else np.zeros((0, 4), np.float32))
        result.append(Detections(boxes.astype(np.float32).reshape(-1, 4), scores, sel[:, 1].copy()))
    return result


def detections_from_efficient_nms(num: np.ndarray, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray
                                  ) -> list[Detections]:
    """Per-image detections from the four outputs of TensorRT's ``EfficientNMS_TRT`` plugin (what
    ``jetsonkit.engine.nms`` puts in place of the NonMaxSuppression tail): ``num_detections`` [B, 1], corner boxes
    [B, max, 4], scores [B, max], classes [B, max]; the first ``num_detections[i]`` rows of image i are valid."""
    num = np.asarray(num).reshape(-1).astype(np.int64)
    boxes, scores, classes = np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(classes)
    if boxes.ndim != 3 or boxes.shape[:2] != scores.shape or scores.shape != classes.shape or len(num) != len(boxes) \
            or (len(num) and (num.min() < 0 or num.max() > boxes.shape[1])):
        raise DataError(f"EfficientNMS outputs of shapes {[list(np.shape(a)) for a in (num, boxes, scores, classes)]} "
                        f"and counts {num.tolist()} do not fit together",
                        hint="pass num_detections, detection_boxes, detection_scores, detection_classes of one run")
    return [Detections(boxes[i, :k].copy(), scores[i, :k].copy(), classes[i, :k].astype(np.int64))
            for i, k in enumerate(num)]
