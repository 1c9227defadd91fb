"""2:4 fine-tuning of a YOLO-style detector: its training loss and distillation from the dense model (the one call
for the bundled detector, ``finetune_detector_2to4``, is in :mod:`jetsonkit.examples.detector_loss`).

The pieces plug into :func:`jetsonkit.sparsity.finetune` through its loss contract
``loss(outputs, targets, teacher_outputs)`` (:mod:`jetsonkit._train`):

- ``outputs``: the student's raw per-level maps (train mode), ``[B, 4 * reg_max + classes, H, W]`` per stride, the
  layout of YOLOv8's ``Detect`` head in training (Ultralytics, ``ultralytics/nn/modules/head.py``) and of
  :mod:`jetsonkit.examples.detector`;
- ``targets``: what the batch carries after ``x``, passed to the task's loss as it is — for the bundled detector
  ``(boxes [B, G, 4] xyxy input pixels, labels [B, G], -1 = padding)``, the batches of compress's detection
  fine-tune and of :func:`training_batches` — or None;
- ``teacher_outputs``: the dense model's eval-mode output, the YOLOv8 export layout ``[B, 4 + classes, A]`` (boxes
  centre-x, centre-y, width, height in pixels; class scores after the sigmoid), or None without a teacher.

:func:`make_finetune_loss` builds the sum of the detection loss (when targets come) and :func:`distillation` (when
the teacher's output comes). Distillation here reads only the teacher's *exported* output, so any YOLOv8-style
detector whose eval output is that layout can be the teacher; it has two parts, both weighted per anchor by the
teacher's best class score (background anchors barely count):

- class: binary cross-entropy of the student's class logits against the teacher's scores (soft targets, Hinton et
  al. 2015, "Distilling the Knowledge in a Neural Network", with the sigmoid of a multi-label head);
- box: L1 distance, in strides, between the student's DFL expectation of each side and the teacher's box sides
  (localisation distillation, after Zheng et al. 2022, "Localization Distillation for Dense Object Detection",
  which distils the DFL distributions; the exported output carries their expectations only).

Recipe (measured on the bundled detector; the figures are in the README's detection section): prune once by
magnitude, keep the masks, re-train with the task's own loss — NVIDIA ASP's recipe (``apex/contrib/sparsity/
README.md``: fine-tune the pruned model with the optimizer and loss used to train it; Mishra et al. 2021,
arXiv:2104.08378) — shortened to a few hundred steps, plus distillation from the dense model.

A recipe names the bundled detector's loss as ``jetsonkit.examples.detector_loss:finetune_loss``; with
``distill: true`` the teacher's output reaches it too.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .._deps import require


def _flat(torch, maps, channels: int):
    """Per-level maps -> ``[B, A, channels]`` in the model's anchor order (level by level, row-major)."""
    b = maps[0].shape[0]
    return torch.cat([m.reshape(b, channels, -1) for m in maps], 2).transpose(1, 2)


def _anchor_centres(torch, maps, strides: Sequence[int]):
    """Grid-cell centres ``[A, 2]`` in pixels and strides ``[A]`` for the per-level maps."""
    centres, sizes = [], []
    for m, stride in zip(maps, strides):
        h, w = m.shape[2], m.shape[3]
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                                torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
        centres.append(torch.stack((xs.reshape(-1), ys.reshape(-1)), 1) * stride)
        sizes.append(torch.full((h * w,), float(stride)))
    return torch.cat(centres), torch.cat(sizes)


def distillation(maps, teacher_output, *, num_classes: int, reg_max: int, strides: Sequence[int],
                 box_weight: float = 1.0):
    """Distillation loss of the student's raw ``maps`` towards the teacher's exported output (module docstring)."""
    torch = require("torch", purpose="detector distillation")
    f = torch.nn.functional
    student = _flat(torch, maps, 4 * reg_max + num_classes)
    box_logits, cls_logits = student.split((4 * reg_max, num_classes), 2)
    teacher = teacher_output.transpose(1, 2)  # [B, A, 4 + classes]
    if teacher.shape[:2] != student.shape[:2] or teacher.shape[2] != 4 + num_classes:
        raise ValueError(f"teacher output {tuple(teacher_output.shape)} does not match the student's "
                         f"{student.shape[1]} anchors and {num_classes} classes")
    xywh, scores = teacher[..., :4], teacher[..., 4:]
    weight = scores.max(2).values  # [B, A]
    cls = f.binary_cross_entropy_with_logits(cls_logits, scores, reduction="none").sum(2)
    centres, stride = _anchor_centres(torch, maps, strides)
    bins = torch.arange(reg_max, dtype=box_logits.dtype, device=box_logits.device)
    dist = (box_logits.reshape(*box_logits.shape[:2], 4, reg_max).softmax(3) * bins).sum(3)  # [B, A, 4] strides
    half = xywh[..., 2:] / 2
    sides = torch.cat((centres - (xywh[..., :2] - half), (xywh[..., :2] + half) - centres), 2) / stride[:, None]
    box = (dist - sides).abs().sum(2)
    return ((cls + box_weight * box) * weight).sum() / weight.sum().clamp(min=1.0)


def make_finetune_loss(task_loss: Callable | None, *, num_classes: int, reg_max: int, strides: Sequence[int],
                       distill_weight: float = 1.0, box_weight: float = 1.0) -> Callable:
    """A fine-tune loss ``loss(outputs, targets, teacher_outputs)`` for :func:`jetsonkit.sparsity.finetune`:
    ``task_loss(outputs, targets)`` when ``targets`` is not None, plus ``distill_weight *`` :func:`distillation`
    when the teacher's output is given (``finetune(..., teacher=dense)`` / recipe ``distill: true``). Raises
    ValueError at the first step when neither is there (nothing to learn from)."""

    def finetune_loss(outputs, targets, teacher_outputs):
        parts = []
        if targets is not None and task_loss is not None:
            parts.append(task_loss(outputs, targets))
        if teacher_outputs is not None and distill_weight:
            parts.append(distill_weight * distillation(outputs, teacher_outputs, num_classes=num_classes,
                                                       reg_max=reg_max, strides=strides, box_weight=box_weight))
        if not parts:
            raise ValueError("the detection fine-tune loss got neither targets nor a teacher's output: give "
                             "(x, boxes, labels) batches or a teacher")
        return sum(parts[1:], parts[0])

    return finetune_loss


def training_batches(data, batch_size: int = 64, seed: int = 0) -> list[tuple]:
    """Shuffled ``(x, boxes, labels)`` torch batches of a :class:`~jetsonkit.examples.mnist_det.DetectionSet`:
    boxes ``[B, G, 4]`` xyxy pixels and labels ``[B, G]`` padded with -1 to the most boxes of a frame (the form
    compress's detection fine-tune feeds too); the last partial batch is dropped."""
    torch = require("torch", purpose="detector fine-tuning")
    most = max([len(b) for b in data.boxes] + [1])
    boxes = np.zeros((len(data), most, 4), np.float32)
    labels = np.full((len(data), most), -1, np.int64)
    for i, (b, c) in enumerate(zip(data.boxes, data.labels)):
        boxes[i, :len(b)], labels[i, :len(c)] = b, c
    x, boxes, labels = torch.from_numpy(data.nchw()), torch.from_numpy(boxes), torch.from_numpy(labels)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    return [(x[i], boxes[i], labels[i]) for i in order[: len(x) // batch_size * batch_size].split(batch_size)]
