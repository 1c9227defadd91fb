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

from ..errors import CheckFailed, ConfigError, InputError, UsageError
from ..settings import SettingError, check, option

__all__ = ["BUDGET_EXAMPLES", "budget_problem", "Budget", "RowVerdict", "gate_rows", "load_report", "verdict_table",
           "CheckResult", "run_check"]


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
    """The check stage's settings: ``jetsonkit check``'s gate flags and a recipe's ``budgets`` section are read off
    these fields (:mod:`jetsonkit.settings`), so both refuse the same unusable values."""

    max_accuracy_drop: float | None = option(None, "largest allowed drop vs FP32, in percentage points (e.g. 0.5)",
                                             metavar="POINTS")
    max_map_drop: float | None = option(None, "detection reports: largest allowed drop of the recipe's mAP (map50 or "
                                              "map50_95) vs FP32, in points (e.g. 1)", metavar="POINTS")
    max_latency_p99_ms: float | None = option(None, "largest allowed p99 latency", metavar="MS")
    min_size_ratio: float | None = option(None, "smallest allowed FP32-size / artifact-size ratio (e.g. 3.5 for INT8)",
                                          metavar="X")
    require_built: bool = option(False, "fail for a target that was not built / measured (e.g. on the Jetson "
                                        "runner)", recipe=False)

    def validate(self) -> None:
        for key, example in BUDGET_EXAMPLES.items():
            problem = budget_problem(key, getattr(self, key))
            if problem:
                raise SettingError(key, f"{key} {getattr(self, key)} is not a usable gate ({problem})",
                                   hint=f"e.g. {example}")

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


@dataclass
class CheckResult:
    """What the check stage hands back when every gated target passes: the budget and one verdict per target."""

    budget: Budget
    verdicts: list[RowVerdict]

    def to_dict(self) -> dict:
        return {"budget": self.budget.describe(), "rows": [v.__dict__ for v in self.verdicts]}

    def summary(self) -> str:
        return verdict_table(self.verdicts) + f"\nall gated targets pass ({self.budget.describe()})"


def run_check(report: str | Path, budget: Budget, targets: list[str] | None = None) -> CheckResult:
    """Gate the rows of ``report`` (a report.json or its folder; only ``targets`` when given) against ``budget``.

    UsageError when no gate is given; CheckFailed (with the verdict table) when a gated target fails or no target
    was measured at all."""
    check(budget)
    if budget.empty and not budget.require_built:
        raise UsageError("no gate given", hint="pass --max-accuracy-drop, --max-map-drop, --max-latency-p99-ms and/or "
                         "--min-size-ratio")
    verdicts = gate_rows(load_report(report)["rows"], budget, targets)
    failed = [v for v in verdicts if v.failures]
    if failed:
        raise CheckFailed(f"{len(failed)} of {len(verdicts)} target(s) fail the gates ({budget.describe()}): "
                          f"{', '.join(v.target for v in failed)}", hint="see the table", details=verdict_table(verdicts))
    if not any(v.gated for v in verdicts):
        raise CheckFailed("no measured target to gate in this report (all were not built here)",
                          hint="run the check where the targets are built, or gate CPU targets",
                          details=verdict_table(verdicts))
    return CheckResult(budget, verdicts)
