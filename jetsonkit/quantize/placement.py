"""Where Q/DQ goes: TensorRT's explicit-quantization placement rules, read off an ONNX graph.

Rules (NVIDIA TensorRT Developer Guide, "Explicit Quantization" / "Q/DQ Layer-Placement Recommendations";
see also ../shared/FACTS.md):

- quantize the inputs of the weighted ops Conv / ConvTranspose / Gemm / MatMul: the activation per-tensor, the
  weight per-channel on its output-channel axis (0 for Conv KCRS, 1 for ConvTranspose CKRS, 0 for Gemm with
  transB=1 ([N, K]), 1 for Gemm without transB and for MatMul weights [K, N]);
- quantize the residual input of an Add whose other input comes straight from a weighted op, so TensorRT can fuse
  the Add into that op's epilogue (both inputs when neither comes from a weighted op);
- quantize the input of average pooling (AveragePool / GlobalAveragePool) so it runs in INT8; MaxPool needs none:
  TensorRT moves the next layer's Q/DQ across it (it commutes with quantization);
- never quantize a weighted op's output: TensorRT fuses the following Q into the op itself.

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
    nodes that it does not put in "int8" free of Q/DQ.
    """
    precision = _node_precisions(model, plan)
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
    """The activation tensors that need a calibrated range for Q/DQ (all of them, with no plan applied)."""
    return [s.tensor for s in quant_sites(model) if s.kind == "activation"]
