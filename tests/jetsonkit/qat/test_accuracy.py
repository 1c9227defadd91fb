"""QAT accuracy on the real MNIST test split (10k): the figures the README quotes. Slow: real fine-tuning."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from jetsonkit import qat  # noqa: E402
from jetsonkit.evaluate import top1  # noqa: E402
from jetsonkit.examples import mnist  # noqa: E402
from jetsonkit.qat.train import evaluate_top1  # noqa: E402
from jetsonkit.sparsity.torchdata import batches  # noqa: E402

from .conftest import ptq_path, structure  # noqa: E402

pytestmark = pytest.mark.slow
EXAMPLE = (1, 1, 28, 28)


def test_sensitive_model_full_int8_qat_recovers_within_0_3_points(sensitive_ptq, mnist_test, tmp_path):
    """PTQ with every layer INT8 loses > 1 point; QAT (learned scales, 1 epoch of 20k images) recovers."""
    from jetsonkit.examples import sensitive

    fp32_onnx, table, ptq = sensitive_ptq
    x, y = mnist_test
    fp32, ptq_top1 = top1(fp32_onnx, x, y), top1(ptq, x, y)
    assert fp32 - ptq_top1 > 0.01
    model = qat.prepare(sensitive.build_model(), table, torch.zeros(EXAMPLE), learn_scales=True)
    assert not qat.summary(model).kept_float  # every layer INT8
    train = batches(*mnist.load_split("train", limit=20000), batch_size=64)
    qat.finetune(model, train, epochs=1, lr=3e-3, scale_lr=5e-2)
    torch_top1 = evaluate_top1(model, x, y)
    path = qat.export(model, torch.zeros(EXAMPLE), tmp_path / "sensitive.qat.onnx").path
    ort_top1 = top1(path, x, y)
    print(f"sensitive: FP32 {fp32:.4f}, PTQ INT8 {ptq_top1:.4f}, QAT torch {torch_top1:.4f}, QAT ORT {ort_top1:.4f}")
    assert fp32 - ort_top1 <= 0.003
    assert abs(ort_top1 - torch_top1) <= 0.0005


def test_mnist_cnn_2to4_sparse_qat_int8_within_0_3_points_of_dense(mnist_model, mnist_train_1k, mnist_test, tmp_path):
    """Dense FP32 99.05 % -> 2:4 pruned -> QAT INT8 (masks kept): the exported Q/DQ model stays >= 98.75 %."""
    import copy

    from jetsonkit.sparsity import prune_2to4, report_onnx

    model = copy.deepcopy(mnist_model)
    pruned = prune_2to4(model).pruned_layers
    qat.prepare(model, mnist_train_1k[0], torch.zeros(EXAMPLE), learn_scales=True, method="percentile")
    assert qat.summary(model).sparse_layers == pruned
    train = batches(*mnist.load_split("train", limit=10000), batch_size=64)
    qat.finetune(model, train, epochs=1, lr=3e-4, scale_lr=1e-2)
    x, y = mnist_test
    torch_top1 = evaluate_top1(model, x, y)
    result = qat.export(model, torch.zeros(EXAMPLE), tmp_path / "mnist.2to4.qat.onnx")
    ort_top1 = top1(result.path, x, y)
    print(f"mnist 2:4 + QAT INT8: torch {torch_top1:.4f}, ORT {ort_top1:.4f}, sparse {result.sparse_layers}")
    assert result.sparse_layers == pruned
    report = report_onnx(result.path)
    assert {r.layer for r in report.sparse} >= {f"/{p.split('.')[0]}/{p}/{'Conv' if p.startswith('f') else 'Gemm'}"
                                                for p in pruned}
    assert ort_top1 >= mnist.FP32_TEST_TOP1 - 0.003
    assert abs(ort_top1 - torch_top1) <= 0.0005
    pruned_model = copy.deepcopy(mnist_model)
    prune_2to4(pruned_model)
    _, _, ptq = ptq_path(pruned_model, torch.zeros(EXAMPLE), mnist_train_1k[0], tmp_path, "mnist_2to4")
    assert structure(result.path) == structure(ptq)  # what `jetsonkit quantize` writes for the pruned model
