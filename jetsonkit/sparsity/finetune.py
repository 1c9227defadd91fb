"""A short built-in fine-tune that keeps 2:4 masks fixed: labels + loss, or distillation from the dense model.

Recipe: NVIDIA ASP's (Mishra et al. 2021, arXiv:2104.08378): prune once, keep the masks, retrain the kept weights.
Here the budget is short — Adam with a learning rate that decays linearly to zero over the run's steps.
Distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"): the loss is
``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, so no labels are needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .._deps import require
from .._progress import info, progress
from ..errors import DataError
from .keep import MaskSet


@dataclass
class FinetuneResult:
    epochs: int
    steps: int
    seconds: float
    epoch_losses: list[float] = field(default_factory=list)
    mode: str = "labels"  # or "distill"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def distillation_loss(student_logits, teacher_logits, temperature: float = 2.0):
    """Hinton et al. 2015 soft-target loss, scaled by T^2 so its gradient size does not depend on T."""
    torch = require("torch", purpose="distillation")
    t = float(temperature)
    log_p = torch.nn.functional.log_softmax(student_logits / t, dim=-1)
    q = torch.nn.functional.softmax(teacher_logits / t, dim=-1)
    return torch.nn.functional.kl_div(log_p, q, reduction="batchmean") * t * t


def _split_batch(batch, index: int, need_labels: bool):
    if isinstance(batch, (tuple, list)):
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        x, y = batch, None
    if need_labels and y is None:
        raise DataError(f"fine-tuning batch {index} has no labels", hint="give (x, y) batches, or a teacher to distil from")
    if need_labels and (y.dim() != 1 or y.shape[0] != x.shape[0]):
        raise DataError(f"fine-tuning batch {index}: labels of shape {tuple(y.shape)} do not match "
                        f"inputs of shape {tuple(x.shape)}", hint="labels must be [batch] class indices")
    return x, y


def _forward(model, x, index: int):
    try:
        return model(x)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"fine-tuning batch {index} of shape {tuple(x.shape)} does not fit the model: "
                        f"{str(exc).splitlines()[0]}", hint="give batches shaped like the model's input") from exc


def finetune(model, data: Iterable, masks: MaskSet, *, loss_fn: Callable | None = None, teacher=None,
             epochs: int = 1, lr: float = 1e-4, max_steps: int | None = None, temperature: float = 2.0,
             label: str = "fine-tune") -> FinetuneResult:
    """Train ``model`` on ``data`` (re-iterable batches ``(x, y)`` or ``x``) with the masks kept after every step.

    With ``teacher`` (the dense model) the loss is distillation and labels are not needed; otherwise ``loss_fn``
    (default cross-entropy) on ``(logits, y)``. Prints one line per epoch. Raises DataError for unfit batches.
    """
    torch = require("torch", purpose="fine-tuning")
    mode = "distill" if teacher is not None else "labels"
    loss_fn = loss_fn or torch.nn.functional.cross_entropy
    steps_per_epoch = len(data) if hasattr(data, "__len__") else None
    total = max_steps or (steps_per_epoch * epochs if steps_per_epoch else None)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total)) if total else None
    handle = masks.attach(opt)
    if teacher is not None:
        teacher.eval()
    result, start, step = FinetuneResult(epochs, 0, 0.0, mode=mode), time.perf_counter(), 0
    try:
        model.train()
        for epoch in range(1, epochs + 1):
            seen, loss_sum, t0 = 0, 0.0, time.perf_counter()
            for i, batch in enumerate(progress(data, f"{label} epoch {epoch}/{epochs}", total=steps_per_epoch)):
                x, y = _split_batch(batch, i, need_labels=teacher is None)
                out = _forward(model, x, i)
                if teacher is not None:
                    with torch.no_grad():
                        target = teacher(x)
                    loss = distillation_loss(out, target, temperature)
                else:
                    loss = loss_fn(out, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched:
                    sched.step()
                step += 1
                loss_sum, seen = loss_sum + float(loss.detach()) * x.shape[0], seen + int(x.shape[0])
                if max_steps and step >= max_steps:
                    break
            result.epoch_losses.append(loss_sum / max(seen, 1))
            info(f"{label} epoch {epoch}/{epochs}: loss {result.epoch_losses[-1]:.4f} ({mode}), {seen} samples, "
                 f"lr now {opt.param_groups[0]['lr']:.2e}, {time.perf_counter() - t0:.1f} s")
            if max_steps and step >= max_steps:
                break
    finally:
        handle.remove()
        model.eval()
    masks.verify()
    result.steps, result.seconds = step, time.perf_counter() - start
    return result
