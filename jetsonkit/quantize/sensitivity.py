"""Per-layer INT8 sensitivity and the search for the fewest layers to keep out of INT8.

Method (the layer-wise sensitivity analysis of NVIDIA's pytorch-quantization / TensorRT "Debugging INT8
accuracy" guidance and of Polygraphy's precision bisection, done here on the Q/DQ ONNX graph in ONNX Runtime):

- every quantizable layer (:func:`~jetsonkit.quantize.placement.quantizable_nodes`) is scored against the FP32
  model by the relative output error ``||y - y_fp32|| / ||y_fp32||`` on a validation batch, either
  ``one_at_a_time`` (only that layer in INT8: the damage it does alone) or ``all_but_one`` (everything in INT8
  but that layer: how much keeping it in float repairs; the fast mode, meant for one batch of a large model);
- the search keeps the shortest prefix of the ranking (most sensitive first) in float that meets the budget:
  an accuracy drop in points when labels are given, else the relative output error; prefix lengths are probed
  1, 2, 4, ... then bisected, so it costs O(log n) evaluations; a short result is then pruned (each kept layer
  tried back in INT8, latest first). Greedy, so "fewest" means fewest along the ranking, not a proof of
  minimality over all subsets.

The outcome is an editable :class:`~jetsonkit.quantize.plan.PrecisionPlan` plus a table (layer, op,
sensitivity, decision). Costs are counted in evaluation passes and reported as a multiple of one FP32 pass.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_text_atomic
from .._progress import info, progress
from ..errors import DataError, InputError
from .placement import quantizable_nodes
from .plan import PRECISIONS, PrecisionPlan, Rule
from ..artifacts import onnx_source
from .qdq import quantize_qdq, table_model_ranges

__all__ = ["LayerScore", "SensitivityReport", "layer_sensitivity", "search_mixed_precision", "MODES"]

MODES = ("one_at_a_time", "all_but_one")
PRUNE_LIMIT = 8  # prune kept sets up to this size (one evaluation per kept layer)


@dataclass(frozen=True)
class LayerScore:
    layer: str
    op: str
    sensitivity: float  # relative output error caused (one_at_a_time) or repaired (all_but_one)


@dataclass
class SensitivityReport:
    """Ranking, decisions and costs of one search; ``met`` says whether the budget was reached."""

    scores: list[LayerScore]
    kept: list[str]
    keep_precision: str
    metric: str  # "top1_drop_points" or "relative_output_error"
    budget: float
    full_int8: float
    final: float
    met: bool
    mode: str
    evaluations: int
    seconds: float
    fp32_pass_seconds: float
    reference_top1: float | None = None
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def cost_in_fp32_passes(self) -> float:
        return self.seconds / max(self.fp32_pass_seconds, 1e-9)

    def plan(self) -> PrecisionPlan:
        """The plan that keeps ``kept`` in ``keep_precision`` (exact-name rules, most sensitive first)."""
        by_name = {s.layer: s for s in self.scores}
        rules = [_exact_rule(name, self.keep_precision, f"sensitivity {by_name[name].sensitivity:.4g} "
                             f"({self.mode}); kept out of INT8 by the search") for name in self.kept]
        return PrecisionPlan(rules, "int8", "<sensitivity search>")

    def table(self) -> str:
        width = max([len(s.layer) for s in self.scores] + [5])
        lines = [f"{'layer':<{width}}  {'op':<14} {'sensitivity':>12}  decision"]
        for s in self.scores:
            decision = self.keep_precision if s.layer in self.kept else "int8"
            lines.append(f"{s.layer:<{width}}  {s.op:<14} {s.sensitivity:>12.4g}  {decision}")
        unit = " points" if self.metric == "top1_drop_points" else ""
        lines.append(f"{self.metric}: full INT8 {self.full_int8:.4g}{unit} -> {self.final:.4g}{unit} with "
                     f"{len(self.kept)} layer(s) in {self.keep_precision} (budget {self.budget:g}{unit}: "
                     f"{'met' if self.met else 'NOT met'}); {self.evaluations} evaluations, "
                     f"{self.cost_in_fp32_passes:.1f}x one FP32 pass")
        return "\n".join(lines)

    def save(self, plan_path: str | Path, table_path: str | Path | None = None) -> None:
        """Write the editable plan (YAML) and, if asked, the table (text)."""
        header = ["precision plan written by jetsonkit's sensitivity search; edit freely",
                  f"metric {self.metric}, budget {self.budget:g}, full INT8 {self.full_int8:.4g}, "
                  f"this plan {self.final:.4g}"]
        self.plan().save(plan_path, header)
        if table_path is not None:
            write_text_atomic(table_path, self.table() + "\n")


def _exact_rule(name: str, precision: str, note: str) -> Rule:
    if any(c in name for c in "*?[]"):
        return Rule(precision, regex=f"^{re.escape(name)}$", note=note)
    return Rule(precision, match=name, note=note)


class _Evaluator:
    """Runs Q/DQ variants of one model in ONNX Runtime on fixed inputs and scores them against FP32."""

    def __init__(self, model: Any, ranges: dict[str, float], x: np.ndarray, y: np.ndarray | None):
        from ..artifacts import ort_predictor

        self.model, self.ranges, self.x, self.y = model, ranges, x, y
        self._predictor = ort_predictor
        start = time.perf_counter()
        self.reference = ort_predictor(model)(x)
        self.fp32_seconds = time.perf_counter() - start
        self.calls = 0

    def outputs(self, float_layers: dict[str, str]) -> np.ndarray:
        self.calls += 1
        proto = quantize_qdq(self.model, self.ranges, plan=float_layers, check=False).model
        return self._predictor(proto)(self.x)

    def output_error(self, float_layers: dict[str, str]) -> float:
        out = self.outputs(float_layers)
        return float(np.linalg.norm(out - self.reference) / max(np.linalg.norm(self.reference), 1e-30))

    def top1_drop(self, float_layers: dict[str, str]) -> float:
        out = self.outputs(float_layers)
        acc = (out.reshape(len(out), -1).argmax(1) == self.y).mean()
        return float(100 * (self.reference_top1 - acc))

    @property
    def reference_top1(self) -> float:
        return float((self.reference.reshape(len(self.x), -1).argmax(1) == self.y).mean())


def layer_sensitivity(model: Any, table: Any, x: np.ndarray, *, mode: str = "one_at_a_time",
                      layers: list[str] | None = None, keep_precision: str = "fp32") -> list[LayerScore]:
    """Score every quantizable layer (or ``layers``) on batch ``x``; most sensitive first."""
    if mode not in MODES:
        raise InputError(f"sensitivity mode {mode!r} is unknown", hint=f"use one of {', '.join(MODES)}")
    proto, ranges = _model_and_ranges(model, table)
    ev = _Evaluator(proto, ranges, _check_x(x), None)
    return _scores(ev, proto, mode, layers, keep_precision)


def _scores(ev: _Evaluator, proto: Any, mode: str, layers: list[str] | None, keep: str) -> list[LayerScore]:
    ops = quantizable_nodes(proto)
    names = list(layers) if layers is not None else list(ops)
    unknown = [n for n in names if n not in ops]
    if unknown:
        raise InputError(f"not quantizable layers: {', '.join(unknown[:5])}", hint="pick names from --explain")
    everything_float = {n: keep for n in ops}
    full = ev.output_error({}) if mode == "all_but_one" else 0.0
    scores = []
    for name in progress(names, f"sensitivity ({mode})"):
        if mode == "one_at_a_time":
            value = ev.output_error({k: v for k, v in everything_float.items() if k != name})
        else:
            value = full - ev.output_error({name: keep})
        scores.append(LayerScore(name, ops[name], value))
    return sorted(scores, key=lambda s: -s.sensitivity)


def _model_and_ranges(model: Any, table: Any) -> tuple[Any, dict[str, float]]:
    """The ModelProto and the table's ranges, refusing a table made for another model."""
    proto, sha, label = onnx_source(model, purpose="the sensitivity search")
    return proto, table_model_ranges(table, proto, sha, label)


