"""Pruning a PyTorch model: eligibility verdicts, masks applied, masks kept in a training loop, fine-tune errors."""

from __future__ import annotations

import pytest

from jetsonkit.errors import CheckFailed, DataError, InputError
from jetsonkit.sparsity import finetune, holds_2to4, prune_2to4
from jetsonkit.sparsity.torchdata import batches

from .conftest import build_mixed_net


def test_verdicts_and_masks(torch_mod):
    model = build_mixed_net(torch_mod)
    before = {n: m.weight.detach().clone() for n, m in model.named_modules() if hasattr(m, "weight")}
    result = prune_2to4(model)
    verdicts = {r.name: r for r in result.layers}
    assert result.pruned_layers == ["conv", "conv1d", "fc"]
    assert "in=3" in verdicts["stem"].reason and "groups=32" in verdicts["depthwise"].reason
    assert "out=10" in verdicts["head"].reason
    for name in ("conv", "conv1d", "fc"):
        w = dict(model.named_modules())[name].weight.detach().numpy()
        assert holds_2to4(w, axis=1) and verdicts[name].zero_fraction == 0.5
        assert 0.5 < verdicts[name].retained < 1.0
    for name in ("stem", "depthwise", "head"):
        assert torch_mod.equal(dict(model.named_modules())[name].weight, before[name])


def test_include_exclude_patterns(torch_mod):
    result = prune_2to4(build_mixed_net(torch_mod), include=["conv*"], exclude=["conv1d"])
    assert result.pruned_layers == ["conv"]
    assert {r.name: r.reason for r in result.layers}["fc"] == "not matched by --include"


def test_pattern_matching_nothing_is_an_error(torch_mod):
    with pytest.raises(InputError, match="'convv' matches no weighted layer"):
        prune_2to4(build_mixed_net(torch_mod), include=["convv"])


def test_no_eligible_layer_fails_the_check(torch_mod):
    with pytest.raises(CheckFailed, match="no layer is eligible.*0: out=10"):
        prune_2to4(torch_mod.nn.Sequential(torch_mod.nn.Linear(16, 10)))
    assert CheckFailed.exit_code == 1


def _train_steps(torch, model, steps=5, weight_decay=0.1):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=weight_decay)
    x = torch.randn(8, 3, 8, 8)
    for _ in range(steps):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    return opt


def test_masks_kept_by_attach_and_lost_without(torch_mod):
    model = build_mixed_net(torch_mod)
    masks = prune_2to4(model).masks
    opt = torch_mod.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    handle = masks.attach(opt)
    x = torch_mod.randn(8, 3, 8, 8)
    for _ in range(5):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    masks.verify()
    handle.remove()
    opt.zero_grad()
    model(x).square().mean().backward()
    opt.step()
    assert masks.violations() == ["conv", "conv1d", "fc"]
    with pytest.raises(CheckFailed, match="masks lost in 3 layer.*conv, conv1d, fc"):
        masks.verify()


def test_mask_gradients_with_plain_sgd(torch_mod):
    model = build_mixed_net(torch_mod)
    masks = prune_2to4(model).masks
    handle = masks.mask_gradients()
    opt = torch_mod.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    model(torch_mod.randn(4, 3, 8, 8)).square().mean().backward()
    opt.step()
    handle.remove()
    assert masks.violations() == []


def _labelled(torch, n=32):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 8, 8, generator=g).numpy(), torch.randint(0, 10, (n,), generator=g).numpy()


def test_finetune_labels_and_distillation_keep_masks(torch_mod):
    import copy

    model = build_mixed_net(torch_mod)
    dense = copy.deepcopy(model)
    result = prune_2to4(model)
    x, y = _labelled(torch_mod)
    ft = finetune(model, batches(x, y, batch_size=8), result.masks, lr=1e-3, epochs=2)
    assert ft.steps == 8 and len(ft.epoch_losses) == 2 and ft.mode == "labels"
    kd = finetune(model, batches(x, None, batch_size=8), result.masks, teacher=dense, lr=1e-3, max_steps=3)
    assert kd.mode == "distill" and kd.steps == 3 and kd.epoch_losses[0] > 0
    assert result.masks.violations() == []


def test_finetune_data_of_wrong_shape(torch_mod):
    model = build_mixed_net(torch_mod)
    masks = prune_2to4(model).masks
    x, y = _labelled(torch_mod)
    with pytest.raises(DataError, match=r"batch 0 of shape \(8, 8, 8, 3\) does not fit the model"):
        finetune(model, batches(x.transpose(0, 2, 3, 1), y, batch_size=8), masks)
    with pytest.raises(DataError, match="labels of shape"):
        batches(x, y[:5])
    with pytest.raises(DataError, match="has no labels"):
        finetune(model, batches(x, None), masks)


def test_transposed_conv_is_listed_with_its_reason(torch_mod):
    model = torch_mod.nn.Sequential(torch_mod.nn.ConvTranspose2d(16, 16, 2), torch_mod.nn.Flatten(),
                                    torch_mod.nn.Linear(16, 16))
    verdicts = {r.name: r for r in prune_2to4(model).layers}
    assert not verdicts["0"].pruned and "transposed conv" in verdicts["0"].reason and verdicts["2"].pruned
