"""ONNX ``NonMaxSuppression`` -> TFLite ``NON_MAX_SUPPRESSION_V5``, one per class.

ONNX's op (operator spec, opset >= 10) takes boxes ``[B, A, 4]`` and scores ``[B, C, A]`` and runs greedy NMS per
(batch, class), at most ``max_output_boxes_per_class`` per class, returning ``selected_indices`` ``[K, 3]`` int64
(batch, class, box) ordered by batch, then class, then decreasing score. TFLite's builtin (schema.fbs
``NON_MAX_SUPPRESSION_V5 = 121`` with an empty ``NonMaxSuppressionV5Options``; kernel
tensorflow/lite/kernels/non_max_suppression.cc) is single-class: boxes ``[N, 4]`` (two diagonal corners, min / max
taken per axis), scores ``[N]``, scalar max_output_size / iou_threshold / score_threshold / soft_nms_sigma; it
returns selected indices and scores padded to max_output_size plus the count ``valid_outputs``.

Per-class handling: one V5 per class (an UNPACK of the scores), each result sliced to its count (SLICE with a
run-time size: a dynamic tensor, so the output ``[K, 3]`` has a data-dependent shape in LiteRT too), turned into
(0, class, box) rows and concatenated in class order. That keeps ONNX's semantics exactly -- the cap is per class
and the rows come out in ONNX Runtime's order -- at C ops instead of one. The other common route, one V5 over all
(box, class) pairs with each class's boxes shifted to their own region of the plane (torchvision's
``batched_nms``), caps the total instead of each class and orders rows by score, so it is not the same op.

Differences bounded by the kernels' sources: TFLite keeps a candidate when ``score > score_threshold`` and
suppresses at ``IoU >= iou_threshold`` (ONNX Runtime: ``score > score_threshold``, suppress at ``IoU >
iou_threshold``), so results differ only for an IoU exactly equal to the threshold; soft-NMS is off (sigma 0).
Equal scores within a class may come out in another order (TFLite's priority queue does not order ties).
Batch: V5 has no batch axis, so a model with NonMaxSuppression converts at batch 1 (the .tflite input's batch is
fixed, not dynamic).
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from ..graph import Node
from ..lower import Lowering
from ..registry import lowers

MAX_INT32 = np.iinfo(np.int32).max


def _scalar(lw: Lowering, node: Node, k: int, default):
    if len(node.inputs) <= k or not node.inputs[k]:
        return default
    return np.asarray(lw.const_input(node, k)).reshape(-1)[0]


@lowers("NonMaxSuppression", tflite=("NON_MAX_SUPPRESSION_V5", "UNPACK", "SLICE", "MUL", "ADD", "CONCATENATION",
                                     "CAST"), int8=False, fixed_batch=True,
        note="one NON_MAX_SUPPRESSION_V5 per class (ONNX's per-class cap and row order); constant max / IoU / score "
             "thresholds; the .tflite runs batch 1; output [K, 3] has a data-dependent K")
def non_max_suppression(lw: Lowering, node: Node) -> None:
    boxes_name, scores_name, y = node.inputs[0], node.inputs[1], node.outputs[0]
    (batch, anchors, four), (sbatch, classes, sanchors) = lw.shape(boxes_name), lw.shape(scores_name)
    if batch != 1 or sbatch != 1 or four != 4 or sanchors != anchors:
        raise UnsupportedError(f"NonMaxSuppression node {node.name!r}: boxes {[batch, anchors, four]} and scores "
                               f"{[sbatch, classes, sanchors]} are not [1, A, 4] and [1, C, A]",
                               hint="export the detector with boxes [B, A, 4] and scores [B, C, A]")
    per_class = int(_scalar(lw, node, 2, 0))
    iou = float(_scalar(lw, node, 3, 0.0))
    score = float(_scalar(lw, node, 4, -np.inf))
    keep = min(max(per_class, 0), anchors, MAX_INT32)
    b, s, p = lw.b, lw.b.s, node.name + "/"
    corners = _corners(lw, node, boxes_name, anchors, p)
    flat = b.tensor(p + "scores_ca", (classes, anchors), "float32")
    lw.reshape(lw.get(scores_name, "onnx"), flat, [classes, anchors], p + "scores_ca")
    per = [b.tensor(f"{p}scores_{c}", (anchors,), "float32") for c in range(classes)]
    opts = s.UnpackOptionsT()
    opts.num, opts.axis = classes, 0
    lw.op("UNPACK", [flat], per, "UnpackOptions", opts)
    consts = [b.tensor(p + "max", (), "int32", data=np.array(keep, np.int32)),
              b.tensor(p + "iou", (), "float32", data=np.array(iou, np.float32)),
              b.tensor(p + "score", (), "float32", data=np.array(score, np.float32)),
              b.tensor(p + "sigma", (), "float32", data=np.array(0.0, np.float32))]  # hard NMS
    pick_box = lw.int_const(p + "box_column", [[0, 0, 1]])
    rows = []
    for c, sc in enumerate(per):
        q = f"{p}class{c}/"
        idx, kept, count = (b.tensor(q + "indices", (keep,), "int32"), b.tensor(q + "scores", (keep,), "float32"),
                            b.tensor(q + "count", (), "int32"))
        lw.op("NON_MAX_SUPPRESSION_V5", [corners, sc, *consts], [idx, kept, count], "NonMaxSuppressionV5Options",
              s.NonMaxSuppressionV5OptionsT())
        size = b.tensor(q + "size", (1,), "int32")
        lw.reshape(count, size, [1], q + "size")
        chosen = _dynamic(b, q + "chosen", (keep,))
        lw.op("SLICE", [idx, lw.int_const(q + "begin", [0]), size], [chosen], "SliceOptions", s.SliceOptionsT())
        column = _dynamic(b, q + "column", (keep, 1))
        lw.reshape(chosen, column, [keep, 1], q + "column")
        spread = _dynamic(b, q + "spread", (keep, 3))  # (0, 0, box)
        lw.op("MUL", [column, pick_box], [spread], "MulOptions", s.MulOptionsT())
        row = _dynamic(b, q + "rows", (keep, 3))  # (0, class, box)
        lw.op("ADD", [spread, lw.int_const(q + "class", [[0, c, 0]])], [row], "AddOptions", s.AddOptionsT())
        rows.append(row)
    total = _dynamic(b, p + "rows", (keep * classes, 3))
    opts = s.ConcatenationOptionsT()
    opts.axis = 0
    lw.op("CONCATENATION", rows, [total], "ConcatenationOptions", opts)
    out = _dynamic(b, y, (keep * classes, 3), "int64")
    cast = s.CastOptionsT()
    cast.inDataType, cast.outDataType = s.TensorType.INT32, s.TensorType.INT64
    lw.op("CAST", [total], [out], "CastOptions", cast)
    lw.g.shapes[y] = (keep * classes, 3)
    lw.data_dependent[y] = (-1, 3)
    lw.t[y], lw.layout[y], lw.quantized[y] = out, "onnx", False


def _dynamic(b, name: str, shape, dtype: str = "int32") -> int:
    """A tensor whose first dimension is known only at run time (shape_signature -1): ``shape`` is its bound."""
    idx = b.tensor(name, shape, dtype)
    sig = np.asarray(shape, np.int32).copy()
    sig[0] = -1
    b.tensors[idx].shapeSignature = sig
    return idx


def _corners(lw: Lowering, node: Node, boxes_name: str, anchors: int, p: str) -> int:
    """Boxes [A, 4] as two corners: ONNX's center_point_box=1 ([x_c, y_c, w, h]) becomes [x1, y1, x2, y2] with
    x1 = x_c - w / 2 as ONNX Runtime computes it; center_point_box=0 ([y1, x1, y2, x2]) is already corners."""
    b, s = lw.b, lw.b.s
    boxes = b.tensor(p + "boxes_a4", (anchors, 4), "float32")
    lw.reshape(lw.get(boxes_name, "onnx"), boxes, [anchors, 4], p + "boxes_a4")
    if int(node.attrs.get("center_point_box", 0)) == 0:
        return boxes
    halves = []
    for k, (begin, name) in enumerate(((0, "centre"), (2, "size"))):
        part = b.tensor(p + name, (anchors, 2), "float32")
        opts = s.StridedSliceOptionsT()
        opts.beginMask = opts.endMask = 1
        lw.op("STRIDED_SLICE", [boxes, lw.int_const(p + name + "/begin", [0, begin]),
                                lw.int_const(p + name + "/end", [anchors, begin + 2]),
                                lw.int_const(p + name + "/strides", [1, 1])], [part], "StridedSliceOptions", opts)
        halves.append(part)
    half = b.tensor(p + "half_size", (anchors, 2), "float32")
    lw.op("MUL", [halves[1], b.tensor(p + "one_half", (), "float32", data=np.array(0.5, np.float32))], [half],
          "MulOptions", s.MulOptionsT())
    lo, hi = b.tensor(p + "corner_lo", (anchors, 2), "float32"), b.tensor(p + "corner_hi", (anchors, 2), "float32")
    lw.op("SUB", [halves[0], half], [lo], "SubOptions", s.SubOptionsT())
    lw.op("ADD", [halves[0], half], [hi], "AddOptions", s.AddOptionsT())
    corners = b.tensor(p + "corners", (anchors, 4), "float32")
    opts = s.ConcatenationOptionsT()
    opts.axis = 1
    lw.op("CONCATENATION", [lo, hi], [corners], "ConcatenationOptions", opts)
    return corners
