"""Training loss of :mod:`jetsonkit.examples.detector`: static centre assignment, quality focal targets, GIoU + DFL.

- Assignment (FCOS-style centre sampling, Tian et al. 2019, "FCOS", section 3.1 / 3.2 with the YOLOX radius of 2.5
  strides): an anchor is positive for a ground-truth box when its centre lies inside the box and within 2.5 strides
  of the box centre; an anchor inside several boxes takes the smallest; a box with no positive anchor (a thin "1")
  takes the stride-8 anchor nearest its centre.
- Classification: binary cross-entropy on every anchor and class; a positive's target is the IoU of its predicted
  box with its ground truth (the "quality" target of Generalized Focal Loss, Li et al. 2020), so scores rank boxes by
  localisation quality, which mAP@0.5:0.95 rewards.
- Box: 1 - GIoU (Rezatofighi et al. 2019) of the decoded box, plus the DFL loss: cross-entropy towards the two bins
  around each side's distance, weighted by nearness (Li et al. 2020, eq. 6).
- Weights box 7.5, class 0.5, DFL 1.5 (YOLOv8's defaults, ``ultralytics/cfg/default.yaml``); all sums are divided by
  the number of positives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .._deps import require
from .._progress import info
from .detector import REG_MAX, STRIDES, anchor_grid

GAINS = {"box": 7.5, "cls": 0.5, "dfl": 1.5}
RADIUS = 2.5


def _box_iou_pairs(torch, a, b, giou: bool = False):
    """IoU (or GIoU) of matching rows of two ``[..., 4]`` xyxy tensors."""
    lt, rb = torch.max(a[..., :2], b[..., :2]), torch.min(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    if not giou:
        return iou
    hull = (torch.max(a[..., 2:], b[..., 2:]) - torch.min(a[..., :2], b[..., :2])).clamp(min=0).prod(-1) + 1e-7
    return iou - (hull - union) / hull


def anchors_px(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres ``[A, 2]`` in pixels and their strides ``[A]`` for a square ``size`` input (the model's order)."""
    centres, strides = [], []
    for stride in STRIDES:
        n = size // stride
        ys, xs = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        centres.append(np.stack((xs.ravel(), ys.ravel()), 1) * stride)
        strides.append(np.full(n * n, float(stride)))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides).astype(np.float32)


