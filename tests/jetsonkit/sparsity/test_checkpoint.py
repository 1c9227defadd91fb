"""The pruned checkpoint: weights_only loading, and lost masks reported with the layer."""

from __future__ import annotations

import copy

import pytest

from jetsonkit.errors import CheckFailed, ModelLoadError
from jetsonkit.sparsity import load_pruned, restore_pruned, save_pruned


def test_checkpoint_round_trip_with_weights_only(pruned_mnist, tmp_path):
    import torch

    _, model, result = pruned_mnist
    path = save_pruned(model, tmp_path / "p.pt", result.pruned_layers, meta={"top1": 0.99, "recipe": tmp_path})
    raw = torch.load(path, weights_only=True)
    assert raw["sparse_layers"] == ["features.3", "classifier.0"] and raw["meta"]["top1"] == 0.99
    assert raw["meta"]["recipe"] == str(tmp_path)  # a Path would not load with weights_only=True
    fresh = type(model)(28)
    masks = restore_pruned(fresh, path)
    assert torch.equal(fresh.features[3].weight, model.features[3].weight)
    assert masks.layer_names == result.pruned_layers and masks.violations() == []
    with pytest.raises(ModelLoadError, match="does not fit the model"):
        restore_pruned(torch.nn.Linear(3, 3), path)


def test_lost_masks_are_a_verification_failure(pruned_mnist, tmp_path):
    import torch

    _, model, result = pruned_mnist
    path = save_pruned(model, tmp_path / "p.pt", result.pruned_layers)
    raw = torch.load(path, weights_only=True)
    raw["state_dict"]["classifier.0.weight"] += 0.01  # as if fine-tuned without keeping masks
    torch.save(raw, tmp_path / "lost.pt")
    with pytest.raises(CheckFailed, match=r"masks lost in layer\(s\) classifier.0 \(100.0% of groups"):
        load_pruned(tmp_path / "lost.pt")
    broken = copy.deepcopy(model)
    broken.features[3].weight.data += 1.0
    with pytest.raises(CheckFailed, match="features.3"):  # refuses to write a checkpoint that breaks 2:4
        save_pruned(broken, tmp_path / "never.pt", result.pruned_layers)
    assert not (tmp_path / "never.pt").exists()


def test_not_a_checkpoint(tmp_path, mnist_model):
    import torch

    torch.save(mnist_model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ModelLoadError, match="not a jetsonkit pruned checkpoint"):
        load_pruned(tmp_path / "plain.pt")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_pruned(tmp_path / "missing.pt")
