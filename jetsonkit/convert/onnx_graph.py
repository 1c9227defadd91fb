"""Read an ONNX model into a small node list ready for lowering to TFLite.

Passes, in order: constants gathered (initializers and Constant nodes), Identity / Dropout removed, the batch
dimension fixed to 1 for shape inference (the .tflite keeps it dynamic through ``shape_signature``),
BatchNormalization folded into the Conv before it, and Relu / Clip(0, 6) fused into the Conv / Gemm / MatMul / Add
before it when that tensor has no other reader (TFLite's ``fused_activation_function``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .._deps import require
from ..errors import ModelLoadError, UnsupportedError

FUSABLE = {"Conv", "Gemm", "MatMul", "Add"}


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    fused: str = "NONE"  # NONE | RELU | RELU6


@dataclass
class Graph:
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple]  # ONNX layout, batch 1
    inputs: list[str]
    outputs: list[str]
    path: str = ""
    relu_outputs: set = field(default_factory=set)  # tensors known to be >= 0


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fixed_batch_shapes(onnx, model) -> dict[str, tuple]:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name for i in m.graph.initializer}
    for inp in m.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        for k, d in enumerate(dims):
            if not d.HasField("dim_value"):
                if k != 0:
                    raise UnsupportedError(f"input {inp.name!r} has a dynamic dimension {k} ({d.dim_param!r})",
                                           hint="export with a fixed shape except the batch dimension")
                d.Clear()
                d.dim_value = 1
    m = onnx.shape_inference.infer_shapes(m, strict_mode=False)
    shapes = {}
    for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def load_graph(path: str | os.PathLike) -> Graph:
    """Load ``path`` and run the passes listed in the module docstring."""
    onnx = require("onnx", purpose="reading ONNX models")
    numpy_helper = onnx.numpy_helper
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise ModelLoadError(f"cannot read ONNX model {str(path)!r}: {exc}",
                             hint="pass a .onnx file written by `jetsonkit export`") from exc
    g = model.graph
    if not g.node:
        raise ModelLoadError(f"ONNX model {str(path)!r} has no graph nodes (an empty or non-ONNX file)",
                             hint="pass a .onnx file written by `jetsonkit export`")
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    alias: dict[str, str] = {}
    nodes: list[Node] = []
    for n in g.node:
        ins = [alias.get(i, i) for i in n.input]
        a = _attrs(onnx, n)
        if n.op_type == "Constant":
            if "value" not in a:
                raise UnsupportedError(f"Constant node {n.name!r} without a 'value' tensor is not supported")
            consts[n.output[0]] = numpy_helper.to_array(a["value"])
        elif n.op_type in ("Identity", "Dropout"):
            alias[n.output[0]] = ins[0]
        else:
            nodes.append(Node(n.op_type, n.name or f"{n.op_type}_{len(nodes)}", ins, list(n.output), a))
    inputs = [i.name for i in g.input if i.name not in consts]
    outputs = [alias.get(o.name, o.name) for o in g.output]
    graph = Graph(nodes, consts, _fixed_batch_shapes(onnx, model), inputs, outputs, str(path))
    _fold_batchnorm(graph)
    _fuse_activations(graph)
    return graph


def _readers(graph: Graph) -> dict[str, int]:
    count: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            count[i] = count.get(i, 0) + 1
    for o in graph.outputs:
        count[o] = count.get(o, 0) + 1
    return count


def _producer_index(graph: Graph) -> dict[str, int]:
    return {o: k for k, n in enumerate(graph.nodes) for o in n.outputs}


def _fold_batchnorm(graph: Graph) -> None:
    """Conv -> BatchNormalization becomes one Conv: w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(...) + beta."""
    readers, producer = _readers(graph), _producer_index(graph)
    keep = []
    for n in graph.nodes:
        src = producer.get(n.inputs[0]) if n.op == "BatchNormalization" else None
        conv = graph.nodes[src] if src is not None else None
        if conv is None or conv.op != "Conv" or readers.get(n.inputs[0]) != 1 or conv.inputs[1] not in graph.consts:
            keep.append(n)
            continue
        gamma, beta, mean, var = (graph.consts[i].astype(np.float64) for i in n.inputs[1:5])
        k = gamma / np.sqrt(var + n.attrs.get("epsilon", 1e-5))
        w = graph.consts[conv.inputs[1]].astype(np.float64)
        b = graph.consts[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2 and conv.inputs[2] else 0.0
        wname, bname = conv.inputs[1] + "_bnfold", conv.name + "_bnfold_bias"
        graph.consts[wname] = (w * k.reshape(-1, 1, 1, 1)).astype(np.float32)
        graph.consts[bname] = ((b - mean) * k + beta).astype(np.float32)
        conv.inputs = [conv.inputs[0], wname, bname]
        conv.outputs = [n.outputs[0]]
    graph.nodes = keep


def _activation_kind(graph: Graph, n: Node) -> str | None:
    if n.op == "Relu":
        return "RELU"
    if n.op == "Clip":
        lo = graph.consts.get(n.inputs[1]) if len(n.inputs) > 1 and n.inputs[1] else n.attrs.get("min")
        hi = graph.consts.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else n.attrs.get("max")
        if lo is not None and hi is not None and float(lo) == 0.0 and float(hi) == 6.0:
            return "RELU6"
    return None


def _fuse_activations(graph: Graph) -> None:
    readers, producer = _readers(graph), _producer_index(graph)
    keep = []
    for n in graph.nodes:
        kind = _activation_kind(graph, n)
        src = producer.get(n.inputs[0]) if kind else None
        prev = graph.nodes[src] if src is not None else None
        if kind:
            graph.relu_outputs.add(n.outputs[0])
        if prev is None or prev.op not in FUSABLE or prev.fused != "NONE" or readers.get(n.inputs[0]) != 1:
            keep.append(n)
            continue
        prev.fused = kind
        prev.outputs = [n.outputs[0]]
    graph.nodes = keep
