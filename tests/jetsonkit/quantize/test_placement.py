"""Q/DQ placement follows TensorRT's rules on real exported models."""

from __future__ import annotations

import onnx
import pytest

from jetsonkit.quantize.placement import (attention_nodes, calibration_tensors, has_qdq, node_names, quant_sites,
                                          quantizable_nodes)
from jetsonkit.quantize.plan import PrecisionPlan


def _sites_by_tensor(model, plan=None):
    return {s.tensor: s for s in quant_sites(model, plan)}


def test_mnist_sites_are_weighted_op_inputs(mnist_onnx):
    model = onnx.load(str(mnist_onnx))
    sites = _sites_by_tensor(model)
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weighted) == 4
    for node in weighted:
        act, weight = node.input[0], node.input[1]
        assert sites[act].kind == "activation" and sites[act].axis is None
        assert sites[weight].kind == "weight" and sites[weight].axis == 0  # KCRS and Gemm transB=1
    assert calibration_tensors(model)[0] == "input"
    assert len(calibration_tensors(model)) == 4
    outputs = {o for n in weighted for o in n.output}
    assert not outputs & set(sites), "no Q/DQ on weighted-op outputs"


def test_residual_add_pool_and_convtranspose(residual_onnx):
    model = onnx.load(str(residual_onnx))
    sites = _sites_by_tensor(model)
    add = next(n for n in model.graph.node if n.op_type == "Add")
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    residual = [t for t in add.input if producers.get(t) != "Conv"]
    from_conv = [t for t in add.input if producers.get(t) == "Conv"]
    assert len(residual) == 1 and len(from_conv) == 1
    assert residual[0] in sites and from_conv[0] not in sites
    pool = next(n for n in model.graph.node if n.op_type in ("GlobalAveragePool", "AveragePool", "ReduceMean"))
    if pool.op_type != "ReduceMean":
        assert pool.input[0] in sites
    convt = next(n for n in model.graph.node if n.op_type == "ConvTranspose")
    assert sites[convt.input[1]].axis == 1  # ConvTranspose weight [C, K, R, S]


def test_attention_matmuls(attention_onnx):
    model = onnx.load(str(attention_onnx))
    sites = _sites_by_tensor(model, {n: "int8" for n in attention_nodes(model)})  # what a plan can opt back in
    inits = {t.name for t in model.graph.initializer}
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul"]
    both_act = [n for n in matmuls if not set(n.input) & inits]
    assert len(both_act) == 2  # q @ k^T and att @ v: both inputs per-tensor activations
    for n in both_act:
        assert all(sites[t].kind == "activation" for t in n.input)
    bare = [n for n in matmuls if n.input[1] in inits]
    assert bare and all(sites[n.input[1]].axis == 1 for n in bare)  # [K, N] weight: axis 1
    softmax_in = next(n for n in model.graph.node if n.op_type == "Softmax").input[0]
    assert softmax_in not in sites


def test_attention_matmuls_and_transformer_residual_adds_are_float_by_default(attention_onnx, residual_onnx):
    model = onnx.load(str(attention_onnx))
    floats = attention_nodes(model)
    ops = {n: node.op_type for n, node in zip(node_names(model), model.graph.node)}
    assert sorted(ops[n] for n in floats) == ["Add", "MatMul", "MatMul"]  # q @ k^T, att @ v, the residual Add
    default = {c for s in quant_sites(model) for c in s.consumers}
    assert not default & set(floats)
    assert any(ops[c] == "MatMul" for c in default)  # the MatMul with a weight stays INT8
    line = next(ln for ln in PrecisionPlan().explain(model).splitlines() if ln.startswith(sorted(floats)[0] + " "))
    assert "fp32" in line and "measured best on the zoo ViT" in line
    assert attention_nodes(onnx.load(str(residual_onnx))) == {}  # a CNN keeps its residual Add Q/DQ


def test_plan_keeps_layers_free_of_qdq(mnist_onnx):
    model = onnx.load(str(mnist_onnx))
    names = node_names(model)
    first_conv = names[0]
    all_sites = _sites_by_tensor(model)
    kept = _sites_by_tensor(model, {first_conv: "fp32"})
    assert set(all_sites) - set(kept) == {"input", model.graph.node[0].input[1]}


def test_quantizable_nodes_and_has_qdq(mnist_onnx):
    model = onnx.load(str(mnist_onnx))
    ops = quantizable_nodes(model)
    assert sorted(ops.values()) == ["Conv", "Conv", "Gemm", "Gemm"]
    assert not has_qdq(model)


@pytest.mark.parametrize("name", ["conv_residual_net", "attention_net"])
def test_shared_testnets_quantize_every_weighted_op(name, session_tmp):
    import torch

    from support import testnets

    model, example = testnets.build(name)
    path = session_tmp / f"{name}.onnx"
    torch.onnx.export(model, (example,), str(path), opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    sites = _sites_by_tensor(proto, {n: "int8" for n in attention_nodes(proto)})
    weighted = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert weighted
    for node in weighted:
        assert node.input[0] in sites or node.input[1] in sites
    assert all(s.axis is not None for s in sites.values() if s.kind == "weight")
    adds = [n for n in proto.graph.node if n.op_type == "Add" and all(i not in {t.name for t in proto.graph.initializer} for i in n.input)]
    if name == "conv_residual_net":
        assert adds and all(any(i in sites for i in a.input) for a in adds)
