"""QAT export: node for node the graph `jetsonkit quantize` writes, with the trained scales; torch == ORT."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jetsonkit import qat  # noqa: E402
from jetsonkit.errors import InputError  # noqa: E402
from jetsonkit.evaluate import predict, top1  # noqa: E402
from jetsonkit.qat.train import evaluate_top1  # noqa: E402

from .conftest import initializer, short_train, structure  # noqa: E402

EXAMPLE = (1, 1, 28, 28)


@pytest.fixture(scope="module")
def trained_sensitive(sensitive_ptq, mnist_train_1k, session_tmp):
    """The sensitive model prepared from the PTQ table, learned scales, 30 steps of training, exported."""
    from jetsonkit.examples import sensitive

    _, table, _ = sensitive_ptq
    model = qat.prepare(sensitive.build_model(), table, torch.zeros(EXAMPLE), learn_scales=True)
    short_train(model, *mnist_train_1k, steps=30)
    path = session_tmp / "sensitive.qat.onnx"
    return model, qat.export(model, torch.zeros(EXAMPLE), path), path


def test_structure_equals_jetsonkit_quantize_node_for_node(sensitive_ptq, trained_sensitive):
    _, _, ptq = sensitive_ptq
    _, result, path = trained_sensitive
    nodes_qat, inits_qat, io_qat = structure(path)
    nodes_ptq, inits_ptq, io_ptq = structure(ptq)
    assert [n[0] for n in nodes_qat].count("QuantizeLinear") == 4
    assert nodes_qat == nodes_ptq
    assert inits_qat == inits_ptq and io_qat == io_ptq


def test_exported_scales_are_the_trained_ones(sensitive_ptq, trained_sensitive):
    _, table, ptq = sensitive_ptq
    model, result, path = trained_sensitive
    quantizers = model.jetsonkit_qat.activation_quantizers()
    assert set(result.simulated_sites) == set(quantizers) == {"input", "/Relu_output_0", "/Flatten_output_0",
                                                            "/Relu_2_output_0"}
    moved = 0
    for tensor, q in quantizers.items():
        exported = initializer(path, f"{tensor}_scale")
        assert exported == np.float32(q.scale.detach())  # bit for bit
        moved += not np.isclose(exported, initializer(ptq, f"{tensor}_scale"), rtol=1e-4)
    assert moved >= 2  # training moved the scales away from the calibration table's
    fc2 = model.fc2.parametrizations.weight
    np.testing.assert_array_equal(initializer(path, "fc2.weight_scale"), torch.exp2(fc2[0].log2_scale).detach().numpy())
    w = fc2.original.detach().numpy()
    codes = np.clip(np.rint(w / torch.exp2(fc2[0].log2_scale).detach().numpy()[:, None]), -127, 127)
    np.testing.assert_array_equal(initializer(path, "fc2.weight_quantized"), codes.astype(np.int8))


def test_onnxruntime_equals_torch_fake_quant(trained_sensitive, mnist_test):
    model, _, path = trained_sensitive
    x, y = mnist_test[0][:3000], mnist_test[1][:3000]
    torch_top1, ort_top1 = evaluate_top1(model, x, y), top1(path, x, y)
    assert abs(torch_top1 - ort_top1) <= 0.0005 + 1e-12, (torch_top1, ort_top1)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = predict(path, x)
    # torch and ONNX Runtime may round a value that sits on a rounding tie (to float precision) to neighbouring
    # codes: one quantization step of disagreement is legitimate. fc2 is the last layer, so one step at its input
    # (the last quantized site) moves logit j by at most scale * max_k |W[j, k]|: that is the bound per logit.
    step = float(initializer(path, "/Relu_2_output_0_scale"))
    w = initializer(path, "fc2.weight_quantized").astype(np.float32) * initializer(path, "fc2.weight_scale")[:, None]
    one_step = step * np.abs(w).max(axis=1)
    deviation = np.abs(got - ref)
    assert (deviation <= one_step + 1e-4 * np.abs(ref).max()).all(), (deviation / one_step).max()
    # and such ties are rare: measured 19 of 3,000 samples (0.6 %) with any logit off by more than float noise
    differing = (deviation > 1e-4 * np.abs(ref).max()).any(axis=1)
    assert differing.mean() <= 0.02, differing.sum()


def test_export_without_prepare_is_a_clear_error(sensitive_model, tmp_path):
    with pytest.raises(InputError, match="not prepared for QAT.*jetsonkit.qat.prepare"):
        qat.export(sensitive_model, torch.zeros(EXAMPLE), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_a_saved_qat_state_dict_resumes_on_a_freshly_prepared_model(sensitive_ptq, trained_sensitive, tmp_path):
    from jetsonkit.examples import sensitive

    model, _, _ = trained_sensitive
    torch.save(model.state_dict(), tmp_path / "qat.pt")
    fresh = qat.prepare(sensitive.build_model(), sensitive_ptq[1], torch.zeros(EXAMPLE), learn_scales=True)
    fresh.load_state_dict(torch.load(tmp_path / "qat.pt", weights_only=True))
    x = torch.randn(16, *EXAMPLE[1:])
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
