"""A short built-in fine-tune that keeps 2:4 masks fixed: labels + loss, or distillation from the dense model.

Recipe: NVIDIA ASP's (Mishra et al. 2021, arXiv:2104.08378): prune once, keep the masks, retrain the kept weights.
Here the budget is short — Adam with a learning rate that decays linearly to zero over the run's steps.
Distillation (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"): the loss is
``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, so no labels are needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from .._deps import require
from .._progress import info
from .._train import Loss, linear_decay, resolve_loss, run_epoch
from .._train import distillation_loss  # noqa: F401 (public here)
from .keep import MaskSet


@dataclass
class FinetuneResult:
    epochs: int
    steps: int
    seconds: float
    epoch_losses: list[float] = field(default_factory=list)
    mode: str = "labels"  # or "distill"
    loss: str = "cross_entropy"  # the loss's name: cross_entropy, distillation, or the task's own

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def finetune(model, data: Iterable, masks: MaskSet, *, loss: str | Loss | None = None, teacher=None,
             epochs: int = 1, lr: float = 1e-4, max_steps: int | None = None, temperature: float = 2.0,
             label: str = "fine-tune") -> FinetuneResult:
    """Train ``model`` on ``data`` (re-iterable batches ``(x, y)``, ``x`` or ``(x, *targets)``) with the masks kept
    after every step.

    With ``teacher`` (the dense model) the default loss is distillation and labels are not needed; otherwise
    cross-entropy on ``(logits, y)``. ``loss``: a task's own ``loss(outputs, targets, teacher_outputs)`` (a callable
    or ``module:function``; the contract is :mod:`jetsonkit._train`'s), e.g. a detection loss on box targets, which
    gets the teacher's outputs when ``teacher`` is given. Logs one line per epoch. Raises DataError for unfit batches.
    """
    torch = require("torch", purpose="fine-tuning")
    mode = "distill" if teacher is not None else "labels"
    loss, loss_name, class_labels = resolve_loss(loss, distill=teacher is not None, temperature=temperature)
    steps_per_epoch = len(data) if hasattr(data, "__len__") else None
    total = max_steps or (steps_per_epoch * epochs if steps_per_epoch else None)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    sched = linear_decay(opt, total)
    handle = masks.attach(opt)
    if teacher is not None:
        teacher.eval()
    result, start, step = FinetuneResult(epochs, 0, 0.0, mode=mode, loss=loss_name), time.perf_counter(), 0
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            stats = run_epoch(model, data, opt, sched, loss=loss, class_labels=class_labels, teacher=teacher,
                              label=label, epoch=epoch, epochs=epochs, total_per_epoch=steps_per_epoch, step=step,
                              max_steps=max_steps)
            step = stats.steps
            result.epoch_losses.append(stats.mean_loss)
            info(f"{label} epoch {epoch}/{epochs}: loss {stats.mean_loss:.4f} ({loss_name}), {stats.samples} "
                 f"samples, lr now {opt.param_groups[0]['lr']:.2e}, {time.perf_counter() - t0:.1f} s")
            if max_steps and step >= max_steps:
                break
    finally:
        handle.remove()
        model.eval()
    masks.verify()
    result.steps, result.seconds = step, time.perf_counter() - start
    return result
