"""What the fake engine computes for TensorRT plugin layers ONNX Runtime cannot run (test support).

``EfficientNMS_TRT`` version 1 as NVIDIA documents it (TensorRT OSS plugin/efficientNMSPlugin/README.md and
efficientNMSInference.cu): candidates are (box, class) pairs scoring >= score_threshold (background class skipped),
the best 4,096 by score enter a greedy class-aware NMS that suppresses at IoU >= iou_threshold, at most
``max_output_boxes`` per image are kept; outputs count [B, 1] int32, corner boxes [B, max, 4], scores [B, max],
classes [B, max] int32, zero-padded. Strict where TensorRT is silent: a plugin field the creator does not declare
(efficientNMSPlugin.cpp, the same seven in 8.6.0 and main) would be ignored by TensorRT, so the fake refuses it.
"""

from __future__ import annotations

import numpy as np

EFFICIENT_NMS_FIELDS = {"score_threshold", "iou_threshold", "max_output_boxes", "background_class",
                        "score_activation", "class_agnostic", "box_coding"}
PARSER_FIELDS = {"plugin_version", "plugin_namespace"}  # read by the ONNX parser's plugin importer itself
TOP_K = 4096


def _refuse(msg: str):
    from .strict import FakeTrtError

    raise FakeTrtError(msg)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)
    return inter / union if union > 0 else 0.0


def efficient_nms(attrs: dict, boxes: np.ndarray, scores: np.ndarray) -> list[np.ndarray]:
    unknown = set(attrs) - EFFICIENT_NMS_FIELDS - PARSER_FIELDS
    if unknown:
        _refuse(f"EfficientNMS_TRT: unknown plugin field(s) {sorted(unknown)} (TensorRT would ignore them)")
    if str(attrs.get("plugin_version", "1")) != "1":
        _refuse(f"EfficientNMS_TRT: no plugin creator for version {attrs['plugin_version']!r}")
    b, a, c = scores.shape
    if boxes.shape != (b, a, 4):
        _refuse(f"EfficientNMS_TRT: boxes {list(boxes.shape)} do not match scores [batch, boxes, classes] "
                f"{list(scores.shape)}")
    cap, thr = int(attrs.get("max_output_boxes", 100)), float(attrs.get("score_threshold", 0.0))
    iou_thr, background = float(attrs.get("iou_threshold", 0.5)), int(attrs.get("background_class", -1))
    if int(attrs.get("box_coding", 0)) == 1:
        boxes = np.concatenate([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], -1)
    if int(attrs.get("score_activation", 0)):
        scores = 1 / (1 + np.exp(-scores))
    agnostic = bool(int(attrs.get("class_agnostic", 0)))
    num = np.zeros((b, 1), np.int32)
    out_boxes, out_scores = np.zeros((b, cap, 4), np.float32), np.zeros((b, cap), np.float32)
    out_classes = np.zeros((b, cap), np.int32)
    for i in range(b):
        anchor, cls = np.nonzero(scores[i] >= thr)
        keep_cls = cls != background
        anchor, cls = anchor[keep_cls], cls[keep_cls]
        s = scores[i][anchor, cls]
        order = np.argsort(-s, kind="stable")[:TOP_K]
        kept: list[int] = []
        for j in order:
            if len(kept) == cap:
                break
            if all((not agnostic and cls[k] != cls[j]) or _iou(boxes[i, anchor[j]], boxes[i, anchor[k]]) < iou_thr
                   for k in kept):
                kept.append(j)
        n = len(kept)
        num[i, 0] = n
        out_boxes[i, :n], out_scores[i, :n] = boxes[i, anchor[kept]], s[kept]
        out_classes[i, :n] = cls[kept]
    return [num, out_boxes, out_scores, out_classes]


REFERENCES = {"EfficientNMS_TRT": efficient_nms}
