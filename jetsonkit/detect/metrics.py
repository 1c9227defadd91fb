"""Detection quality: COCO mAP with pycocotools, and box-level agreement of a candidate with a reference model.

mAP is pycocotools' ``COCOeval`` (the reference implementation of the COCO detection metric): ``map`` is AP averaged
over IoU 0.50:0.05:0.95 and ``map50`` AP at IoU 0.5, both over all areas and up to 100 detections per image.
Ground truth is a COCO dict (``images``, ``annotations`` with xywh ``bbox``, ``categories``); detections are
:class:`~.postprocess.Detections` per image, in the order of ``gt["images"]``, class index ``i`` = category
``gt["categories"][i]["id"]`` (sorted by id).
"""

from __future__ import annotations

import contextlib
import io
from typing import Callable

import numpy as np

from .._deps import require
from ..errors import DataError
from .postprocess import Detections, iou_matrix, postprocess

AGREE_IOU, AGREE_CONF = 0.8, 0.5


def coco_results(gt: dict, detections: list[Detections]) -> list[dict]:
    """Detections as COCO result records (image id and category id from ``gt``; xywh boxes)."""
    images, cats = gt["images"], sorted(c["id"] for c in gt["categories"])
    if len(detections) != len(images):
        raise DataError(f"{len(detections)} detection lists for {len(images)} ground-truth images",
                        hint="give one Detections per image, in the order of the annotations' images")
    out = []
    for img, det in zip(images, detections):
        if len(det) and int(det.labels.max()) >= len(cats):
            raise DataError(f"class index {int(det.labels.max())} but the ground truth has {len(cats)} categories",
                            hint="the model's classes must match the annotations' categories")
        for (x1, y1, x2, y2), s, c in zip(det.boxes.tolist(), det.scores.tolist(), det.labels.tolist()):
            out.append({"image_id": img["id"], "category_id": cats[c], "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": s})
    return out


def _evaluated(gt: dict, detections: list[Detections]):
    """(COCOeval after evaluate + accumulate + summarize, number of results), or (None, 0) without detections."""
    coco_mod = require("pycocotools.coco", purpose="detection mAP")
    eval_mod = require("pycocotools.cocoeval", purpose="detection mAP")
    results = coco_results(gt, detections)
    if not results:
        return None, 0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        truth = coco_mod.COCO()
        truth.dataset = {k: gt[k] for k in ("images", "annotations", "categories")}
        truth.createIndex()
        found = truth.loadRes(results)
        ev = eval_mod.COCOeval(truth, found, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev, len(results)


def coco_map(gt: dict, detections: list[Detections]) -> dict:
    """``{"map", "map50", "map75", "detections"}`` of ``detections`` against the COCO ground truth ``gt``."""
    ev, count = _evaluated(gt, detections)
    if ev is None:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, "detections": 0}
    stats = [max(float(v), 0.0) for v in ev.stats[:3]]  # -1 means "no ground truth": count as 0
    return {"map": stats[0], "map50": stats[1], "map75": stats[2], "detections": count}


def _resampled_aps(ev, rng: np.random.Generator, rounds: int) -> np.ndarray:
    """``[rounds, 2]`` (mAP@0.5:0.95, mAP@0.5) of COCOeval ``ev`` re-accumulated on images drawn with replacement.

    COCOeval keeps one matching per (category, area range, image) in ``evalImgs`` (index
    ``k * areas * images + a * images + i``); a resample lays those entries out again for the drawn images and
    reruns ``accumulate`` on the "all" area range at 100 detections, as ``stats[0]`` / ``stats[1]`` read it.
    """
    import copy

    pe = ev._paramsEval
    n, areas, cats = len(pe.imgIds), len(pe.areaRng), len(pe.catIds) if pe.useCats else 1
    all_area = next(a for a, label in enumerate(pe.areaRngLbl) if label == "all")
    iou50 = int(np.argmin(np.abs(np.asarray(pe.iouThrs) - 0.5)))
    boot = copy.copy(ev)
    boot._paramsEval = copy.deepcopy(pe)
    boot._paramsEval.imgIds = list(range(n))
    boot._paramsEval.areaRng, boot._paramsEval.maxDets = [pe.areaRng[all_area]], [100]
    params = copy.deepcopy(boot._paramsEval)
    out = np.zeros((rounds, 2))
    for r in range(rounds):
        draw = rng.integers(0, n, n)
        boot.evalImgs = [ev.evalImgs[k * areas * n + all_area * n + i] for k in range(cats) for i in draw]
        with contextlib.redirect_stdout(io.StringIO()):
            boot.accumulate(params)
        prec = boot.eval["precision"][:, :, :, 0, 0]  # [iou thresholds, recall points, categories]
        for col, p in enumerate((prec, prec[iou50])):
            valid = p[p > -1]
            out[r, col] = float(valid.mean()) if valid.size else 0.0
    return out


def map_interval(gt: dict, detections: list[Detections], rounds: int = 50, seed: int = 0) -> dict:
    """:func:`coco_map` plus the 95 % half-width of mAP@0.5:0.95 and mAP@0.5 over the choice of images: 1.96 standard
    deviations of a bootstrap over images (``rounds`` resamples, the normal-approximation interval, which needs
    fewer resamples than percentiles; ``seed`` fixed: the same figures each run). Each resample costs one COCOeval
    ``accumulate`` (~0.1-0.2 s for 300 images at 70 detections each on one core)."""
    ev, count = _evaluated(gt, detections)
    if ev is None:
        return {"map": 0.0, "map50": 0.0, "map75": 0.0, "detections": 0, "map_half_width": 0.0,
                "map50_half_width": 0.0}
    stats = [max(float(v), 0.0) for v in ev.stats[:3]]
    half = 1.96 * _resampled_aps(ev, np.random.default_rng(seed), rounds).std(axis=0, ddof=1)
    return {"map": stats[0], "map50": stats[1], "map75": stats[2], "detections": count,
            "map_half_width": float(half[0]), "map50_half_width": float(half[1]), "bootstrap_rounds": rounds}


def box_agreement(candidate: list[Detections], reference: list[Detections], conf: float = AGREE_CONF,
                  iou: float = AGREE_IOU) -> dict:
    """Share of the reference's confident detections (score >= ``conf``) that the candidate also finds: a candidate
    box of the same class with IoU >= ``iou`` (any score). ``{"agreement", "reference_boxes", "mean_iou"}``."""
    matched, total, ious = 0, 0, []
    for cand, ref in zip(candidate, reference):
        ref = ref.above(conf)
        total += len(ref)
        if not len(ref) or not len(cand):
            continue
        m = iou_matrix(ref.boxes.astype(np.float64), cand.boxes.astype(np.float64))
        m = np.where(ref.labels[:, None] == cand.labels[None, :], m, 0.0)
        best = m.max(1)
        matched += int((best >= iou).sum())
        ious.extend(best.tolist())
    return {"agreement": matched / total if total else 1.0, "reference_boxes": total,
            "mean_iou": float(np.mean(ious)) if ious else 0.0}


def map_of_predictor(predict: Callable[[np.ndarray], np.ndarray], data, batch: int = 100, **nms_options) -> dict:
    """mAP of ``predict`` (NCHW float batch -> YOLO-style output) on a :class:`~jetsonkit.examples.mnist_det.
    DetectionSet`-like object (``nchw()``, ``coco()``)."""
    x = data.nchw()
    detections = []
    for i in range(0, len(x), batch):
        detections.extend(postprocess(predict(x[i:i + batch]), **nms_options))
    return coco_map(data.coco(), detections)
