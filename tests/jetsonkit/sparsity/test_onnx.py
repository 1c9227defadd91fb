"""2:4 verification on exported ONNX and on Q/DQ ONNX; direct pruning of ONNX weights (speed experiments)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from jetsonkit.errors import CheckFailed, InputError
from jetsonkit.sparsity import prune_onnx_initializers, report_onnx
from jetsonkit.sparsity.onnx_report import SPEED_ONLY_LABEL


def _by_weight(report):
    return {r.weight: r for r in report.layers}


def test_masks_survive_export(pruned_onnx):
    report = report_onnx(pruned_onnx)
    layers = _by_weight(report)
    assert layers["features.3.weight"].eligible and layers["features.3.weight"].pattern_holds
    assert layers["classifier.0.weight"].pattern_holds and layers["classifier.0.weight"].zero_fraction == 0.5
    assert not layers["features.0.weight"].eligible and "in=1" in layers["features.0.weight"].reason
    assert "out=10" in layers["classifier.2.weight"].reason
    report.require_sparse()  # every eligible layer holds 2:4


def test_dense_model_fails_the_check(mnist_onnx):
    report = report_onnx(mnist_onnx)
    assert len(report.eligible) == 2 and report.sparse == []
    with pytest.raises(CheckFailed, match="does not hold.*features.3.*of groups of 4 have > 2 non-zeros"):
        report.require_sparse()


def test_masks_survive_qdq(pruned_qdq, pruned_mnist, mnist_test):
    import onnxruntime as ort
    import torch

    report = report_onnx(pruned_qdq)
    quantized = [r for r in report.eligible if r.quantized]
    assert len(quantized) == 2 and all(r.pattern_holds for r in quantized)
    report.require_sparse()
    x, y = mnist_test[0][:2000], mnist_test[1][:2000]
    sess = ort.InferenceSession(str(pruned_qdq), providers=["CPUExecutionProvider"])
    int8_top1 = float((sess.run(None, {"input": x})[0].argmax(1) == y).mean())
    with torch.no_grad():
        fp32_top1 = float((pruned_mnist[1](torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    assert abs(int8_top1 - fp32_top1) < 0.01  # the Q/DQ graph of the sparse model still classifies


def test_prune_onnx_initializers_for_speed_experiments(mnist_onnx, session_tmp, mnist_test):
    import onnxruntime as ort

    out = session_tmp / "mnist_speed_2to4.onnx"
    report = prune_onnx_initializers(mnist_onnx, out)
    assert len(report.sparse) == 2
    model = onnx.load(str(out))
    assert {p.key: p.value for p in model.metadata_props}["jetsonkit.sparsity"] == SPEED_ONLY_LABEL
    x = mnist_test[0][:500]
    dense = ort.InferenceSession(str(mnist_onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    sparse = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert not np.allclose(dense, sparse) and (dense.argmax(1) == sparse.argmax(1)).mean() > 0.9


def test_prune_onnx_bad_input(mnist_onnx, session_tmp):
    with pytest.raises(InputError, match="'nothing\\*' matches no weighted layer"):
        prune_onnx_initializers(mnist_onnx, session_tmp / "x.onnx", include=["nothing*"])
    with pytest.raises(CheckFailed, match="no eligible float weight"):
        prune_onnx_initializers(mnist_onnx, session_tmp / "y.onnx", include=["features.0.weight"])
    assert not (session_tmp / "y.onnx").exists()


def _graph_with_matmul_and_grouped_conv(rng):
    from onnx import TensorProto, helper, numpy_helper

    from jetsonkit.sparsity.masks import mask_2to4

    w_mm = rng.standard_normal((32, 16)).astype(np.float32)  # MatMul B[K=32, N=16]: groups along K (axis 0)
    w_mm *= mask_2to4(w_mm, axis=0)
    w_grp = rng.standard_normal((16, 4, 3, 3)).astype(np.float32)  # Conv group=4
    q = np.round(rng.standard_normal((16, 32)) * 20).clip(-127, 127).astype(np.int8)  # Gemm transB, behind DQ
    zp = np.full(16, 3, np.int8)
    q_sparse = (q.astype(np.int32) - 3) * mask_2to4(q.astype(np.float32) - 3, axis=1) + 3
    nodes = [
        helper.make_node("MatMul", ["x", "w_mm"], ["h"], name="mm"),
        helper.make_node("Conv", ["img", "w_grp"], ["c"], name="grouped", group=4),
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_zp"], ["w_dq"], axis=0),
        helper.make_node("Gemm", ["x", "w_dq"], ["g"], name="gemm_q", transB=1),
    ]
    inits = [numpy_helper.from_array(w_mm, "w_mm"), numpy_helper.from_array(w_grp, "w_grp"),
             numpy_helper.from_array(q_sparse.astype(np.int8), "w_q"),
             numpy_helper.from_array(np.full(16, 0.01, np.float32), "w_s"), numpy_helper.from_array(zp, "w_zp")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32]),
                                           helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 16, 8, 8])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("h", "c", "g")],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_layouts_groups_and_zero_points(rng):
    report = report_onnx(_graph_with_matmul_and_grouped_conv(rng))
    layers = {r.layer: r for r in report.layers}
    assert (layers["mm"].out_channels, layers["mm"].in_channels) == (16, 32) and layers["mm"].pattern_holds
    assert not layers["grouped"].eligible and "groups=4" in layers["grouped"].reason
    gemm = layers["gemm_q"]
    assert gemm.quantized and gemm.weight == "w_q" and gemm.pattern_holds  # checked on q - zero_point


def test_prune_onnx_of_a_qdq_model_is_bad_input(mnist_onnx, session_tmp):
    """Weights behind DequantizeLinear cannot be pruned in place: say so (exit 2), not 'no eligible layer' (exit 1)."""
    from jetsonkit.cli import main
    from jetsonkit.quantize import quantize_qdq

    import onnx

    from jetsonkit.quantize.placement import calibration_tensors

    amax = {t: 8.0 for t in calibration_tensors(onnx.load(str(mnist_onnx)))}
    qdq = session_tmp / "for_prune.qdq.onnx"
    quantize_qdq(mnist_onnx, amax, qdq)
    with pytest.raises(InputError, match="holds quantized weights"):
        prune_onnx_initializers(qdq, session_tmp / "z.onnx")
    assert main(["sparsity", "prune-onnx", str(qdq), "-o", str(session_tmp / "z.onnx")]) == 2
    assert not (session_tmp / "z.onnx").exists()
