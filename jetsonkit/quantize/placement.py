"""Where Q/DQ goes: TensorRT's explicit-quantization placement rules, read off an ONNX graph.

Rules (NVIDIA TensorRT Developer Guide, "Explicit Quantization" / "Q/DQ Layer-Placement Recommendations",
docs.nvidia.com/deeplearning/tensorrt/latest/inference-library/work-quantized-types.html):

- quantize the inputs of the weighted ops Conv / ConvTranspose / Gemm / MatMul: the activation per-tensor, the
  weight per-channel on its output-channel axis (0 for Conv KCRS, 1 for ConvTranspose CKRS, 0 for Gemm with
  transB=1 ([N, K]), 1 for Gemm without transB and for MatMul weights [K, N]);
- quantize the residual input of an Add whose other input comes straight from a weighted op, so TensorRT can fuse
  the Add into that op's epilogue (both inputs when neither comes from a weighted op);
- quantize the input of average pooling (AveragePool / GlobalAveragePool) so it runs in INT8; MaxPool needs none:
  TensorRT moves the next layer's Q/DQ across it (it commutes with quantization);
- never quantize a weighted op's output: TensorRT fuses the following Q into the op itself;
- keep a detection head's decode out of INT8 (:func:`decode_nodes`): the DFL integral (Softmax over distance bins
  and its fixed 0..n-1 expectation conv), the anchor / stride arithmetic after the last learned layer and the
  concat of boxes and scores. These produce pixel coordinates whose useful resolution is far finer than
  1/127 of their range, and they are post-processing, not the network: NVIDIA's ModelOpt ONNX quantizer likewise
  quantizes only the listed compute ops and lets the caller exclude nodes (``nodes_to_exclude``), and Ultralytics'
  TensorRT INT8 export is reported to lose half its mAP when they are calibrated with the rest (see
  docs/quantize.md). A precision-plan rule can still put them in int8.

Only the positions are decided here; scales come from the calibration table (activations) and the weights
themselves (weights). This module reads a model and never changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import onnx

__all__ = [
    "WEIGHTED_OPS",
    "POOL_OPS",
    "QuantSite",
    "node_names",
    "quantizable_nodes",
    "quant_sites",
    "calibration_tensors",
    "decode_nodes",
    "attention_nodes",
    "default_float_nodes",
    "has_qdq",
]

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
POOL_OPS = ("AveragePool", "GlobalAveragePool")
RESIDUAL_OPS = ("Add",)
# ops that pass a weighted op's output through unchanged in TensorRT's fusions (Conv+BN folded at export)
_PASS_THROUGH = ("BatchNormalization",)


@dataclass(frozen=True)
class QuantSite:
    """One tensor to quantize: ``kind`` is "activation" (per-tensor, calibrated) or "weight" (per-channel).

    ``axis`` is the per-channel axis of a weight (None for activations); ``consumers`` are the names of the nodes
    whose input is rewired to the dequantized tensor.
    """

    tensor: str
    kind: str
    axis: int | None
    consumers: tuple[str, ...] = field(default=())
    reason: str = ""


def node_names(model: "onnx.ModelProto") -> list[str]:
    """A unique, stable name for every node, in graph order (the node's own name, else ``<op>_<index>``)."""
    names, seen = [], set()
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def has_qdq(model: "onnx.ModelProto") -> bool:
    """True when the graph already holds QuantizeLinear or DequantizeLinear nodes."""
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def _constants(model: "onnx.ModelProto") -> set[str]:
    """Names of tensors that are constants: initializers and Constant-node outputs."""
    names = {t.name for t in model.graph.initializer}
    names.update(o for n in model.graph.node if n.op_type == "Constant" for o in n.output)
    return names


def _attr_int(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def weight_axis(node: Any, input_index: int) -> int | None:
    """The output-channel axis of a weighted op's constant input, or None when it is not its weight."""
    op = node.op_type
    if op == "Conv" and input_index == 1:
        return 0  # [K, C, R, S]
    if op == "ConvTranspose" and input_index == 1:
        return 1  # [C, K/group, R, S]: output channels on axis 1
    if op == "Gemm" and input_index == 1:
        return 0 if _attr_int(node, "transB", 0) else 1
    if op == "Gemm" and input_index == 0:
        return 1 if _attr_int(node, "transA", 0) else 0  # a constant A: rows are the outputs
    if op == "MatMul" and input_index == 1:
        return 1  # [K, N]: N output columns (the last axis for a 2-D weight)
    if op == "MatMul" and input_index == 0:
        return 0
    return None


def quantizable_nodes(model: "onnx.ModelProto") -> dict[str, str]:
    """Node name -> op type of every node that can run in INT8 under the placement rules."""
    ops = WEIGHTED_OPS + POOL_OPS + RESIDUAL_OPS
    consts = _constants(model)
    out = {}
    for name, node in zip(node_names(model), model.graph.node):
        if node.op_type in RESIDUAL_OPS and any(i in consts for i in node.input):
            continue  # Add of a bias / constant: not a residual join
        if node.op_type in ops:
            out[name] = node.op_type
    return out


def _producers(model: "onnx.ModelProto") -> dict[str, Any]:
    return {o: n for n in model.graph.node for o in n.output}


def _from_weighted_op(tensor: str, producers: dict[str, Any]) -> bool:
    node = producers.get(tensor)
    while node is not None and node.op_type in _PASS_THROUGH:
        node = producers.get(node.input[0])
    return node is not None and node.op_type in WEIGHTED_OPS


def _sites_of_node(node: Any, consts: set[str], producers: dict[str, Any]) -> list[tuple[str, str, int | None, str]]:
    """(tensor, kind, axis, reason) for each input of one node that the rules quantize."""
    op = node.op_type
    if op in WEIGHTED_OPS:
        inputs = list(node.input[:2])
        sites = []
        for idx, tensor in enumerate(inputs):
            if not tensor:
                continue
            if tensor in consts:
                axis = weight_axis(node, idx)
                if axis is not None:
                    sites.append((tensor, "weight", axis, f"{op} weight, per-channel axis {axis}"))
            else:
                sites.append((tensor, "activation", None, f"{op} input"))
        return sites
    if op in POOL_OPS:
        return [(node.input[0], "activation", None, f"{op} input")]
    if op in RESIDUAL_OPS:
        ins = [t for t in node.input if t]
        if len(ins) != 2 or any(t in consts for t in ins):
            return []
        residual = [t for t in ins if not _from_weighted_op(t, producers)]
        if not residual:
            residual = ins[1:]  # both from weighted ops: quantize one, the other fuses
        return [(t, "activation", None, "residual Add input") for t in residual]
    return []


def quant_sites(model: "onnx.ModelProto", plan: Any = None) -> list[QuantSite]:
    """Every tensor the placement rules quantize, in graph order, one site per tensor.

    ``plan`` (a :class:`~jetsonkit.quantize.plan.PrecisionPlan`, or a mapping node name -> precision) keeps
    nodes that it does not put in "int8" free of Q/DQ. A detection decode (:func:`decode_nodes`) stays out of
    INT8 unless the plan names its nodes "int8".
    """
    precision = {name: "fp32" for name in default_float_nodes(model)}
    precision.update(_node_precisions(model, plan))
    return _sites(model, precision)


def _sites(model: "onnx.ModelProto", precision: dict[str, str]) -> list[QuantSite]:
    consts = _constants(model)
    producers = _producers(model)
    found: dict[str, dict] = {}
    for name, node in zip(node_names(model), model.graph.node):
        if precision.get(name, "int8") != "int8":
            continue
        for tensor, kind, axis, reason in _sites_of_node(node, consts, producers):
            site = found.setdefault(tensor, {"kind": kind, "axis": axis, "consumers": [], "reason": reason})
            if kind == "weight" and site["kind"] == "weight" and site["axis"] != axis:
                site["axis"] = None  # a weight shared on two different axes: fall back to per-tensor
            site["consumers"].append(name)
    return [
        QuantSite(t, s["kind"], s["axis"], tuple(s["consumers"]), s["reason"]) for t, s in found.items()
    ]


def _node_precisions(model: "onnx.ModelProto", plan: Any) -> dict[str, str]:
    if plan is None:
        return {}
    if hasattr(plan, "layer_precisions"):
        return dict(plan.layer_precisions(model))
    return {str(k): str(v) for k, v in dict(plan).items()}


def calibration_tensors(model: "onnx.ModelProto") -> list[str]:
    """The activation tensors that need a calibrated range for Q/DQ (all of them, with no plan applied: a detection
    decode included, so that a plan can still put it in int8)."""
    return [s.tensor for s in _sites(model, {}) if s.kind == "activation"]


# ---------------------------------------------------------------- float by default: attention, detection decode


def default_float_nodes(model: "onnx.ModelProto") -> dict[str, str]:
    """Node name -> reason, for the quantizable nodes that stay out of INT8 unless a plan rule says int8: a
    transformer's attention MatMuls and residual Adds (:func:`attention_nodes`), a detection decode
    (:func:`decode_nodes`)."""
    return {**attention_nodes(model), **decode_nodes(model)}


def attention_nodes(model: "onnx.ModelProto") -> dict[str, str]:
    """In a graph with attention (a MatMul of two activations: Q K^T, attention x V), those MatMuls and the
    residual Adds, with the reason. Measured on the zoo's ViT (scripts/bench/zoo.py, mse ranges, output SQNR
    against FP32): everything in INT8 26.3 dB; attention MatMuls in float 29.1 dB; residual Adds in float 28.9 dB;
    both 33.0 dB (ONNX Runtime's quantize_static 19.6 dB). Softmax inputs were never quantized. Empty for a graph
    without attention, so CNN residual Adds keep the Q/DQ that lets TensorRT fuse them into the convolution."""
    consts = _constants(model)
    names = node_names(model)
    attention = [n for n, node in zip(names, model.graph.node)
                 if node.op_type == "MatMul" and len(node.input) >= 2 and not set(node.input[:2]) & consts]
    if not attention:
        return {}
    out = {n: "attention MatMul (two activations): float by default, measured best on the zoo ViT" for n in attention}
    for name, op in quantizable_nodes(model).items():
        if op in RESIDUAL_OPS:
            out[name] = "residual Add in a transformer graph: float by default, measured best on the zoo ViT"
    return out


# ---------------------------------------------------------------- detection decode

_SHAPE_OPS = ("Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Flatten")
_ARITH_OPS = ("Add", "Sub", "Mul", "Div")


def _const_arrays(model: "onnx.ModelProto") -> dict[str, Any]:
    from onnx import numpy_helper

    arrays = {t.name: t for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            arrays[n.output[0]] = n.attribute[0].t
    return {k: numpy_helper.to_array(v) for k, v in arrays.items()}


def _is_ramp(w: Any) -> bool:
    """A constant holding exactly 0, 1, ..., n-1 (n >= 2): the DFL expectation weights."""
    import numpy as np

    flat = np.asarray(w).reshape(-1)
    return flat.size >= 2 and np.array_equal(flat, np.arange(flat.size, dtype=flat.dtype))


def _is_grid(c: Any) -> bool:
    """A constant shaped like a per-anchor table (anchor points, strides): at least 2-D and at least 8 values on
    one axis. Biases, layer scales and scalars are 1-D or tiny, so they never qualify."""
    import numpy as np

    c = np.asarray(c)
    return c.ndim >= 2 and max(c.shape) >= 8


def decode_nodes(model: "onnx.ModelProto") -> dict[str, str]:
    """Node name -> reason, for the nodes of a detection head's decode (empty for other models).

    Found two ways, then closed downstream (everything computed from them, up to the graph outputs, so the final
    concat of boxes and scores is included):
    - DFL: a Conv / MatMul / Gemm whose constant weight is exactly 0..n-1, fed (through reshapes / transposes) by
      a Softmax: the distance-bin integral of YOLOv8-style heads (Li et al. 2020, "Generalized Focal Loss");
    - anchor / stride arithmetic: an Add / Sub / Mul / Div with a per-anchor constant table (at least 2-D, an axis
      of >= 8) after the last learned layer (no learned Conv / Gemm / MatMul downstream), as in anchor-based
      (YOLOv5-style grid + stride) and anchor-free decodes.
    """
    names = node_names(model)
    nodes = list(model.graph.node)
    consts = _const_arrays(model)
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            consumers.setdefault(t, []).append(i)
    reasons: dict[int, str] = {}
    dfl = set()
    for i, n in enumerate(nodes):
        if n.op_type not in WEIGHTED_OPS or len(n.input) < 2 or n.input[1] not in consts or not _is_ramp(consts[n.input[1]]):
            continue
        chain, j = [i], producer.get(n.input[0])
        while j is not None and nodes[j].op_type in _SHAPE_OPS:
            chain.append(j)
            j = producer.get(nodes[j].input[0])
        if j is not None and nodes[j].op_type == "Softmax":
            chain.append(j)
            for k in chain:
                reasons[k] = "detection decode: DFL (softmax over distance bins, fixed 0..n-1 expectation)"
            dfl.add(i)
    learned_below = _learned_downstream(nodes, consts, consumers, dfl)
    for i, n in enumerate(nodes):
        if (i not in reasons and n.op_type in _ARITH_OPS and not learned_below[i]
                and any(t in consts and _is_grid(consts[t]) for t in n.input)):
            reasons[i] = "detection decode: anchor / stride arithmetic after the last learned layer"
    frontier = list(reasons)
    while frontier:
        for t in nodes[frontier.pop()].output:
            for k in consumers.get(t, []):
                if k not in reasons:
                    reasons[k] = "detection decode: computed from the decoded boxes (box math, box/score concat)"
                    frontier.append(k)
    return {names[i]: reasons[i] for i in sorted(reasons)}


def _learned_downstream(nodes: list, consts: dict, consumers: dict, skip: set) -> list[bool]:
    """Per node: whether a learned weighted op (not one of ``skip``) is reachable from its outputs."""
    below = [False] * len(nodes)
    for i in range(len(nodes) - 1, -1, -1):  # graph order is topological: consumers come later
        for t in nodes[i].output:
            for k in consumers.get(t, []):
                learned = nodes[k].op_type in WEIGHTED_OPS and k not in skip
                if learned or below[k]:
                    below[i] = True
    return below
