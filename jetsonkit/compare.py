"""Run the same inputs through several artifacts and compare every output against the first (the reference).

``compare([a, b, ...], data=... | random=N, atol=, rtol=, per_tensor=)``: any backend the Runtime opens (TensorRT
engine, ONNX, Q/DQ ONNX, TFLite). Inputs come from ``data`` (anything :class:`jetsonkit.data.DataSpec` parses) or
``random`` samples (seeded, standard normal for float inputs) in the reference's layout; a model whose 4-D input is
the other layout (a NHWC .tflite of a NCHW .onnx) gets them transposed, and its 4-D outputs are transposed back
when that is what makes the shapes agree. Inputs and outputs are paired by name, else by position.

Per output: max abs error, max relative error (|b - a| / max(|a|, tiny)), cosine similarity and SQNR (dB,
10 log10(sum a^2 / sum (a - b)^2)); it passes when every value satisfies |b - a| <= atol + rtol * |a| (numpy's
``allclose`` rule). ``per_tensor``: on ONNX-family models every intermediate float tensor is exposed as an extra
ONNX Runtime output; tensors with the same name in the reference and the candidate (a float model and its Q/DQ
version share them) are compared in the reference's topological order, and the first one whose normalised error
(||b - a|| / ||a||) jumps — above ``JUMP_FLOOR`` and ``JUMP_RATIO`` times the largest error among its producer's
inputs — is named with its node.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError

__all__ = ["compare", "CompareReport", "Metrics", "metrics"]

JUMP_RATIO = 10.0  # a tensor's error at least this many times its inputs' ...
JUMP_FLOOR = 0.05  # ... and at least 5 % of its norm: a layer that broke, not quantization noise growing


@dataclass
class Metrics:
    name: str
    max_abs: float
    max_rel: float
    cosine: float
    sqnr_db: float
    rel_l2: float
    passed: bool

    def row(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"  {self.name:<28} max_abs {self.max_abs:10.3e}  max_rel {self.max_rel:10.3e}  "
                f"cosine {self.cosine:8.5f}  SQNR {self.sqnr_db:7.2f} dB  {verdict}")


@dataclass
class CompareReport:
    reference: str
    samples: int
    atol: float
    rtol: float
    candidates: dict[str, list[Metrics]] = field(default_factory=dict)
    tensors: dict[str, list[Metrics]] = field(default_factory=dict)  # per-tensor comparison, ONNX candidates
    first_divergence: dict[str, dict] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(m.passed for ms in self.candidates.values() for m in ms)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "samples": self.samples, "atol": self.atol, "rtol": self.rtol,
                "passed": self.passed,
                "candidates": {k: [_plain(vars(m)) for m in v] for k, v in self.candidates.items()},
                "first_divergence": self.first_divergence}

    def text(self) -> str:
        lines = [f"reference {self.reference}, {self.samples} sample(s), atol {self.atol:g}, rtol {self.rtol:g}"]
        for name, ms in self.candidates.items():
            lines.append(f"{name}: {'PASS' if all(m.passed for m in ms) else 'FAIL'}")
            lines += [m.row() for m in ms]
            div = self.first_divergence.get(name)
            if div is not None:
                lines.append(f"  first diverging layer: {div['node']} ({div['op']}) -> tensor {div['tensor']!r}: "
                             f"error {div['rel_l2']:.3g} of its norm, its inputs {div['input_rel_l2']:.3g}")
            elif name in self.tensors:
                lines.append(f"  per-tensor: {len(self.tensors[name])} shared tensors, no layer's error jumps")
        return "\n".join(lines)


def _plain(row: dict) -> dict:
    """JSON-safe: a non-finite float (SQNR of identical outputs is inf) as its string."""
    return {k: v if not isinstance(v, float) or np.isfinite(v) else str(v) for k, v in row.items()}


def metrics(name: str, a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> Metrics:
    """Compare ``b`` against the reference ``a`` (float64 arithmetic)."""
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    diff = np.abs(b64 - a64)
    tiny = np.finfo(np.float32).tiny
    na, nd = float(np.sum(a64 * a64)), float(np.sum(diff * diff))
    denom = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return Metrics(
        name=name, max_abs=float(diff.max(initial=0.0)),
        max_rel=float((diff / np.maximum(np.abs(a64), tiny)).max(initial=0.0)),
        cosine=float(a64 @ b64 / denom) if denom > 0 else float(na == 0 and nd == 0),
        sqnr_db=float("inf") if nd == 0 else (10 * np.log10(na / nd) if na > 0 else float("-inf")),
        rel_l2=0.0 if nd == 0 else float(np.sqrt(nd / na)) if na > 0 else float("inf"),
        passed=bool(np.all(diff <= atol + rtol * np.abs(a64))) and a64.shape == b64.shape)


def _adapt(x: np.ndarray, shape: tuple) -> np.ndarray:
    """``x`` as is, or transposed NCHW <-> NHWC, whichever fits ``shape`` (str dims are free)."""
    def fits(s):
        return len(s) == len(shape) and all(not isinstance(w, int) or g == w for g, w in zip(s, shape))

    if x.ndim == 4 and not fits(x.shape):
        for perm in ((0, 2, 3, 1), (0, 3, 1, 2)):
            if fits(tuple(x.shape[i] for i in perm)):
                return np.ascontiguousarray(x.transpose(perm))
    return x


def _pair(names_a: list[str], names_b: list[str]) -> list[tuple[str, str]]:
    if set(names_a) <= set(names_b):
        return [(n, n) for n in names_a]
    return list(zip(names_a, names_b))


def _samples(rt, data: Any, random: int | None, seed: int) -> list[dict[str, np.ndarray]]:
    if (data is None) == (random is None):
        raise UsageError("compare needs inputs: --data SPEC or --random N (one of them)",
                         hint="e.g. --random 8, or --data mnist:test:100 / a .npy / an image folder")
    if random is not None:
        if isinstance(random, bool) or not isinstance(random, int) or random < 1:
            raise UsageError(f"--random must be an integer >= 1, got {random!r}", hint="e.g. --random 8")
        from .runtime import concrete_shape

        rng = np.random.default_rng(seed)
        out = []
        for _ in range(random):
            sample = {}
            for info in rt.inputs:
                shape = concrete_shape(info)
                if np.issubdtype(info.dtype, np.floating):
                    sample[info.name] = rng.standard_normal(shape).astype(info.dtype)
                else:
                    sample[info.name] = rng.integers(0, 16, shape).astype(info.dtype)
            out.append(sample)
        return out
    from .data import DataSpec, InputInfo

    inputs = [InputInfo(i.name, tuple(d if isinstance(d, int) else None for d in i.shape), np.dtype(i.dtype))
              for i in rt.inputs]
    return list(DataSpec.parse(data).batches(inputs, batch_size=1))


def _run_all(rt, samples: list[dict], ref_inputs: list) -> list[dict[str, np.ndarray]]:
    names = _pair([i.name for i in ref_inputs], [i.name for i in rt.inputs])
    infos = {i.name: i for i in rt.inputs}
    results = []
    for sample in samples:
        feed = {}
        for ref_name, name in names:
            feed[name] = _adapt(sample[ref_name], infos[name].shape).astype(infos[name].dtype, copy=False)
        results.append(rt.infer(feed))
    return results


def _compare_outputs(ref: list[dict], got: list[dict], atol: float, rtol: float) -> list[Metrics]:
    out = []
    for ref_name, name in _pair(list(ref[0]), list(got[0])):
        a = np.concatenate([r[ref_name].ravel() for r in ref]) if ref else np.zeros(0)
        b = np.concatenate([_adapt(g[name], ref[0][ref_name].shape).ravel() for g in got])
        out.append(metrics(ref_name, a, b, atol, rtol))
    return out


def _with_intermediates(path: Path, folder: Path) -> tuple[Path, list[tuple[str, str, str, list[str]]]]:
    """A copy of the ONNX model with every float node output as a graph output; and its nodes in order as
    (node name, op, output, inputs)."""
    from ._deps import require

    onnx = require("onnx", purpose="--per-tensor")
    model = onnx.load(str(path))
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.output)
              if v.type.tensor_type.elem_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)}
    present = {o.name for o in model.graph.output}
    order = []
    for i, node in enumerate(model.graph.node):
        for out in node.output:
            if out in floats:
                order.append((node.name or f"{node.op_type}_{i}", node.op_type, out, list(node.input)))
                if out not in present:
                    model.graph.output.append(onnx.helper.make_tensor_value_info(out, floats[out], None))
                    present.add(out)
    target = folder / f"{len(list(folder.iterdir()))}-{path.name}"
    onnx.save(model, str(target))
    return target, order


def _first_jump(order, errors: dict[str, float], producers: dict[str, list[str]]) -> dict | None:
    for node, op, tensor, _inputs in order:
        if tensor not in errors:
            continue
        upstream = _upstream_errors(tensor, errors, producers)
        if errors[tensor] > JUMP_FLOOR and errors[tensor] > JUMP_RATIO * upstream:
            return {"node": node, "op": op, "tensor": tensor, "rel_l2": errors[tensor], "input_rel_l2": upstream}
    return None


def _upstream_errors(tensor: str, errors: dict[str, float], producers: dict[str, list[str]]) -> float:
    """The largest error among the nearest compared tensors feeding ``tensor`` (through uncompared ones, such as
    a Q/DQ model's QuantizeLinear / DequantizeLinear outputs); 0 at the model inputs."""
    worst, seen, stack = 0.0, set(), list(producers.get(tensor, []))
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if t in errors:
            worst = max(worst, errors[t])
        else:
            stack.extend(producers.get(t, []))
    return worst


def compare(models: list, *, data: Any = None, random: int | None = None, atol: float = 1e-3, rtol: float = 1e-3,
            per_tensor: bool = False, seed: int = 0) -> CompareReport:
    """Compare ``models[1:]`` against ``models[0]`` on the same inputs; see the module docstring."""
    from .runtime import Runtime

    if len(models) < 2:
        raise UsageError(f"compare needs at least two models, got {len(models)}", hint="jetsonkit compare A B [C ...]")
    for name, value in (("atol", atol), ("rtol", rtol)):
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise UsageError(f"--{name} must be a finite number >= 0, got {value!r}", hint=f"e.g. --{name} 1e-3")
    paths = [Path(m) for m in models]
    with tempfile.TemporaryDirectory(prefix="jetsonkit-compare-") as tmp:
        onnx_family = per_tensor and paths[0].suffix.lower() == ".onnx"
        if per_tensor and not onnx_family:
            raise UsageError(f"--per-tensor compares ONNX models' intermediate tensors; the reference {paths[0]} is "
                             f"a {paths[0].suffix or 'suffix-less'} file", hint="put the float .onnx model first")
        opened, orders = [], {}
        try:
            for p in paths:
                target = p
                if onnx_family and p.suffix.lower() == ".onnx":
                    target, orders[str(p)] = _with_intermediates(p, Path(tmp))
                opened.append(Runtime.open(target, threads=1) if target.suffix == ".onnx" else Runtime.open(target))
            ref_rt = opened[0]
            samples = _samples(ref_rt, data, random, seed)
            ref_out = _run_all(ref_rt, samples, ref_rt.inputs)
            report = CompareReport(str(paths[0]), len(samples), float(atol), float(rtol))
            ref_names = [o.name for o in _declared(paths[0], ref_rt, orders)]
            for p, rt in zip(paths[1:], opened[1:]):
                got = _run_all(rt, samples, ref_rt.inputs)
                declared = [o.name for o in _declared(p, rt, orders)]
                report.candidates[str(p)] = _compare_outputs([{k: r[k] for k in ref_names} for r in ref_out],
                                                             [{k: g[k] for k in declared} for g in got], atol, rtol)
                if str(p) in orders:
                    _per_tensor(report, str(p), orders[str(paths[0])], ref_out, got, atol, rtol)
        finally:
            for rt in opened:
                rt.close()
    return report


def _declared(path: Path, rt, orders: dict) -> list:
    """The model's own outputs (not the intermediates exposed for --per-tensor): the first len(graph outputs)."""
    if str(path) not in orders:
        return list(rt.outputs)
    from ._deps import require

    onnx = require("onnx", purpose="--per-tensor")
    n = len(onnx.load(str(path), load_external_data=False).graph.output)
    return list(rt.outputs)[:n]


def _per_tensor(report: CompareReport, name: str, order, ref_out: list[dict], got: list[dict], atol: float,
                rtol: float) -> None:
    shared = [t for _, _, t, _ in order if t in got[0] and t in ref_out[0]]
    ms = [metrics(t, np.concatenate([r[t].ravel() for r in ref_out]), np.concatenate([g[t].ravel() for g in got]),
                  atol, rtol) for t in shared if all(r[t].size == g[t].size for r, g in zip(ref_out, got))]
    report.tensors[name] = ms
    producers = {t: inputs for _, _, t, inputs in order}
    producers.update({t: inputs for _, _, t, inputs in _order_of(name)})
    errors = {m.name: m.rel_l2 for m in ms}
    jump = _first_jump(order, errors, producers)
    if jump is not None:
        report.first_divergence[name] = jump


def _order_of(name: str):
    """The candidate's own producer map (a Q/DQ model routes a tensor through QuantizeLinear / DequantizeLinear)."""
    from ._deps import require

    onnx = require("onnx", purpose="--per-tensor")
    model = onnx.load(os.fspath(name), load_external_data=False)
    return [(n.name, n.op_type, out, list(n.input)) for n in model.graph.node for out in n.output]
