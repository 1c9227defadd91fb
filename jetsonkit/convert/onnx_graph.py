"""Read an ONNX model into a small node list ready for lowering to TFLite.

Passes, in order: the batch dimension fixed to 1 for shape inference (the .tflite keeps it dynamic through
``shape_signature``), constant (shape) sub-graphs folded (:mod:`.fold`), constants gathered (initializers and
Constant nodes), Identity / Dropout removed, patterns rewritten (:mod:`.rewrite`: GELU's Erf form, decomposed
LayerNorm, Div by a constant, Pow 2 / 0.5), BatchNormalization folded into the Conv before it, and Relu /
Clip(0, 6) / Clip(-1, 1) fused into the Conv / Gemm / MatMul / Add before it when that tensor has no other reader
(TFLite's ``fused_activation_function``).
"""

from __future__ import annotations

import os

import numpy as np

from .._deps import require
from ..artifacts import load_onnx
from ..errors import UnsupportedError
from .graph import Graph, Node

FUSABLE = {"Conv", "Gemm", "MatMul", "Add"}


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fixed_batch(onnx, model, input_shape=None):
    """A copy of ``model`` with the batch fixed to 1 and, where ``input_shape`` gives them, the other dimensions of a
    single input fixed (a detector exported with dynamic H / W)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    if input_shape is not None and len(inputs) != 1:
        raise UnsupportedError(f"an input shape fixes one model input; the model has {len(inputs)}",
                               hint="export with fixed shapes except the batch")
    for inp in inputs:
        dims = inp.type.tensor_type.shape.dim
        if input_shape is not None and len(input_shape) != len(dims):
            raise UnsupportedError(f"input shape {list(input_shape)} has {len(input_shape)} dimensions, input "
                                   f"{inp.name!r} has {len(dims)}", hint="give one size per dimension, e.g. 1x3x640x640")
        for k, d in enumerate(dims):
            if input_shape is not None and k > 0:
                if d.HasField("dim_value") and d.dim_value != input_shape[k]:
                    raise UnsupportedError(f"input {inp.name!r} has dimension {k} = {d.dim_value}, the input shape "
                                           f"says {input_shape[k]}", hint="give the model's fixed sizes")
                d.Clear()
                d.dim_value = int(input_shape[k])
            elif not d.HasField("dim_value"):
                if k != 0:
                    raise UnsupportedError(f"input {inp.name!r} has a dynamic dimension {k} ({d.dim_param!r})",
                                           hint="pass the size to convert at (input_shape=(1, 3, 640, 640), "
                                                "--input-shape 1x3x640x640) or export with fixed H / W")
                d.Clear()
                d.dim_value = 1
    return m


_CONSTANT_KINDS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                   "value_ints": np.int64}


def _constant_value(numpy_helper, name: str, attrs: dict) -> np.ndarray:
    if "value" in attrs:
        return numpy_helper.to_array(attrs["value"])
    for key, dtype in _CONSTANT_KINDS.items():
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise UnsupportedError(f"Constant node {name!r} with attributes {sorted(attrs)} is not supported",
                           hint="export with tensor constants (value=...)")


def _shape_table(onnx, model) -> tuple[dict, dict]:
    """({tensor: shape}, {tensor: dtype name}) after ONNX shape inference."""
    m = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    shapes, dtypes = {}, {}
    for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
        tt = vi.type.tensor_type
        if tt.elem_type:
            dtypes[vi.name] = onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type).name
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
    return shapes, dtypes


def load_graph(path: str | os.PathLike, input_shape=None) -> Graph:
    """Load ``path`` and run the passes listed in the module docstring (``input_shape``: see :func:`_fixed_batch`)."""
    onnx = require("onnx", purpose="reading ONNX models")
    numpy_helper = onnx.numpy_helper
    model = load_onnx(path, purpose="reading ONNX models")
    from .fold import fold_constants
    from .rewrite import rewrite

    model = _fixed_batch(onnx, model, input_shape)
    shapes, dtypes = _shape_table(onnx, model)
    for _ in range(len(model.graph.node)):  # folding makes shapes known, which lets more Shape nodes fold
        folded = fold_constants(onnx, model, shapes)
        if folded is model:
            break
        model = folded
        shapes, dtypes = _shape_table(onnx, model)
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    alias: dict[str, str] = {}
    nodes: list[Node] = []
    for n in g.node:
        ins = [alias.get(i, i) for i in n.input]
        a = _attrs(onnx, n)
        if n.op_type == "Constant":
            consts[n.output[0]] = _constant_value(numpy_helper, n.name, a)
        elif n.op_type in ("Identity", "Dropout"):
            alias[n.output[0]] = ins[0]
        else:
            nodes.append(Node(n.op_type, n.name or f"{n.op_type}_{len(nodes)}", ins, list(n.output), a))
    inputs = [i.name for i in g.input if i.name not in consts]
    outputs = [alias.get(o.name, o.name) for o in g.output]
    for k, c in consts.items():
        shapes.setdefault(k, tuple(c.shape))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    graph = Graph(nodes, consts, shapes, inputs, outputs, str(path), dtypes=dtypes, opset=int(opset))
    rewrite(graph)
    _fold_batchnorm(graph)
    _fuse_activations(graph)
    return graph


def _readers(graph: Graph) -> dict[str, int]:
    """How many nodes read each tensor, a graph output counting as one more reader."""
    count = {name: len(nodes) for name, nodes in graph.readers().items()}
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


_CLIP_KINDS = {(0.0, 6.0): "RELU6", (0.0, float("inf")): "RELU", (-1.0, 1.0): "RELU_N1_TO_1",
               (0.0, 1.0): "RELU_0_TO_1"}
_FUSED_KINDS = {"RELU", "RELU6", "RELU_N1_TO_1"}  # TFLite's fused_activation_function values


def activation_kind(graph: Graph, n: Node) -> str | None:
    """The TFLite activation op a Relu / Clip node is (RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1), or None."""
    if n.op == "Relu":
        return "RELU"
    if n.op != "Clip":
        return None

    def bound(k, key, default):
        if len(n.inputs) > k and n.inputs[k]:
            v = graph.consts.get(n.inputs[k])
            return None if v is None else float(v)
        return float(n.attrs.get(key, default))

    return _CLIP_KINDS.get((bound(1, "min", -np.inf), bound(2, "max", np.inf)))


def _fuse_activations(graph: Graph) -> None:
    readers, producer = _readers(graph), _producer_index(graph)
    keep = []
    for n in graph.nodes:
        kind = activation_kind(graph, n)
        src = producer.get(n.inputs[0]) if kind in _FUSED_KINDS else None
        prev = graph.nodes[src] if src is not None else None
        if kind in ("RELU", "RELU6", "RELU_0_TO_1"):
            graph.relu_outputs.add(n.outputs[0])
        if prev is None or prev.op not in FUSABLE or prev.fused != "NONE" or readers.get(n.inputs[0]) != 1 or \
                (prev.op in ("Gemm", "MatMul") and prev.inputs[1] not in graph.consts):
            keep.append(n)
            continue
        prev.fused = kind
        prev.outputs = [n.outputs[0]]
    graph.nodes = keep
