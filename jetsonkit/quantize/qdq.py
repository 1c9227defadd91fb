"""Insert QuantizeLinear / DequantizeLinear into an ONNX model: the explicit INT8 graph every TensorRT accepts.

Scheme (TensorRT Developer Guide, "Explicit Quantization"; ONNX operator spec for QuantizeLinear/DequantizeLinear):
symmetric, zero-point 0, int8. Activations are per-tensor with ``scale = amax / 127`` from the calibration table;
weights are per-channel (``axis`` from :mod:`.placement`, opset >= 13) with ``amax`` = the channel's max |w|.

Weights are stored pre-quantized: an int8 initializer followed by a DequantizeLinear (``weights="int8"``, the
default), rather than an fp32 initializer with a Q/DQ pair (``weights="qdq"``). Why: the file carries 1 byte per
weight instead of 4, the rounding (half to even, clamped to [-127, 127]) is done once here, so ONNX Runtime and
TensorRT see the very same integers; TensorRT's ONNX parser accepts both forms (a constant int8 input to
DequantizeLinear is its documented weight path), and ``weights="qdq"`` stays available for tools that want the
fp32 original in the file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._io import atomic_path, sha256_bytes
from .._progress import warn
from ..artifacts import onnx_source, read_table
from ..errors import DataError, InputError, UnsupportedError
from .placement import QuantSite, has_qdq, node_names, quant_sites

__all__ = ["QdqResult", "quantize_qdq", "table_model_ranges", "strip_qdq", "weight_scales"]

MIN_OPSET = 13  # per-axis Q/DQ


@dataclass
class QdqResult:
    """What :func:`quantize_qdq` did: the model, where it went, its sites and sizes (bytes)."""

    model: Any
    path: Path | None
    sites: list[QuantSite]
    weights_fp32_bytes: int
    weights_int8_bytes: int
    kept_float: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # node -> why it is not INT8 (placement default, degenerate)
    source_bytes: int = 0
    output_bytes: int = 0

    def summary(self) -> dict:
        acts = sum(s.kind == "activation" for s in self.sites)
        return {
            "path": str(self.path) if self.path else None,
            "activation_sites": acts,
            "weight_sites": len(self.sites) - acts,
            "weights_fp32_bytes": self.weights_fp32_bytes,
            "weights_int8_bytes": self.weights_int8_bytes,
            "source_model_bytes": self.source_bytes,
            "qdq_model_bytes": self.output_bytes,
            "kept_float": dict(self.kept_float),
            "kept_float_reasons": dict(self.reasons),
        }


def table_model_ranges(table: Any, proto: Any, model_sha: str | None, label: str,
                       allow_other_model: bool = False) -> dict[str, float]:
    """tensor -> amax of ``table``, refused when it was made for another model (matched by the file's hash or the
    serialized proto's)."""
    accepted = [model_sha, sha256_bytes(proto.SerializeToString())]
    table = read_table(table, model=accepted, model_label=label, allow_other_model=allow_other_model)
    return table.amaxes()


def weight_scales(w: np.ndarray, axis: int | None) -> np.ndarray:
    """Per-channel (or per-tensor when axis is None) symmetric scales max|w| / 127; all-zero channels get 1."""
    if axis is None:
        amax = np.asarray(np.abs(w).max() if w.size else 0.0, dtype=np.float32)
    else:
        other = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
        amax = np.abs(w).max(axis=other).astype(np.float32)
    return np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32)


def _quantize_weight(w: np.ndarray, scale: np.ndarray, axis: int | None) -> np.ndarray:
    if axis is not None:
        shape = [1] * w.ndim
        shape[axis % w.ndim] = -1
        scale = scale.reshape(shape)
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int8)  # rint: round half to even


