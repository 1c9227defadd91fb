"""2:4 verification of ONNX graphs (plain or explicit Q/DQ), and 2:4 pruning of ONNX weights for speed tests.

A weighted node is ``Conv``, ``Gemm`` or ``MatMul`` whose weight input is a constant: an initializer, a
``Constant``, or one behind ``DequantizeLinear`` (Q/DQ graph: int8 initializer -> DQ, or float -> Q -> DQ).
With zero point 0 — TensorRT's symmetric weight quantization — quantization maps 0 to 0, so a 2:4 float weight
stays 2:4 as int8; a non-zero zero point is taken into account (the pattern is checked on ``q - zero_point``).

Weight layouts (ONNX operator spec): Conv ``W[K, C/group, *kernel]`` -> groups along axis 1; Gemm with
``transB=1`` ``B[N, K]`` -> axis 1, with ``transB=0`` ``B[K, N]`` -> axis 0; MatMul ``B[..., K, N]`` -> axis -2.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._deps import require
from .._io import atomic_path
from ..artifacts import load_onnx
from ..errors import CheckFailed, InputError
from .eligibility import GROUP, check_patterns_match, shape_reason
from .masks import bad_group_fraction, holds_2to4, mask_2to4, zero_fraction

SPEED_ONLY_LABEL = ("2:4 pruned ONNX initializers by magnitude, FOR SPEED EXPERIMENTS ONLY: no fine-tune, "
                    "accuracy is not preserved")


@dataclass
class OnnxLayerReport:
    """One weighted ONNX node: its weight, the eligibility verdict and what its weight holds now."""

    layer: str
    op: str
    weight: str
    shape: tuple
    out_channels: int
    in_channels: int
    eligible: bool
    reason: str
    quantized: bool
    pattern_holds: bool | None  # None when in_channels is not a multiple of 4
    bad_groups: float
    zero_fraction: float

    @property
    def pruned(self) -> bool:
        """At least half the weights are zero (what 2:4 implies)."""
        return self.zero_fraction >= 0.5

    def as_dict(self) -> dict:
        return {**self.__dict__, "shape": list(self.shape), "pruned": self.pruned}


@dataclass
class SparsityReport:
    path: str
    layers: list[OnnxLayerReport]

    @property
    def eligible(self) -> list[OnnxLayerReport]:
        return [r for r in self.layers if r.eligible]

    @property
    def sparse(self) -> list[OnnxLayerReport]:
        return [r for r in self.layers if r.pattern_holds and r.pruned]

    def as_dict(self) -> dict:
        return {"path": self.path, "layers": [r.as_dict() for r in self.layers],
                "summary": {"weighted": len(self.layers), "eligible": len(self.eligible), "sparse_2to4": len(self.sparse)}}

    def table(self) -> str:
        rows = [f"{'layer':<34} {'op':<6} {'out':>5} {'in':>5} {'q':<2} {'eligible':<8} {'2:4':<4} {'zeros':>6}  reason"]
        for r in self.layers:
            holds = "-" if r.pattern_holds is None else ("yes" if r.pattern_holds else "no")
            rows.append(f"{r.layer[-34:]:<34} {r.op:<6} {r.out_channels:>5} {r.in_channels:>5} {'q' if r.quantized else '':<2} "
                        f"{'yes' if r.eligible else 'no':<8} {holds:<4} {r.zero_fraction:>6.3f}  {r.reason}")
        rows.append(f"{len(self.sparse)} of {len(self.eligible)} eligible layers hold 2:4 "
                    f"({len(self.layers)} weighted layers in {self.path})")
        return "\n".join(rows)

    def require_sparse(self, patterns: Sequence[str] | None = None) -> None:
        """CheckFailed naming each eligible layer (matching ``patterns``, default all) whose weight is not 2:4."""
        chosen = [r for r in self.eligible if not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns
                                                                 for n in (r.layer, r.weight))]
        if not chosen:
            raise CheckFailed(f"no eligible 2:4 layer in {self.path}" + (f" matches {list(patterns)}" if patterns else ""),
                              hint="2:4 needs Conv/Gemm/MatMul weights with out % 8 == 0, in % 16 == 0, groups == 1")
        bad = [r for r in chosen if not r.pattern_holds]
        if bad:
            parts = ", ".join(f"{r.layer} ({r.bad_groups:.1%} of groups of 4 have > 2 non-zeros)" for r in bad)
            raise CheckFailed(f"2:4 pattern does not hold in {self.path}: {parts}",
                              hint="prune with jetsonkit prune, and keep masks while fine-tuning", details=self.table())


def _load(model_or_path):
    if isinstance(model_or_path, (str, os.PathLike)):
        return load_onnx(model_or_path, purpose="reading ONNX models"), str(model_or_path)
    return model_or_path, "<model>"


def _constants(graph) -> tuple[dict, dict]:
    """(name -> numpy array for initializers and Constant outputs, tensor name -> producing node)."""
    numpy_helper = require("onnx.numpy_helper", purpose="reading ONNX weights")
    values = {init.name: init for init in graph.initializer}
    producers = {}
    for node in graph.node:
        for out in node.output:
            producers[out] = node
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = attr.t
    return {k: numpy_helper.to_array(v) for k, v in values.items()}, producers


def _weight_of(name: str, consts: dict, producers: dict) -> tuple[np.ndarray | None, bool, str]:
    """The weight array behind ``name`` (following DQ / Q), whether it is quantized, and its source tensor name."""
    if name in consts:
        return consts[name], False, name
    node = producers.get(name)
    if node is None or node.op_type != "DequantizeLinear":
        return None, False, name
    source = node.input[0]
    zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if source in consts:
        q = consts[source].astype(np.int32)
        if zp is not None and np.any(zp != 0):
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            zp_b = zp.reshape([-1 if i == axis % q.ndim else 1 for i in range(q.ndim)]) if zp.ndim else zp
            q = q - zp_b.astype(np.int32)
        return q, True, source
    qnode = producers.get(source)
    if qnode is not None and qnode.op_type == "QuantizeLinear" and qnode.input[0] in consts:
        return consts[qnode.input[0]], True, qnode.input[0]
    return None, True, source


def _layout(node, w: np.ndarray) -> tuple[int, int, int, int]:
    """(grouped axis, out channels, in channels per group, groups) for a weighted node's weight."""
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "Conv":
        groups = attrs["group"].i if "group" in attrs else 1
        return 1, int(w.shape[0]), int(w.shape[1]), groups
    if node.op_type == "Gemm" and "transB" in attrs and attrs["transB"].i:
        return 1, int(w.shape[0]), int(w.shape[1]), 1
    return w.ndim - 2, int(w.shape[-1]), int(w.shape[-2]), 1


