"""The one short-training loop behind 2:4 fine-tuning and QAT: settings, batches, loss, steps.

Both callers own their optimizer, schedule and result type; this module owns what they share: the fine-tuning
knobs (:class:`FinetuneSettings`, which :class:`jetsonkit.qat.stage.QatSettings` extends), reading a batch, the loss,
the step, and the per-epoch bookkeeping.

The loss is one contract, ``loss(outputs, targets, teacher_outputs) -> scalar tensor``:

- default with labels: cross-entropy on ``targets`` (``[batch]`` class indices, checked);
- default with a teacher (``distill``): Hinton et al. 2015, "Distilling the Knowledge in a Neural Network",
  ``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, so no labels are needed;
- a task's own loss (a callable, or ``module:function`` in the settings), e.g. a detection loss: ``targets`` is
  whatever the batch carries after ``x`` (one item as it is, several as a tuple, none as None) and is not checked;
  ``teacher_outputs`` is the teacher's output for the batch with ``distill``, else None.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ._deps import require
from ._progress import progress
from .errors import DataError, InputError
from .modelspec import import_function
from .settings import SettingError, option

__all__ = ["FinetuneSettings", "Loss", "resolve_loss", "distillation_loss", "linear_decay", "split_batch",
           "run_epoch", "EpochStats", "torch_threads"]

Loss = Callable[[Any, Any, Any], Any]  # (outputs, targets, teacher_outputs) -> scalar tensor
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class FinetuneSettings:
    """The short fine-tune's knobs, declared once: ``jetsonkit prune``'s and ``jetsonkit qat``'s flags and the
    recipe's ``stages.prune.finetune`` / ``stages.qat`` sections are read off these fields."""

    epochs: int = option(1, "passes over the training data", minimum=1)
    lr: float = option(1e-4, "Adam learning rate, decaying linearly to 0 over the run", positive=True)
    batch_size: int = option(64, "samples per optimizer step", minimum=1)
    max_steps: int | None = option(None, "stop after this many optimizer steps", minimum=1)
    distill: bool = option(False, "distil from the model as it was before (labels not needed)")
    loss: str | None = option(None, "training loss as module:function(outputs, targets, teacher_outputs) -> "
                              "scalar (default: cross-entropy on labels; distillation with --distill)")

    def validate(self) -> None:
        if self.loss is not None and not _CALLABLE.match(self.loss):
            raise SettingError("loss", f"loss {self.loss!r} is not module:function",
                               hint="e.g. mypkg.losses:detection, a function loss(outputs, targets, teacher_outputs)")


def _import_loss(spec: str) -> Loss:
    try:
        return import_function(spec)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot load the training loss {spec!r}: {type(exc).__name__}: {exc}",
                         hint="give module:function importable from the current folder or PYTHONPATH") from None
    except TypeError as exc:
        raise InputError(f"training loss {exc}",
                         hint="name a function loss(outputs, targets, teacher_outputs) -> scalar tensor") from None


def resolve_loss(loss: str | Loss | None, *, distill: bool, temperature: float = 2.0) -> tuple[Loss, str, bool]:
    """``(loss, name, class_labels)``: the 3-argument loss to train with, its name for results, and whether
    batches must carry ``[batch]`` class-index labels (only the default labelled loss needs them)."""
    if loss is not None:
        fn = _import_loss(loss) if isinstance(loss, str) else loss
        return fn, loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__), False
    if distill:
        return (lambda out, y, teacher_out: distillation_loss(out, teacher_out, temperature)), "distillation", False
    torch = require("torch", purpose="training")
    return (lambda out, y, teacher_out: torch.nn.functional.cross_entropy(out, y)), "cross_entropy", True


@contextmanager
def torch_threads(threads: int | None):
    """PyTorch's intra-op thread count set to ``threads`` inside the block (None: left as it is)."""
    if threads is None:
        yield
        return
    torch = require("torch", purpose="training")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    """``(x, y)`` from a ``(x, y)`` / ``(x,)`` / ``x`` batch (``(x, a, b, ...)``: y is ``(a, b, ...)``); DataError
    when class labels are needed and missing or unfit."""
    if isinstance(batch, (tuple, list)):
        x, y = batch[0], (batch[1] if len(batch) == 2 else tuple(batch[1:]) or None)
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


def run_epoch(model, data: Iterable, opt, sched, *, loss: Loss, class_labels: bool, teacher=None,
              label: str, epoch: int, epochs: int, total_per_epoch: int | None, step: int,
              max_steps: int | None) -> EpochStats:
    """One pass over ``data`` (stopping at ``max_steps`` steps in all): forward, loss, backward, step, schedule.
    ``loss`` and ``class_labels`` come from :func:`resolve_loss`; ``teacher`` (eval mode) feeds its third argument."""
    torch = require("torch", purpose="training")
    model.train()
    seen, loss_sum = 0, 0.0
    for i, batch in enumerate(progress(data, f"{label} epoch {epoch}/{epochs}", total=total_per_epoch)):
        x, y = split_batch(batch, i, need_labels=class_labels, what=label)
        out = _forward(model, x, i, label)
        teacher_out = None
        if teacher is not None:
            with torch.no_grad():
                teacher_out = teacher(x)
        value = loss(out, y, teacher_out)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        if sched:
            sched.step()
        step += 1
        loss_sum, seen = loss_sum + float(value.detach()) * x.shape[0], seen + int(x.shape[0])
        if max_steps and step >= max_steps:
            break
    return EpochStats(loss_sum / max(seen, 1), seen, step)
