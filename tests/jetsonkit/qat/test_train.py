"""The built-in loop: labels or distillation (no labels), per-epoch accuracy line, 2:4 masks, bad batches."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jetsonkit import qat  # noqa: E402
from jetsonkit.errors import CheckFailed, DataError  # noqa: E402
from jetsonkit.sparsity.torchdata import batches  # noqa: E402

EXAMPLE = (1, 1, 28, 28)


def test_distillation_needs_no_labels_and_prints_the_epoch_line(sensitive_ptq, sensitive_model, mnist_train_1k,
                                                                 mnist_test, capsys):
    model = qat.prepare(sensitive_model, sensitive_ptq[1], torch.zeros(EXAMPLE), learn_scales=True)
    teacher = qat.fp32_model(model)
    teacher_state = copy.deepcopy(teacher.state_dict())
    x = mnist_train_1k[0][:512]
    ev = (mnist_test[0][:500], mnist_test[1][:500])
    result = qat.finetune(model, batches(x, None, 64), distill=True, epochs=2, lr=1e-3, scale_lr=3e-2, eval_data=ev)
    assert result.mode == "distill" and result.steps == 16 and len(result.epoch_top1) == 2
    assert result.epoch_losses[1] < result.epoch_losses[0]
    assert result.epoch_top1[-1] > result.top1_before  # distillation alone already recovers part of the loss
    err = capsys.readouterr().err
    assert "qat epoch 2/2: loss" in err and "(distill)" in err and "top-1" in err
    assert all(torch.equal(v, teacher_state[k]) for k, v in teacher.state_dict().items())  # teacher untouched


def test_unlabelled_batches_without_distillation_are_refused(sensitive_ptq, sensitive_model, mnist_train_1k):
    model = qat.prepare(sensitive_model, sensitive_ptq[1], torch.zeros(EXAMPLE))
    with pytest.raises(DataError, match="QAT batch 0 has no labels"):
        qat.finetune(model, batches(mnist_train_1k[0][:64], None, 32))


def test_masks_are_kept_in_the_built_in_loop_and_lost_masks_are_caught(mnist_model, mnist_train_1k, tmp_path):
    from jetsonkit.sparsity import holds_2to4, prune_2to4

    model = copy.deepcopy(mnist_model)
    prune_2to4(model)
    qat.prepare(model, {"input": 2.8, "/features/features.2/MaxPool_output_0": 4.0, "/Flatten_output_0": 8.0,
                        "/classifier/classifier.1/Relu_output_0": 8.0}, torch.zeros(EXAMPLE))
    x, y = mnist_train_1k[0][:128], mnist_train_1k[1][:128]
    qat.finetune(model, batches(x, y, 64), lr=1e-2)  # a large step: without the masks zeros would move
    w = model.features[3].parametrizations.weight.original.detach().numpy().copy()
    assert holds_2to4(w, axis=1)
    original = model.features[3].parametrizations.weight.original
    with torch.no_grad():  # a user loop that forgets the masks: pruned weights grow back ...
        original[original == 0] = float(original.abs().max()) / 4
    with pytest.raises(CheckFailed, match="lost its 2:4 pattern.*sparsity_masks"):
        qat.export(model, torch.zeros(EXAMPLE), tmp_path / "lost.onnx")  # ... is caught at export
    assert not (tmp_path / "lost.onnx").exists()
    np.testing.assert_array_equal(w != 0, qat.sparsity_masks(model).mask("features.3").numpy())
    qat.sparsity_masks(model).apply()  # re-applying the masks repairs it
    assert qat.export(model, torch.zeros(EXAMPLE), tmp_path / "ok.onnx").sparse_layers == ["features.3",
                                                                                          "classifier.0"]
