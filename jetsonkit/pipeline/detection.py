"""A recipe whose evaluation is detection (``metric: map50`` or ``map50_95``): frames, boxes and the scores.

The evaluation data is a detection data spec (``mnist_det:test:500``, a COCO or a YOLO folder; see
:class:`jetsonkit.data.DataSpec`). Its frames go through the recipe's pre-processing spec (letterbox by default for
a detection recipe: the spec calibration, export metadata and the runtime frame path use too); every artifact's
first output (YOLO-style ``[batch, 4 + classes, anchors]``) goes through the same numpy NMS
(:func:`jetsonkit.detect.postprocess`), its boxes back to frame pixels through the spec's geometry, and then
pycocotools' COCOeval: mAP@0.5 and mAP@0.5:0.95, plus box agreement with the FP32 reference (the share of its
confident boxes the artifact finds again at IoU >= 0.8, :func:`jetsonkit.detect.box_agreement`).

The interval stated with the mAP figures is a bootstrap over the evaluation images (Efron & Tibshirani 1993,
"An Introduction to the Bootstrap", ch. 6 and 13) of the FP32 reference: COCOeval matches each image once, then
``accumulate`` is rerun on resampled images (:func:`jetsonkit.detect.metrics.map_interval`). Every artifact is
scored on the same images, so every row states that half-width; it is what the Pareto front counts as a tie, as
the binomial interval does for top-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .recipe import MAP_METRICS, Recipe

__all__ = ["DetectionEval", "DetectionTargets", "is_detection", "training_targets"]


def is_detection(recipe: Recipe) -> bool:
    return recipe.evaluation.metric in MAP_METRICS


@dataclass
class DetectionEval:
    """The evaluation frames of a detection recipe, pre-processed once, and how an artifact's outputs are scored."""

    metric: str
    x: np.ndarray
    gt: dict
    geometries: list
    spec: Any
    _reference: list | None = field(default=None, repr=False)

    @classmethod
    def load(cls, recipe: Recipe, inputs: tuple) -> "DetectionEval":
        from ..data import DataSpec
        from ..data.images import spec_for_input
        from ..data.spec import DETECTION_KINDS

        e = recipe.evaluation
        data = DataSpec.parse(e.data, preprocess=recipe.preprocess)
        if data.kind not in DETECTION_KINDS:
            raise DataError(f"{recipe.where('evaluation', 'data')}: metric {e.metric} needs boxes, and {e.data!r} "
                            f"is {data.kind} data", hint="give mnist_det:test:500, a COCO or a YOLO folder")
        frames, gt = data.frames()
        spec = spec_for_input(recipe.preprocess, inputs[0], e.data)
        x = np.concatenate([spec.apply(f) for f in frames]).astype(np.float32, copy=False)
        return cls(e.metric, x, gt, [spec.geometry(f.shape[1], f.shape[0]) for f in frames], spec)

    def detections(self, out: np.ndarray) -> list:
        from ..detect import postprocess

        dets = postprocess(out, num_classes=len(self.gt["categories"]))
        return [d.mapped(g.boxes_to_frame) for d, g in zip(dets, self.geometries)]

    def score(self, out: np.ndarray, reference: np.ndarray | None) -> dict:
        """The figures of one artifact's outputs (``reference``: the FP32 model's outputs; None for the reference
        itself, whose bootstrap interval every row then states: same images, so the same sampling spread)."""
        from ..detect import box_agreement, coco_map
        from ..detect.metrics import map_interval

        dets = self.detections(out)
        interval = {}
        if reference is None:
            self._reference, maps = dets, map_interval(self.gt, dets)
            interval = {"map50_half_width": maps["map50_half_width"], "map50_95_half_width": maps["map_half_width"],
                        "bootstrap_rounds": maps["bootstrap_rounds"]}
        else:
            if self._reference is None:
                self._reference = self.detections(reference)
            maps = coco_map(self.gt, dets)
        agree = box_agreement(dets, self._reference)
        figures = {"map50": maps["map50"], "map50_95": maps["map"], "box_agreement": agree["agreement"],
                   "agreement_boxes": agree["reference_boxes"], "detections": maps["detections"]}
        return {"accuracy": figures[self.metric], "map_metric": self.metric, **figures, **interval}


@dataclass
class DetectionTargets:
    """Training frames of a detection data spec, pre-processed, with their boxes in network-input pixels.

    ``x``: ``[N, C, H, W]`` float32 (the recipe's pre-processing); ``boxes[i]``: ``[k, 4]`` xyxy in input pixels;
    ``labels[i]``: ``[k]`` class indices (COCO categories sorted by id); ``size``: (H, W) of the input.
    """

    x: np.ndarray
    boxes: list
    labels: list
    num_classes: int
    size: tuple[int, int]

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``[N, G, 4]`` float32 and labels ``[N, G]`` int64, padded to the most boxes of a frame with label
        -1 (the batch form a fine-tune loss receives as its targets)."""
        most = max([len(b) for b in self.boxes] + [1])
        boxes = np.zeros((len(self.boxes), most, 4), np.float32)
        labels = np.full((len(self.boxes), most), -1, np.int64)
        for i, (b, c) in enumerate(zip(self.boxes, self.labels)):
            boxes[i, :len(b)], labels[i, :len(c)] = b, c
        return boxes, labels

    def loader(self, batch_size: int, seed: int = 0):
        """A shuffled, re-iterable DataLoader of ``(x, boxes, labels)`` torch batches (see :meth:`padded`)."""
        from .._deps import require

        torch = require("torch", purpose="fine-tuning a detector")
        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in (self.x, *self.padded())]
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=batch_size,
                                           shuffle=True, generator=torch.Generator().manual_seed(seed))


def training_targets(recipe: Recipe, spec: str, inputs: tuple) -> DetectionTargets:
    """:class:`DetectionTargets` of detection data ``spec`` through the recipe's pre-processing (letterbox: boxes
    scaled and shifted into the padded input the way the frame's pixels are)."""
    from ..data import DataSpec
    from ..data.images import spec_for_input

    frames, gt = DataSpec.parse(spec, preprocess=recipe.preprocess).frames()
    pre = spec_for_input(recipe.preprocess, inputs[0], spec)
    cats = {c["id"]: k for k, c in enumerate(sorted(gt["categories"], key=lambda c: c["id"]))}
    per_image: dict = {img["id"]: ([], []) for img in gt["images"]}
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        per_image[a["image_id"]][0].append((x, y, x + w, y + h))
        per_image[a["image_id"]][1].append(cats[a["category_id"]])
    boxes, labels = [], []
    for frame, img in zip(frames, gt["images"]):
        geo = pre.geometry(frame.shape[1], frame.shape[0])
        (sx, sy, sw, sh), (dx, dy, dw, dh) = geo.src, geo.dst
        b = np.asarray(per_image[img["id"]][0], np.float64).reshape(-1, 4)
        b[:, 0::2] = dx + (b[:, 0::2] - sx) * dw / sw
        b[:, 1::2] = dy + (b[:, 1::2] - sy) * dh / sh
        boxes.append(b.astype(np.float32))
        labels.append(np.asarray(per_image[img["id"]][1], np.int64))
    x = np.concatenate([pre.apply(f) for f in frames]).astype(np.float32, copy=False)
    return DetectionTargets(x, boxes, labels, len(cats), tuple(pre.size))