def _weighted_nodes(model):
    consts, producers = _constants(model.graph)
    for i, node in enumerate(model.graph.node):
        if node.op_type not in ("Conv", "Gemm", "MatMul") or len(node.input) < 2:
            continue
        w, quantized, source = _weight_of(node.input[1], consts, producers)
        yield (node.name or f"{node.op_type}_{i}"), node, w, quantized, source


def report_onnx(model_or_path) -> SparsityReport:
    """Per weighted node: eligible (and why not), pruned, 2:4 pattern holds, fraction of zeros."""
    model, where = _load(model_or_path)
    layers = []
    for name, node, w, quantized, source in _weighted_nodes(model):
        if w is None or w.ndim < 2:
            continue  # activation x activation MatMul (e.g. attention scores): no weight to prune
        axis, out_c, in_c, groups = _layout(node, w)
        reason = shape_reason(out_c, in_c, groups)
        holds = holds_2to4(w, axis) if in_c % GROUP == 0 else None
        bad = bad_group_fraction(w, axis) if holds is False else 0.0
        layers.append(OnnxLayerReport(name, node.op_type, source, tuple(int(d) for d in w.shape), out_c, in_c,
                                      not reason, reason, quantized, holds, bad, zero_fraction(w)))
    return SparsityReport(where, layers)


def prune_onnx_initializers(in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                            include: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> SparsityReport:
    """Write a copy of the ONNX model with every eligible float weight pruned 2:4 by magnitude.

    FOR SPEED EXPERIMENTS ONLY: no fine-tune, so accuracy drops; the model's metadata says so. Patterns match the
    node name or the weight name. Returns the report of the written model.
    """
    onnx = require("onnx", purpose="pruning ONNX weights")
    numpy_helper = require("onnx.numpy_helper", purpose="pruning ONNX weights")
    model, _ = _load(in_path)
    candidates = [(n, node, w, q, src) for n, node, w, q, src in _weighted_nodes(model) if w is not None and w.ndim >= 2]
    check_patterns_match(include, [x for c in candidates for x in (c[0], c[4])], "--include")
    check_patterns_match(exclude, [x for c in candidates for x in (c[0], c[4])], "--exclude")
    inits = {init.name: init for init in model.graph.initializer}
    pruned = skipped_quantized = 0
    for name, node, w, quantized, source in candidates:
        names = (name, source)
        if include and not any(fnmatch.fnmatchcase(n, p) for p in include for n in names):
            continue
        if any(fnmatch.fnmatchcase(n, p) for p in exclude or () for n in names):
            continue
        axis, out_c, in_c, groups = _layout(node, w)
        skipped_quantized += bool(quantized) and not shape_reason(out_c, in_c, groups)
        if shape_reason(out_c, in_c, groups) or quantized or source not in inits:
            continue
        arr = numpy_helper.to_array(inits[source])
        inits[source].CopyFrom(numpy_helper.from_array(arr * mask_2to4(arr, axis).astype(arr.dtype), source))
        pruned += 1
    if not pruned and skipped_quantized:
        raise InputError(f"{str(in_path)!r} holds quantized weights ({skipped_quantized} eligible layers behind "
                         "DequantizeLinear)", hint="prune the float model, then quantize it again")
    if not pruned:
        raise CheckFailed(f"no eligible float weight to prune in {str(in_path)!r}",
                          hint="2:4 needs Conv/Gemm/MatMul weights with out % 8 == 0, in % 16 == 0, groups == 1")
    entry = model.metadata_props.add()
    entry.key, entry.value = "jetsonkit.sparsity", SPEED_ONLY_LABEL
    if Path(out_path).resolve() == Path(in_path).resolve():
        raise InputError(f"output {str(out_path)!r} is the input model", hint="write the pruned copy to another file")
    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))
    return report_onnx(out_path)
