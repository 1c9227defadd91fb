"""CI gates on a report: accuracy drop vs FP32, mAP drop (detection), p99 latency and size ratio, row by row.

A row is gated only when it was measured (a gated figure that is missing, null or NaN fails its gate); a TensorRT
target "not built here" has no figures and is listed as not gated (``require_built=True`` turns that into a failure,
for a runner that is supposed to build it).
The size ratio is FP32 ONNX size / artifact size (2.0 = half the size), so ``min_size_ratio`` asks for compression.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError

__all__ = ["BUDGET_EXAMPLES", "budget_problem", "Budget", "RowVerdict", "gate_rows", "load_report", "verdict_table"]


BUDGET_EXAMPLES = {"max_accuracy_drop": "0.5", "max_map_drop": "1", "max_latency_p99_ms": "2", "min_size_ratio": "3.5"}
_DROPS = ("max_accuracy_drop", "max_map_drop")


def budget_problem(key: str, value: float | None) -> str | None:
    """Why ``value`` is not a usable budget ``key`` (None when it is, or when it is not set)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "not a finite number"
    if key in _DROPS:
        return "must be >= 0 points" if value < 0 else None
    return "must be > 0" if value <= 0 else None


@dataclass(frozen=True)
class Budget:
    max_accuracy_drop: float | None = None  # points
    max_latency_p99_ms: float | None = None
    min_size_ratio: float | None = None
    require_built: bool = False
    max_map_drop: float | None = None  # points of the report's mAP metric (detection reports)

    @classmethod
    def from_config(cls, cfg: Any) -> "Budget":
        return cls(cfg.max_accuracy_drop, cfg.max_latency_p99_ms, cfg.min_size_ratio,
                   max_map_drop=cfg.max_map_drop)

    @property
    def empty(self) -> bool:
        return all(getattr(self, k) is None for k in BUDGET_EXAMPLES)

    def describe(self) -> str:
        parts = []
        if self.max_accuracy_drop is not None:
            parts.append(f"accuracy drop <= {self.max_accuracy_drop:g} points")
        if self.max_map_drop is not None:
            parts.append(f"mAP drop <= {self.max_map_drop:g} points")
        if self.max_latency_p99_ms is not None:
            parts.append(f"p99 latency <= {self.max_latency_p99_ms:g} ms")
        if self.min_size_ratio is not None:
            parts.append(f"size ratio >= {self.min_size_ratio:g}x")
        return ", ".join(parts) or "no budget"


@dataclass
class RowVerdict:
    target: str
    artifact: str
    ok: bool
    gated: bool
    failures: list[str] = field(default_factory=list)


def _figure(row: dict, key: str) -> float | None:
    """A row's figure as a float, or None when it is missing, null or NaN (not measured: it fails its gate)."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _drop_failure(row: dict, key: str, limit: float | None, what: str, missing: str = "") -> list[str]:
    """The failure of a drop gate (``limit`` points) on the row's signed difference ``key`` to FP32."""
    if limit is None:
        return []
    delta = _figure(row, key)
    if delta is None:
        return [f"{what} drop not measured ({row.get(key)!r}{missing})"]
    return [f"{what} drop {-delta:.2f} > {limit:g} points"] if -delta > limit + 1e-9 else []


def _row_failures(row: dict, b: Budget) -> list[str]:
    fails = _drop_failure(row, "delta_points", b.max_accuracy_drop, "accuracy")
    fails += _drop_failure(row, "map_delta_points", b.max_map_drop, "mAP", ": not a detection report?")
    p99 = _figure(row, "latency_p99_ms")
    if b.max_latency_p99_ms is not None:
        if p99 is None or math.isinf(p99):
            fails.append(f"p99 latency not measured ({row.get('latency_p99_ms')!r})")
        elif p99 > b.max_latency_p99_ms:
            fails.append(f"p99 latency {p99:.3f} > {b.max_latency_p99_ms:g} ms")
    ratio = _figure(row, "size_ratio")
    if b.min_size_ratio is not None:
        if ratio is None:
            fails.append(f"size ratio not measured ({row.get('size_ratio')!r})")
        elif ratio < b.min_size_ratio:
            fails.append(f"size ratio {ratio:.2f}x < {b.min_size_ratio:g}x")
    return fails


def gate_rows(rows: list[dict], budget: Budget, targets: list[str] | None = None) -> list[RowVerdict]:
    """One verdict per target row (the reference-only row is not a target and is not gated)."""
    chosen = [r for r in rows if r.get("target") and (not targets or r["target"] in targets)]
    if targets:
        missing = sorted(set(targets) - {r["target"] for r in chosen})
        if missing:
            raise InputError(f"target {missing[0]!r} is not in the report",
                             hint=f"targets there: {', '.join(r['target'] for r in rows if r.get('target'))}")
    verdicts = []
    for r in chosen:
        if r["status"] == "measured":
            fails = _row_failures(r, budget)
            verdicts.append(RowVerdict(r["target"], r["artifact"], not fails, True, fails))
        else:
            fails = [f"{r['status']}: no measurement"] if budget.require_built else []
            verdicts.append(RowVerdict(r["target"], r["artifact"], False, False, fails))
    return verdicts


def verdict_table(verdicts: list[RowVerdict]) -> str:
    width = max([len(v.target) for v in verdicts] + [6])
    lines = [f"{'target':<{width}}  {'verdict':<10} why"]
    for v in verdicts:
        verdict = "pass" if v.ok else ("FAIL" if v.failures else "not gated")
        why = "; ".join(v.failures) or ("within budget" if v.ok else "not measured on this machine")
        lines.append(f"{v.target:<{width}}  {verdict:<10} {why}")
    return "\n".join(lines)


def load_report(path: str | Path) -> dict:
    """Read report.json (or the report.json inside a folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        report = json.loads(p.read_text())
    except FileNotFoundError as exc:
        raise InputError(f"report {str(p)!r} does not exist", hint="run jetsonkit compress first") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}:{exc.lineno}: report is not valid JSON: {exc.msg}",
                          hint="re-run jetsonkit compress to write it again") from exc
    if not isinstance(report, dict) or report.get("format") != "jetsonkit-report/1" or "rows" not in report:
        raise ConfigError(f"{p} is not a jetsonkit report (format jetsonkit-report/1)",
                          hint="pass the report.json written by jetsonkit compress")
    return report
