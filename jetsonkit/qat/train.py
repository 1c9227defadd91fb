"""QAT fine-tuning: helpers for the user's own loop, and a short built-in loop with a per-epoch accuracy line.

In your own loop nothing changes after :func:`jetsonkit.qat.prepare`: ``model(x)`` runs the fake-quantized model,
``model.parameters()`` includes learnable scales, ``model.train()`` keeps frozen BatchNorms on their running
statistics. A pruned model keeps its 2:4 pattern if the masks are re-applied after each step
(``sparsity_masks(model).attach(optimizer)``), which the built-in loop does.

The built-in loop: Adam, learning rate decaying linearly to 0 (a short fine-tune from a trained model, as in
Jacob et al. 2018 and NVIDIA's QAT guidance: a small fraction of the original schedule); loss = cross-entropy on
labels, or distillation from the FP32 model (Hinton et al. 2015, ``T^2 KL``, the loss of
:func:`jetsonkit.sparsity.distillation_loss`) when ``distill=True`` — no labels needed.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .._deps import require
from .._progress import info
from .._train import Loss, linear_decay, resolve_loss, run_epoch

__all__ = ["QatTrainResult", "finetune", "sparsity_masks", "fp32_model", "summary", "evaluate_top1"]


@dataclass
class QatTrainResult:
    """What :func:`finetune` did: steps, time, per-epoch loss and (with eval data) per-epoch top-1."""

    epochs: int
    steps: int = 0
    seconds: float = 0.0
    mode: str = "labels"
    loss: str = "cross_entropy"  # the loss's name: cross_entropy, distillation, or the task's own
    epoch_losses: list[float] = field(default_factory=list)
    epoch_top1: list[float] = field(default_factory=list)
    top1_before: float | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def sparsity_masks(model: Any):
    """A :class:`jetsonkit.sparsity.MaskSet` of the prepared model's 2:4 layers, bound to the trained weights."""
    from ..sparsity.keep import MaskSet
    from .state import state_of

    state = state_of(model, "keep the 2:4 masks of")
    holders = {}
    for name in state.masks:
        module = model.get_submodule(name)
        holders[name] = types.SimpleNamespace(weight=module.parametrizations.weight.original)
    return MaskSet(holders, state.masks)


def fp32_model(model: Any) -> Any:
    """The FP32 teacher: the model as it was given to prepare, untouched by training."""
    from .state import state_of

    return state_of(model, "distil").template.eval()


def summary(model: Any):
    """The :class:`~jetsonkit.qat.state.QatSummary` of a prepared model (sites, layers left in float, BatchNorm)."""
    from .state import state_of

    return state_of(model, "summarise").summary


def evaluate_top1(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 of the (fake-quantized) torch model on arrays, in eval mode."""
    from ..sparsity.torchdata import top1

    was_training = model.training
    try:
        return top1(model, x, y, batch_size)
    finally:
        model.train(was_training)


def _param_groups(model: Any, lr: float, scale_lr: float) -> list[dict]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    scales = [p for n, p in named if n.endswith("log2_scale")]
    weights = [p for n, p in named if not n.endswith("log2_scale")]
    return [g for g in ({"params": weights, "lr": lr}, {"params": scales, "lr": scale_lr}) if g["params"]]


def finetune(model: Any, data: Iterable, *, loss: str | Loss | None = None, distill: bool = False,
             teacher: Any = None, epochs: int = 1, lr: float = 1e-4, scale_lr: float = 1e-2,
             max_steps: int | None = None,
             eval_data: tuple | None = None, temperature: float = 2.0) -> QatTrainResult:
    """Fine-tune a prepared ``model`` on ``data`` (re-iterable ``(x, y)`` or ``x`` batches); see the module doc.

    ``distill`` uses the FP32 model from prepare as the teacher (or ``teacher``); ``eval_data`` = ``(x, y)``
    arrays prints top-1 of the fake-quantized model after every epoch. 2:4 masks are kept. Learnable scales
    (``log2`` of the scale) train with ``scale_lr``, the weights with ``lr``. ``loss``: a task's own
    ``loss(outputs, targets, teacher_outputs)`` (or ``module:function``; :mod:`jetsonkit._train`).
    """
    torch = require("torch", purpose="QAT fine-tuning")
    teacher = teacher if teacher is not None else (fp32_model(model) if distill else None)
    masks = sparsity_masks(model)
    mode = "distill" if teacher is not None else "labels"
    loss, loss_name, class_labels = resolve_loss(loss, distill=teacher is not None, temperature=temperature)
    per_epoch = len(data) if hasattr(data, "__len__") else None
    total = max_steps or (per_epoch * epochs if per_epoch else None)
    opt = torch.optim.Adam(_param_groups(model, lr, scale_lr))
    sched = linear_decay(opt, total)
    handle = masks.attach(opt)
    result = QatTrainResult(epochs, mode=mode, loss=loss_name)
    if eval_data is not None:
        result.top1_before = evaluate_top1(model, *eval_data)
        info(f"qat: before fine-tuning: top-1 {100 * result.top1_before:.2f} % (fake-quant INT8)")
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            stats = run_epoch(model, data, opt, sched, loss=loss, class_labels=class_labels, teacher=teacher,
                              label="QAT", epoch=epoch, epochs=epochs, total_per_epoch=per_epoch, step=result.steps,
                              max_steps=max_steps)
            result.steps, seen = stats.steps, stats.samples
            result.epoch_losses.append(stats.mean_loss)
            line = f"qat epoch {epoch}/{epochs}: loss {result.epoch_losses[-1]:.4f} ({mode}), {seen} samples"
            if eval_data is not None:
                result.epoch_top1.append(evaluate_top1(model, *eval_data))
                line += f", top-1 {100 * result.epoch_top1[-1]:.2f} % (fake-quant INT8)"
            info(line + f", {time.perf_counter() - start:.1f} s")
            if max_steps and result.steps >= max_steps:
                break
    finally:
        handle.remove()
        model.eval()
    masks.verify()
    result.seconds = time.perf_counter() - start
    return result
