"""A task's own training loss plugs into the 2:4 fine-tune and QAT: ``loss(outputs, targets, teacher_outputs)``."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

from jetsonkit._train import FinetuneSettings, resolve_loss
from jetsonkit.errors import InputError
from jetsonkit.settings import SettingError, check
from jetsonkit.sparsity import finetune, prune_2to4

from .conftest import build_mixed_net


def _boxes_loader(torch, n=32):
    """Batches ``(x, boxes, weights)``: float targets of shape [batch, 10] that the class-label check refuses."""
    g = torch.Generator().manual_seed(2)
    x, boxes, weights = torch.randn(n, 3, 8, 8, generator=g), torch.randn(n, 10, generator=g), torch.rand(n, 10)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, boxes, weights), batch_size=8)


def test_a_custom_loss_gets_every_target_and_the_teacher_output(torch_mod):
    model = build_mixed_net(torch_mod)
    dense = copy.deepcopy(model)
    masks = prune_2to4(model).masks
    seen = []

    def weighted_mse(out, targets, teacher_out):
        boxes, weights = targets  # (x, boxes, weights) batches: every item after x, as a tuple
        seen.append(teacher_out is None)
        loss = (weights * (out - boxes) ** 2).mean()
        return loss if teacher_out is None else loss + ((out - teacher_out) ** 2).mean()

    first = finetune(model, _boxes_loader(torch_mod), masks, loss=weighted_mse, lr=1e-2, epochs=3)
    assert first.loss == "weighted_mse" and first.steps == 12 and seen == [True] * 12
    assert first.epoch_losses[-1] < first.epoch_losses[0]  # it trains on the given loss
    kd = finetune(model, _boxes_loader(torch_mod), masks, loss=weighted_mse, teacher=dense, max_steps=2)
    assert kd.mode == "distill" and seen[-2:] == [False, False] and masks.violations() == []


def test_a_loss_by_name(torch_mod, tmp_path, monkeypatch):
    (tmp_path / "my_losses.py").write_text("def l1(out, targets, teacher_out):\n"
                                           "    return (out - targets[0]).abs().mean()\n")
    monkeypatch.chdir(tmp_path)  # found in the current folder, as python -m would (the console script drops it)
    model = build_mixed_net(torch_mod)
    result = finetune(model, _boxes_loader(torch_mod), prune_2to4(model).masks, loss="my_losses:l1", max_steps=1)
    assert result.loss == "my_losses:l1" and result.steps == 1
    sys.modules.pop("my_losses", None)


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:loss", "cannot load the training loss 'no_such_module_xyz:loss': ModuleNotFoundError"),
    ("jetsonkit._train:FORMAT_IS_NOT_HERE", "AttributeError"),
    ("jetsonkit._train:__all__", "is a list, not a function"),
])
def test_a_loss_that_cannot_be_loaded(spec, message):
    with pytest.raises(InputError, match=message):
        resolve_loss(spec, distill=False)


def test_a_loss_setting_must_name_a_function():
    with pytest.raises(SettingError, match="not module:function") as info:
        check(FinetuneSettings(loss="detection"))
    assert info.value.key == "loss"
    assert check(FinetuneSettings(loss="pkg.losses:detection")).loss == "pkg.losses:detection"


def test_the_default_losses_need_what_they_say(torch_mod):
    out, y = torch_mod.tensor([[2.0, 0.0]]), torch_mod.tensor([0])
    ce, name, labels = resolve_loss(None, distill=False)
    assert (name, labels) == ("cross_entropy", True)
    assert float(ce(out, y, None)) == pytest.approx(float(np.log1p(np.exp(-2.0))), rel=1e-6)
    kd, name, labels = resolve_loss(None, distill=True)
    assert (name, labels) == ("distillation", False) and float(kd(out, None, out)) == pytest.approx(0.0, abs=1e-7)