def assign(centres: np.ndarray, strides: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Index of the assigned ground-truth box per anchor (-1: background). ``centres`` [A, 2] px, ``boxes`` [G, 4]."""
    index = np.full(len(centres), -1, np.int64)
    if len(boxes) == 0:
        return index
    cx, cy = centres[:, :1], centres[:, 1:]
    x1, y1, x2, y2 = (boxes[:, i][None, :] for i in range(4))
    gx, gy = (x1 + x2) / 2, (y1 + y2) / 2
    r = RADIUS * strides[:, None]
    ok = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2) & (np.abs(cx - gx) < r) & (np.abs(cy - gy) < r)
    cost = np.where(ok, (x2 - x1) * (y2 - y1), np.inf)
    found = np.isfinite(cost.min(1))
    index[found] = cost[found].argmin(1)
    fine = strides == STRIDES[0]
    for g in range(len(boxes)):
        if not (index == g).any():
            d = np.where(fine, (cx[:, 0] - gx[0, g]) ** 2 + (cy[:, 0] - gy[0, g]) ** 2, np.inf)
            index[d.argmin()] = g
    return index


def build_targets(boxes: list[np.ndarray], labels: list[np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-anchor targets for a data set: boxes ``[N, A, 4]`` (xyxy px) and labels ``[N, A]`` (-1: background)."""
    centres, strides = anchors_px(size)
    tb = np.zeros((len(boxes), len(centres), 4), np.float32)
    tl = np.full((len(boxes), len(centres)), -1, np.int64)
    for i, (b, c) in enumerate(zip(boxes, labels)):
        index = assign(centres, strides, np.asarray(b, np.float32).reshape(-1, 4))
        pos = index >= 0
        tb[i, pos], tl[i, pos] = b[index[pos]], c[index[pos]]
    return tb, tl


def detection_loss(maps, target_boxes, target_labels, num_classes: int):
    """Total loss and its parts for the raw per-level maps and per-anchor targets (see :func:`build_targets`)."""
    torch = require("torch", purpose="training the detector")
    f = torch.nn.functional
    b = maps[0].shape[0]
    flat = torch.cat([m.view(b, 4 * REG_MAX + num_classes, -1) for m in maps], 2).transpose(1, 2)  # [B, A, C]
    box_logits, cls_logits = flat.split((4 * REG_MAX, num_classes), 2)
    anchors, strides = anchor_grid(torch, maps)
    stride = strides[0, 0]  # [A]
    centres = anchors[0].T * stride[:, None]  # [A, 2] px
    pos = target_labels >= 0  # [B, A]
    positives = max(int(pos.sum()), 1)
    bins = box_logits[pos].view(-1, 4, REG_MAX)  # [P, 4, R]
    dist = (bins.softmax(2) * torch.arange(REG_MAX, dtype=torch.float32)).sum(2)  # [P, 4] in strides
    c = centres.expand(b, -1, -1)[pos]
    s = stride.expand(b, -1)[pos][:, None]
    pred = torch.cat((c - dist[:, :2] * s, c + dist[:, 2:] * s), 1)
    gt = target_boxes[pos]
    giou = _box_iou_pairs(torch, pred, gt, giou=True)
    quality = _box_iou_pairs(torch, pred.detach(), gt).clamp(min=0.0)
    cls_target = torch.zeros_like(cls_logits)
    cls_target[pos, target_labels[pos]] = quality
    side = (torch.cat((c - gt[:, :2], gt[:, 2:] - c), 1) / s).clamp(0, REG_MAX - 1 - 0.01)  # [P, 4] in strides
    left = side.floor().long()
    w_right = (side - left).reshape(-1)
    logits = bins.reshape(-1, REG_MAX)
    dfl = (f.cross_entropy(logits, left.reshape(-1), reduction="none") * (1 - w_right)
           + f.cross_entropy(logits, left.reshape(-1) + 1, reduction="none") * w_right).sum() / 4
    parts = {"box": (1 - giou).sum() / positives,
             "cls": f.binary_cross_entropy_with_logits(cls_logits, cls_target, reduction="sum") / positives,
             "dfl": dfl / positives}
    total = sum(GAINS[k] * v for k, v in parts.items())
    return total, {k: float(v.detach()) for k, v in parts.items()}


def ground_truth_loss(maps, targets):
    """:func:`detection_loss` of the train-mode per-level ``maps`` against the pipeline's ``(boxes [B, G, 4] xyxy
    input pixels, labels [B, G], -1 = padding)`` batch; anchors are assigned per batch (:func:`build_targets`)."""
    torch = require("torch", purpose="training the detector")
    boxes, labels = (t.numpy() for t in targets)
    keep = labels >= 0
    size = int(maps[0].shape[-1]) * STRIDES[0]
    tb, tl = build_targets([b[k] for b, k in zip(boxes, keep)], [c[k] for c, k in zip(labels, keep)], size)
    num_classes = int(maps[0].shape[1]) - 4 * REG_MAX
    return detection_loss(maps, torch.from_numpy(tb), torch.from_numpy(tl), num_classes)[0]


def finetune_loss(maps, targets, teacher_outputs=None):
    """The detector's loss as a fine-tune hook (``stages.prune.finetune.loss:
    jetsonkit.examples.detector_loss:finetune_loss``; the ``loss(outputs, targets, teacher_outputs)`` contract of
    :mod:`jetsonkit._train`): :func:`ground_truth_loss` when the batch carries ``targets``, plus
    :func:`jetsonkit.detect.finetune.distillation` from the dense model's exported output when there is a teacher
    (recipe ``distill: true``)."""
    from ..detect.finetune import make_finetune_loss

    num_classes = int(maps[0].shape[1]) - 4 * REG_MAX
    loss = make_finetune_loss(ground_truth_loss, num_classes=num_classes, reg_max=REG_MAX, strides=STRIDES)
    return loss(maps, targets, teacher_outputs)


@dataclass
class SparseDetectorResult:
    """What :func:`finetune_detector_2to4` did: the prune (layers, masks) and the fine-tune (steps, losses)."""

    prune: object  # jetsonkit.sparsity.PruneResult
    finetune: object  # jetsonkit.sparsity.FinetuneResult

    @property
    def pruned_layers(self) -> list[str]:
        return self.prune.pruned_layers


# The bundled detector's layers kept dense by measured sensitivity (README, detection section): pruned alone
# without fine-tuning they cost the most mAP@0.5, and they are tiny (<= 2,560 weights, 1x1), far below the sizes
# where sparse tensor-core kernels pay off, so keeping them dense costs no speed worth having.
BUNDLED_DENSE = ("stage2.1.cv1.conv", "top_down.cv1.conv", "top_down.cv2.conv")


def finetune_detector_2to4(model, train, *, steps: int = 600, lr: float = 1e-3, batch_size: int = 64,
                           exclude: Sequence[str] | None = BUNDLED_DENSE, distill: bool = True, seed: int = 0):
    """2:4-prune the bundled detector ``model`` in place (every eligible layer but ``exclude``) and fine-tune it
    ``steps`` batches on ``train`` (a DetectionSet of training frames, cycled) with the detection loss plus, with
    ``distill``, distillation from a dense copy; returns a :class:`SparseDetectorResult`, model in eval mode.

    The bundled detection recipe (``jetsonkit/examples/mnist_det_recipe.yaml``, ``jetsonkit demo --task detect``)
    runs the same recipe through compress's prune stage.
    """
    import copy

    torch = require("torch", purpose="detector fine-tuning")
    from ..sparsity import finetune, prune_2to4

    teacher = copy.deepcopy(model).eval() if distill else None
    pruned = prune_2to4(model, exclude=list(exclude or ()))
    from ..detect.finetune import training_batches

    batches = training_batches(train, batch_size, seed)
    epochs = -(-steps // len(batches))
    torch.manual_seed(seed)
    result = finetune(model, batches, pruned.masks, loss=finetune_loss, teacher=teacher,
                      epochs=epochs, lr=lr, max_steps=steps, label="2:4 detector fine-tune")
    info(f"2:4 detector: {len(pruned.pruned_layers)} layers pruned, {result.steps} fine-tune steps in "
         f"{result.seconds:.0f} s")
    return SparseDetectorResult(pruned, result)
