"""YOLO-style outputs -> detections: confidence filter, class-aware greedy NMS in numpy, top ``max_det``.

The output read is the YOLOv8 export layout ``[batch, 4 + classes, anchors]`` (or ``[batch, anchors, 4 + classes]``)
with boxes as centre x, centre y, width, height in input pixels and per-class scores already through a sigmoid
(no objectness column). Every (anchor, class) pair scoring at least ``conf`` is a candidate (multi-label, as
mAP evaluation does); NMS is greedy per class (suppress a box whose IoU with a higher-scoring kept box of the same
class exceeds ``iou``), done in one pass by shifting each class's boxes to their own region of the plane
(torchvision's ``batched_nms`` strategy). Defaults conf 0.001, IoU 0.7, 300 boxes are Ultralytics' validation
settings (``ultralytics/cfg/default.yaml``: conf for val, iou 0.7, max_det 300).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

CONF, IOU, MAX_DET = 0.001, 0.7, 300
PRE_NMS = 3000  # candidates kept (highest scores) before NMS


@dataclass
class Detections:
    """One image's detections: ``boxes`` [k, 4] xyxy pixels, ``scores`` [k], ``labels`` [k] (class indices)."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def above(self, conf: float) -> "Detections":
        keep = self.scores >= conf
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])

    def same_as(self, other: "Detections", atol: float = 1e-4) -> bool:
        """The same detections in any order: equal labels, and scores and boxes within ``atol``."""
        if len(self) != len(other):
            return False
        a, b = (np.lexsort((-d.scores, d.labels)) for d in (self, other))
        return bool(np.array_equal(self.labels[a], other.labels[b])
                    and np.allclose(self.scores[a], other.scores[b], rtol=0, atol=atol)
                    and np.allclose(self.boxes[a], other.boxes[b], rtol=0, atol=atol))

    def mapped(self, fn) -> "Detections":
        """The same detections with boxes passed through ``fn`` ([k, 4] -> [k, 4]), e.g. back to frame pixels."""
        return Detections(np.asarray(fn(self.boxes), np.float32).reshape(-1, 4), self.scores, self.labels)


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[..., 2:4] / 2
    return np.concatenate((b[..., :2] - half, b[..., :2] + half), -1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every row of ``a`` [n, 4] with every row of ``b`` [m, 4] (xyxy)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = IOU) -> np.ndarray:
    """Indices kept by greedy NMS (highest score first; ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")
    boxes = np.asarray(boxes, np.float64)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        overlap = iou_matrix(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][overlap <= iou]
    return np.array(keep, np.int64)


def _channels_first(out: np.ndarray, num_classes: int | None) -> np.ndarray:
    if out.ndim != 3:
        raise DataError(f"detector output of shape {list(out.shape)} is not [batch, 4 + classes, anchors]",
                        hint="pass the raw YOLO-style output (boxes cx, cy, w, h + class scores)")
    if num_classes is not None:
        if out.shape[1] == 4 + num_classes:
            return out
        if out.shape[2] == 4 + num_classes:
            return out.transpose(0, 2, 1)
        raise DataError(f"detector output {list(out.shape)} has no axis of 4 + {num_classes} classes",
                        hint="check num_classes")
    return out if out.shape[1] <= out.shape[2] else out.transpose(0, 2, 1)


def decode_one(out: np.ndarray, conf: float = CONF, pre_nms: int = PRE_NMS) -> Detections:
    """Candidates of one image's ``[4 + classes, anchors]`` output: every (anchor, class) scoring >= ``conf``."""
    boxes, scores = out[:4].T, out[4:].T  # [A, 4], [A, C]
    anchor, label = np.nonzero(scores >= conf)
    s = scores[anchor, label]
    if len(s) > pre_nms:
        top = np.argpartition(-s, pre_nms)[:pre_nms]
        anchor, label, s = anchor[top], label[top], s[top]
    return Detections(xywh_to_xyxy(boxes[anchor]).astype(np.float32), s.astype(np.float32), label.astype(np.int64))


def class_nms(det: Detections, iou: float = IOU, max_det: int = MAX_DET) -> Detections:
    """Class-aware NMS of one image's candidates, best ``max_det`` kept (highest score first)."""
    if len(det) == 0:
        return det
    span = float(np.abs(det.boxes).max()) + 1.0
    keep = nms(det.boxes + (det.labels * span)[:, None], det.scores, iou)[:max_det]
    return Detections(det.boxes[keep], det.scores[keep], det.labels[keep])


def postprocess(output: np.ndarray, conf: float = CONF, iou: float = IOU, max_det: int = MAX_DET,
                num_classes: int | None = None) -> list[Detections]:
    """Per-image detections (xyxy in input pixels) from a YOLO-style output batch."""
    out = _channels_first(np.asarray(output, np.float32), num_classes)
    return [class_nms(decode_one(o, conf), iou, max_det) for o in out]
