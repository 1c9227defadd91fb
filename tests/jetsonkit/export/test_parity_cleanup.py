"""Parity arithmetic and graph clean-up on hand-built ONNX graphs."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import CheckFailed
from jetsonkit.export.parity import ParityReport, compare_outputs

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnx_graphsurgeon")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from jetsonkit.export.cleanup import (  # noqa: E402
    clean_graph,
    infer_and_check,
    name_nodes_by_module,
    stabilize_node_names,
)


def test_compare_outputs_figures():
    ref = np.array([[1.0, -2.0, 0.0, 4.0]], np.float32)
    got = ref + np.array([[0.0, 1e-5, 2e-5, -1e-3]], np.float32)
    (row,) = compare_outputs("example", ["y"], [ref], [got], atol=1e-4, rtol=1e-4)
    assert row.max_abs == pytest.approx(1e-3, rel=1e-3)
    assert row.max_rel == pytest.approx(20.0, rel=1e-3)  # 2e-5 / max(|0|, 1e-6)
    assert 0.999 < row.cosine < 1.0
    assert not row.ok  # 1e-3 > 1e-4 + 1e-4 * 4
    (loose,) = compare_outputs("example", ["y"], [ref], [got], atol=1e-3, rtol=1e-4)
    assert loose.ok


def test_compare_outputs_shape_and_nan():
    ref = np.ones((2, 3), np.float32)
    assert not compare_outputs("e", ["y"], [ref], [np.ones((3, 2), np.float32)], 1e-4, 1e-4)[0].ok
    bad = ref.copy()
    bad[0, 0] = np.nan
    assert not compare_outputs("e", ["y"], [ref], [bad], 1e-4, 1e-4)[0].ok


def test_report_table_and_ok():
    report = ParityReport(atol=1e-4, rtol=0.0)
    assert not report.ok  # no rows: nothing was proven
    report.rows += compare_outputs("example", ["logits"], [np.ones(3)], [np.ones(3)], 1e-4, 0.0)
    assert report.ok and report.max_abs == 0.0
    lines = report.table().splitlines()
    assert len(lines) == 3 and "logits" in lines[2] and lines[2].rstrip().endswith("yes")


def _graph_with_foldable_constants_and_bad_names():
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [
        helper.make_node("Mul", ["w", "two"], ["w2"], name=""),  # constant subgraph: folded
        helper.make_node("MatMul", ["x", "w2"], ["h"], name="dup"),
        helper.make_node("Relu", ["h"], ["y"], name="dup"),
        helper.make_node("Neg", ["x"], ["dead"], name="unused"),  # no consumer: removed
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w, two])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_clean_graph_folds_removes_and_keeps_results(tmp_path):
    model = _graph_with_foldable_constants_and_bad_names()
    cleaned = clean_graph(model)
    assert [n.op_type for n in cleaned.graph.node] == ["MatMul", "Relu"]
    renamed = stabilize_node_names(cleaned)
    names = [n.name for n in cleaned.graph.node]
    assert renamed == 1 and names == ["dup", "dup_1"]
    path = tmp_path / "g.onnx"
    onnx.save(cleaned, str(path))
    infer_and_check(path)
    x = np.array([[1.0, -1.0]], np.float32)
    y = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, np.maximum(x @ (np.arange(6).reshape(2, 3) * 2.0), 0))


def test_stabilize_names_is_deterministic():
    a, b = _graph_with_foldable_constants_and_bad_names(), _graph_with_foldable_constants_and_bad_names()
    stabilize_node_names(a), stabilize_node_names(b)
    assert [n.name for n in a.graph.node] == [n.name for n in b.graph.node] == ["/Mul_1", "dup", "dup_1", "unused"]


def test_checker_failure_is_checkfailed(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x", "x"], ["y"], name="r")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(CheckFailed, match="bad.onnx"):
        infer_and_check(path)


def test_dynamo_scopes_become_legacy_style_names():
    model = _graph_with_foldable_constants_and_bad_names()
    scopes = ["['', 'layer1', 'layer1.0', 'layer1.0.conv1', 'layer1.0.conv1.0', 'conv2d']", "['', 'relu']", "not a list"]
    for node, value in zip(model.graph.node, scopes):
        node.metadata_props.add(key="pkg.torch.onnx.name_scopes", value=value)
    assert name_nodes_by_module(model) == 2
    assert [n.name for n in model.graph.node] == ["/layer1/layer1.0/conv1/conv1.0/Mul", "/MatMul", "dup", "unused"]