def _set_nodes(graph: Any, nodes: list, new_inits: list) -> None:
    """Replace ``graph``'s nodes, add ``new_inits`` and drop the initializers nothing reads any more."""
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    used = {t for n in graph.node for t in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


class _GraphEditor:
    """Collects new initializers / nodes and rewires consumers; keeps the node list topologically ordered."""

    def __init__(self, proto: Any):
        self.onnx = require("onnx")
        self.proto = proto
        self.inits = {t.name: t for t in proto.graph.initializer}
        self.names = node_names(proto)
        self.after: dict[str, list] = {}  # producer tensor (or "" for graph start) -> Q/DQ nodes to emit
        self.new_inits: list = []

    def const(self, name: str, array: np.ndarray) -> str:
        self.new_inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def emit(self, anchor: str, node: Any) -> None:
        self.after.setdefault(anchor, []).append(node)

    def rewire(self, consumers: tuple[str, ...], old: str, new: str) -> None:
        wanted = set(consumers)
        for name, node in zip(self.names, self.proto.graph.node):
            if name in wanted:
                for i, t in enumerate(node.input):
                    if t == old:
                        node.input[i] = new

    def finish(self) -> None:
        graph = self.proto.graph
        produced = {o for n in graph.node for o in n.output}
        ordered = [n for anchor, nodes in self.after.items() if anchor not in produced for n in nodes]
        for node in graph.node:
            ordered.append(node)
            for out in node.output:
                ordered.extend(self.after.get(out, []))
        _set_nodes(graph, ordered, self.new_inits)


def _add_activation_qdq(ed: _GraphEditor, site: QuantSite, amax: float) -> None:
    helper = ed.onnx.helper
    t = site.tensor
    scale = ed.const(f"{t}_scale", np.array(amax / 127.0, dtype=np.float32))
    zp = ed.const(f"{t}_zero_point", np.array(0, dtype=np.int8))
    anchor = t if t not in ed.inits else ""
    ed.emit(anchor, helper.make_node("QuantizeLinear", [t, scale, zp], [f"{t}_quantized"], name=f"{t}_QuantizeLinear"))
    ed.emit(anchor, helper.make_node("DequantizeLinear", [f"{t}_quantized", scale, zp], [f"{t}_dequantized"],
                                     name=f"{t}_DequantizeLinear"))
    ed.rewire(site.consumers, t, f"{t}_dequantized")


def _weight_array(ed: _GraphEditor, name: str) -> np.ndarray:
    for node in ed.proto.graph.node:
        if node.op_type == "Constant" and name in node.output:
            return ed.onnx.numpy_helper.to_array(node.attribute[0].t)
    return ed.onnx.numpy_helper.to_array(ed.inits[name])


def _add_weight_qdq(ed: _GraphEditor, site: QuantSite, mode: str) -> tuple[int, int]:
    helper = ed.onnx.helper
    w = _weight_array(ed, site.tensor).astype(np.float32)
    axis = site.axis if site.axis is None or site.axis < w.ndim else w.ndim - 1
    axis = None if w.ndim == 0 else axis
    scale = weight_scales(w, axis)
    t = site.tensor
    s_name = ed.const(f"{t}_scale", scale)
    zp = ed.const(f"{t}_zero_point", np.zeros(scale.shape, dtype=np.int8))
    kw = {} if axis is None else {"axis": int(axis)}
    if mode == "int8":
        q_name = ed.const(f"{t}_quantized", _quantize_weight(w, scale, axis))
    else:
        q_name = f"{t}_quantized"
        ed.emit("", helper.make_node("QuantizeLinear", [t, s_name, zp], [q_name], name=f"{t}_QuantizeLinear", **kw))
    ed.emit("", helper.make_node("DequantizeLinear", [q_name, s_name, zp], [f"{t}_dequantized"],
                                 name=f"{t}_DequantizeLinear", **kw))
    ed.rewire(site.consumers, t, f"{t}_dequantized")
    return w.size * 4, w.size


def _ensure_opset(proto: Any) -> Any:
    """The model at opset >= 13 (per-axis Q/DQ), converted with onnx's version converter when older."""
    version = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if version >= MIN_OPSET:
        return proto
    version_converter = require("onnx.version_converter", purpose="raising the opset for per-axis Q/DQ")
    try:
        return version_converter.convert_version(proto, MIN_OPSET)
    except Exception as exc:  # noqa: BLE001 - the converter raises bare RuntimeErrors
        raise UnsupportedError(f"cannot convert the model from opset {version} to {MIN_OPSET} for per-axis Q/DQ: "
                               f"{exc}", hint="re-export the model with opset >= 13") from exc


def _missing_ranges(sites: list[QuantSite], ranges: dict[str, float]) -> None:
    bad = [s.tensor for s in sites if s.kind == "activation" and s.tensor not in ranges]
    if bad:
        shown = ", ".join(bad[:8]) + (f" … (+{len(bad) - 8} more)" if len(bad) > 8 else "")
        raise DataError(f"calibration table lacks ranges for {len(bad)} tensor(s) the Q/DQ plan needs: {shown}",
                        hint="recalibrate with this model, or keep those layers out of INT8 in the precision plan")
    for s in sites:
        amax = ranges[s.tensor] if s.kind == "activation" else 1.0
        if not (math.isfinite(amax) and amax >= 0):
            raise DataError(f"calibration range of tensor {s.tensor!r} is {amax!r}",
                            hint="amax must be a finite number >= 0; recalibrate")


def _degenerate_layers(sites: list[QuantSite], ranges: dict[str, float]) -> dict[str, str]:
    """Node -> reason for every node reading an activation whose range is degenerate (amax 0: all zeros in
    calibration). No INT8 scale exists for it, so those nodes stay in floating point (weights too) instead of
    failing: recalibrating on the same data would give the same zeros."""
    out = {}
    for s in sites:
        if s.kind == "activation" and ranges[s.tensor] == 0:
            for node in s.consumers:
                out[node] = f"degenerate range: input {s.tensor!r} was all zeros in calibration (amax 0)"
    return out


def quantize_qdq(model: Any, table: Any, out_path: str | os.PathLike | None = None, plan: Any = None, *,
                 weights: str = "int8", requantize: bool = False, check: bool = True,
                 allow_other_model: bool = False) -> QdqResult:
    """Write the explicit-INT8 (Q/DQ) version of ``model`` (path or ModelProto) using ``table``'s ranges.

    ``table``: a ``calibrators.CalibrationTable``, a mapping tensor -> amax, or a table file. ``plan``: a
    PrecisionPlan (or mapping node -> precision); layers it keeps in fp16/fp32 get no Q/DQ. ``requantize``
    strips existing Q/DQ first instead of refusing. ``allow_other_model`` accepts a table that records another
    model's hash. The result passes ``onnx.checker``; ``out_path`` is written
    atomically.
    """
    onnx = require("onnx", purpose="Q/DQ quantization")
    if weights not in ("int8", "qdq"):
        raise InputError(f"weights={weights!r} is not a weight storage mode", hint="use 'int8' or 'qdq'")
    proto, model_sha, label = onnx_source(model, purpose="Q/DQ quantization")
    ranges = table_model_ranges(table, proto, model_sha, label, allow_other_model)
    proto = _copy(proto)
    if has_qdq(proto):
        if not requantize:
            raise InputError(f"{label} already holds QuantizeLinear/DequantizeLinear nodes",
                             hint="quantize the FP32 model, or pass requantize=True (--requantize) to replace them")
        proto = strip_qdq(proto)
    proto = _ensure_opset(proto)
    sites = quant_sites(proto, plan)
    _missing_ranges(sites, ranges)
    degenerate = _degenerate_layers(sites, ranges)
    if degenerate:
        for node, why in degenerate.items():
            warn(f"quantize: {node} stays in fp32 ({why})")
        keep = {**_plan_mapping(proto, plan), **{n: "fp32" for n in degenerate}}
        sites = quant_sites(proto, keep)
    ed = _GraphEditor(proto)
    fp32_bytes = int8_bytes = 0
    for site in sites:
        if site.kind == "activation":
            _add_activation_qdq(ed, site, ranges[site.tensor])
        else:
            f, i = _add_weight_qdq(ed, site, weights)
            fp32_bytes, int8_bytes = fp32_bytes + f, int8_bytes + i
    ed.finish()
    if check:
        onnx.checker.check_model(proto)
    by_default = _kept_by_default(proto, plan)
    result = QdqResult(proto, None, sites, fp32_bytes, int8_bytes, {**{n: "fp32" for n in by_default},
                                                                     **_kept_float(proto, plan),
                                                                     **{n: "fp32" for n in degenerate}})
    result.reasons = {**by_default, **degenerate}
    result.source_bytes = Path(label).stat().st_size if model_sha else proto.ByteSize()
    result.output_bytes = proto.ByteSize()
    if out_path is not None:
        with atomic_path(out_path) as tmp:
            onnx.save(proto, str(tmp))
        result.path = Path(out_path)
        result.output_bytes = result.path.stat().st_size
    return result


def _copy(proto: Any) -> Any:
    onnx = require("onnx")
    fresh = onnx.ModelProto()
    fresh.CopyFrom(proto)
    return fresh


def _plan_mapping(proto: Any, plan: Any) -> dict[str, str]:
    """``plan`` as node -> precision (every node the plan decides), for adding nodes to it."""
    from .placement import _node_precisions

    return _node_precisions(proto, plan) if plan is not None else {}


def _kept_by_default(proto: Any, plan: Any) -> dict[str, str]:
    """Node -> reason for the nodes the placement itself keeps in float (a detection decode, attention) that would
    otherwise carry Q/DQ, unless a plan rule puts them back in int8."""
    from .placement import default_float_nodes, quantizable_nodes

    decided = _plan_mapping(proto, plan)
    quantizable = quantizable_nodes(proto)
    return {n: why for n, why in default_float_nodes(proto).items()
            if n in quantizable and decided.get(n, "fp32") != "int8"}


def _kept_float(proto: Any, plan: Any) -> dict[str, str]:
    if plan is None:
        return {}
    from .placement import _node_precisions

    return {k: v for k, v in _node_precisions(proto, plan).items() if v != "int8"}


def strip_qdq(proto: Any) -> Any:
    """The model with its Q/DQ removed: ``DQ(Q(x))`` becomes ``x``; ``DQ(int8 constant)`` becomes the fp32 values."""
    onnx = require("onnx")
    graph = proto.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    replace, drop, new_inits = {}, set(), []
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        src = producers.get(node.input[0])
        if src is not None and src.op_type == "QuantizeLinear":
            replace[node.output[0]] = src.input[0]
            drop.update({id(node), id(src)})
        elif node.input[0] in inits:
            values = _dequantize_constant(onnx, node, inits)
            new_inits.append(onnx.numpy_helper.from_array(values, node.output[0]))
            drop.add(id(node))
    kept = [n for n in graph.node if id(n) not in drop]
    for n in kept:
        for i, t in enumerate(n.input):
            n.input[i] = replace.get(t, t)
    for o in graph.output:
        o.name = replace.get(o.name, o.name)
    _set_nodes(graph, kept, new_inits)
    return proto


def _dequantize_constant(onnx: Any, node: Any, inits: dict) -> np.ndarray:
    q = onnx.numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
    scale = onnx.numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
    zp = onnx.numpy_helper.to_array(inits[node.input[2]]).astype(np.float32) if len(node.input) > 2 else 0.0
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    if np.ndim(scale) == 1 and q.ndim > 0:
        shape = [1] * q.ndim
        shape[axis % q.ndim] = -1
        scale, zp = scale.reshape(shape), np.reshape(zp, shape) if np.ndim(zp) else zp
    return ((q - zp) * scale).astype(np.float32)
