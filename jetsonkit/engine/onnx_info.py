"""What the build spec needs to know about an ONNX file: inputs, Q/DQ, float types, 2:4-sparse weights.

2:4 pattern (NVIDIA Ampere structured sparsity; Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks"):
in every group of 4 consecutive input channels at most 2 weights are non-zero — Conv [K, C, R, S] along C,
Gemm with transB [N, K] along K, MatMul weight [K, N] along K.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .._deps import require
from .._io import sha256_file
from ..errors import ModelLoadError

__all__ = ["OnnxInfo", "read_onnx_info", "is_2to4_sparse"]

_WEIGHTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass
class OnnxInfo:
    path: str
    sha256: str
    inputs: dict[str, tuple]  # name -> dims (int, or str for a symbolic / unknown dim)
    node_ops: dict[str, str]  # node name -> op type
    has_qdq: bool
    has_fp16: bool  # any float16 initializer or Cast to float16: FP16 expressed in the graph
    weighted_nodes: list[str] = field(default_factory=list)
    sparse_nodes: list[str] = field(default_factory=list)  # weighted nodes whose weight is 2:4 sparse

    def dynamic_inputs(self) -> dict[str, tuple]:
        return {n: d for n, d in self.inputs.items() if any(not isinstance(x, int) or x < 1 for x in d)}


def is_2to4_sparse(weight: np.ndarray, axis: int) -> bool:
    """True when every group of 4 along ``axis`` (length divisible by 4) has at most 2 non-zeros."""
    if weight.ndim < 2 or weight.shape[axis] % 4:
        return False
    w = np.moveaxis(weight, axis, -1)
    groups = w.reshape(-1, w.shape[-1] // 4, 4)
    return bool(np.all(np.count_nonzero(groups, axis=-1) <= 2))


def _weight_of(node, inits: dict, producers: dict):
    """The weight array of a weighted node (through a DequantizeLinear when Q/DQ'd) and its input-channel axis."""
    if len(node.input) < 2:
        return None, 0
    name = node.input[1]
    if name not in inits and name in producers and producers[name].op_type == "DequantizeLinear":
        name = producers[name].input[0]
    if name not in inits:
        return None, 0
    w = inits[name]
    if node.op_type == "Conv":
        return w, 1
    if node.op_type == "ConvTranspose":
        return w, 0
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return w, 1 if trans_b else 0
    return w, 0  # MatMul weight [K, N]


def read_onnx_info(path: str | os.PathLike) -> OnnxInfo:
    """Read the facts the planner needs from ``path`` (loads the graph with onnx, weights included)."""
    onnx = require("onnx", purpose="reading the ONNX model to plan a TensorRT build")
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise ModelLoadError(f"cannot read ONNX file {str(path)!r}: {exc}", hint="export it again with `jetsonkit export`") from exc
    g = model.graph
    if not g.node:
        raise ModelLoadError(f"ONNX file {str(path)!r} has no graph nodes (an empty or non-ONNX file)",
                             hint="export it again with `jetsonkit export`")
    init_names = {i.name for i in g.initializer}
    inputs = {}
    for vi in g.input:
        if vi.name in init_names:
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim)
        inputs[vi.name] = dims
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    names = {}
    for i, n in enumerate(g.node):
        names[n.name or f"{n.op_type}_{i}"] = n.op_type
    f16 = onnx.TensorProto.FLOAT16
    has_fp16 = any(i.data_type == f16 for i in g.initializer) or any(
        n.op_type == "Cast" and any(a.name == "to" and a.i == f16 for a in n.attribute) for n in g.node)
    info = OnnxInfo(str(path), sha256_file(path), inputs, names,
                    has_qdq=any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in g.node), has_fp16=has_fp16)
    for i, n in enumerate(g.node):
        if n.op_type in _WEIGHTED:
            name = n.name or f"{n.op_type}_{i}"
            info.weighted_nodes.append(name)
            w, axis = _weight_of(n, inits, producers)
            if w is not None and is_2to4_sparse(w, axis):
                info.sparse_nodes.append(name)
    return info