def _check_x(x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.size == 0:
        raise DataError("sensitivity data is empty", hint="pass at least one validation batch")
    return np.ascontiguousarray(x, dtype=np.float32) if x.dtype.kind == "f" else x


def search_mixed_precision(model: Any, table: Any, x: np.ndarray, y: np.ndarray | None = None, *, budget: float,
                           mode: str = "all_but_one", batch: int | None = 256, keep_precision: str = "fp32",
                           max_kept: int | None = None) -> SensitivityReport:
    """Keep the fewest (along the ranking) layers out of INT8 so that the budget holds on ``(x, y)``.

    ``budget``: allowed top-1 drop in points vs FP32 when ``y`` is given, else allowed relative output error.
    The ranking is measured on the first ``batch`` samples (all of ``x`` when None); the budget on all of ``x``.
    ``keep_precision`` names what kept layers become in the plan ("fp32" or "fp16"; ONNX Runtime on the CPU
    measures both as fp32).
    """
    if keep_precision not in PRECISIONS[1:]:
        raise InputError(f"keep_precision {keep_precision!r} is not fp16 or fp32", hint="use fp16 or fp32")
    if not budget >= 0:
        raise InputError(f"budget {budget!r} must be >= 0", hint="e.g. 0.3 (points) or 0.05 (output error)")
    start = time.perf_counter()
    proto, ranges = _model_and_ranges(model, table)
    x = _check_x(x)
    if y is not None and len(np.asarray(y).reshape(-1)) != len(x):
        raise DataError(f"{len(x)} samples but {len(np.asarray(y).reshape(-1))} labels", hint="one label per sample")
    ev = _Evaluator(proto, ranges, x, None if y is None else np.asarray(y).reshape(-1))
    ranking_ev = ev if batch is None or batch >= len(x) else _Evaluator(proto, ranges, x[:batch], None)
    scores = _scores(ranking_ev, proto, mode, None, keep_precision)
    measure = ev.top1_drop if y is not None else ev.output_error
    kept, history = _greedy(scores, measure, budget, keep_precision, max_kept)
    final = history[-1][1]  # the last entry is the plan returned
    info(f"sensitivity search: kept {len(kept)} layer(s) out of INT8: {', '.join(kept) or 'none'}")
    return SensitivityReport(
        scores=scores, kept=kept, keep_precision=keep_precision,
        metric="top1_drop_points" if y is not None else "relative_output_error", budget=budget,
        full_int8=history[0][1], final=final, met=final <= budget, mode=mode,
        evaluations=ev.calls + (ranking_ev.calls if ranking_ev is not ev else 0),
        seconds=time.perf_counter() - start, fp32_pass_seconds=ev.fp32_seconds,
        reference_top1=ev.reference_top1 if y is not None else None, history=history)


def _greedy(scores: list[LayerScore], measure, budget: float, keep: str, max_kept: int | None):
    """The shortest prefix of the ranking to keep in float so that ``measure`` <= budget, then pruning.

    Prefix lengths 1, 2, 4, 8, ... are tried until one meets the budget, then a binary search between the last
    failing and the first passing length (the error is taken as non-increasing along the ranking): O(log n)
    evaluations instead of n. A short result (<= ``PRUNE_LIMIT`` layers) is then pruned: each kept layer
    (latest first) goes back to INT8 if the budget still holds without it.
    """
    limit = min(len(scores), len(scores) if max_kept is None else max_kept)
    order = [s.layer for s in scores]
    cache: dict[int, float] = {}

    def at(k: int) -> float:
        if k not in cache:
            cache[k] = measure({n: keep for n in order[:k]})
            history.append((k, cache[k]))
        return cache[k]

    history: list[tuple[int, float]] = []
    if at(0) <= budget or limit == 0:
        return [], history
    lo, hi = 0, 1  # at(lo) fails; look for the first passing hi
    while hi < limit and at(hi) > budget:
        lo, hi = hi, min(2 * hi, limit)
    if at(hi) > budget:
        history.append((hi, at(hi)))
        return order[:hi], history  # even the longest allowed prefix fails: report it, met=False
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if at(mid) <= budget else (mid, hi)
    kept, value = order[:hi], at(hi)
    if len(kept) <= PRUNE_LIMIT:
        for name in list(reversed(kept[:-1])):
            trial = [n for n in kept if n != name]
            v = measure({n: keep for n in trial})
            if v <= budget:
                kept, value = trial, v
                history.append((len(kept), value))
    history.append((len(kept), value))
    return kept, history
