"""The one short-training loop behind 2:4 fine-tuning and QAT: batches, loss (labels or distillation), steps.

Both callers own their optimizer, schedule and result type; this module owns what they share: reading a batch,
the loss, the step, and the per-epoch bookkeeping. Distillation (Hinton et al. 2015, "Distilling the Knowledge in a
Neural Network"): ``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, so no labels are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ._deps import require
from ._progress import progress
from .errors import DataError


def distillation_loss(student_logits, teacher_logits, temperature: float = 2.0):
    """Hinton et al. 2015 soft-target loss, scaled by T^2 so its gradient size does not depend on T."""
    torch = require("torch", purpose="distillation")
    t = float(temperature)
    log_p = torch.nn.functional.log_softmax(student_logits / t, dim=-1)
    q = torch.nn.functional.softmax(teacher_logits / t, dim=-1)
    return torch.nn.functional.kl_div(log_p, q, reduction="batchmean") * t * t


def linear_decay(opt, total: int | None):
    """A schedule taking every learning rate linearly to 0 over ``total`` steps (None: constant)."""
    torch = require("torch", purpose="training")
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total)) if total else None


def split_batch(batch: Any, index: int, need_labels: bool, what: str):
    """``(x, y)`` from a ``(x, y)`` / ``(x,)`` / ``x`` batch; DataError when labels are needed and missing or unfit."""
    if isinstance(batch, (tuple, list)):
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        x, y = batch, None
    if need_labels and y is None:
        raise DataError(f"{what} batch {index} has no labels", hint="give (x, y) batches, or a teacher to distil from")
    if need_labels and (y.dim() != 1 or y.shape[0] != x.shape[0]):
        raise DataError(f"{what} batch {index}: labels of shape {tuple(y.shape)} do not match "
                        f"inputs of shape {tuple(x.shape)}", hint="labels must be [batch] class indices")
    return x, y


def _forward(model, x, index: int, what: str):
    try:
        return model(x)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"{what} batch {index} of shape {tuple(x.shape)} does not fit the model: "
                        f"{str(exc).splitlines()[0]}", hint="give batches shaped like the model's input") from exc


@dataclass
class EpochStats:
    mean_loss: float
    samples: int
    steps: int  # steps taken so far, all epochs together


def run_epoch(model, data: Iterable, opt, sched, *, loss_fn: Callable, teacher=None, temperature: float = 2.0,
              label: str, epoch: int, epochs: int, total_per_epoch: int | None, step: int,
              max_steps: int | None) -> EpochStats:
    """One pass over ``data`` (stopping at ``max_steps`` steps in all): forward, loss, backward, step, schedule."""
    torch = require("torch", purpose="training")
    model.train()
    seen, loss_sum = 0, 0.0
    for i, batch in enumerate(progress(data, f"{label} epoch {epoch}/{epochs}", total=total_per_epoch)):
        x, y = split_batch(batch, i, need_labels=teacher is None, what=label)
        out = _forward(model, x, i, label)
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
    return EpochStats(loss_sum / max(seen, 1), seen, step)
