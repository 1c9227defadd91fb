"""NaN or missing figures fail gates (never pass them), and report.json is strict JSON (null, never a bare NaN)."""

from __future__ import annotations

import json
import math

import pytest

from jetsonkit.cli import main
from jetsonkit.pipeline.gates import Budget, gate_rows
from jetsonkit._io import write_json_atomic
from jetsonkit.pipeline.report import FORMAT


def _row(target, delta, p99=1.0, ratio=4.0, accuracy=0.98):
    return {"target": target, "artifact": f"{target}.onnx", "status": "measured", "delta_points": delta,
            "latency_p99_ms": p99, "size_ratio": ratio, "accuracy": accuracy}


@pytest.mark.parametrize("row, fragment", [
    (_row("nan-drop", math.nan), "accuracy drop not measured"),
    (_row("null-drop", None), "accuracy drop not measured"),
    (_row("nan-p99", -0.1, p99=math.nan), "p99 latency not measured"),
    (_row("nan-ratio", -0.1, ratio=None), "size ratio not measured"),
])
def test_nan_or_missing_figures_fail_their_gate(row, fragment):
    (v,) = gate_rows([row], Budget(max_accuracy_drop=0.5, max_latency_p99_ms=5, min_size_ratio=2))
    assert v.gated and not v.ok and any(fragment in f for f in v.failures), v.failures


def test_a_figure_without_a_budget_is_not_gated():
    (v,) = gate_rows([_row("p99-missing", -0.1, p99=None)], Budget(max_accuracy_drop=0.5))
    assert v.ok


def _report(rows):
    return {"format": FORMAT, "rows": rows, "reference": {"accuracy": math.nan}}


def test_report_json_is_strict_and_nan_becomes_null(tmp_path):
    write_json_atomic(tmp_path / "report.json", _report([_row("a", math.nan, p99=math.inf)]))
    text = (tmp_path / "report.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in report.json"))
    assert data["rows"][0]["delta_points"] is None and data["rows"][0]["latency_p99_ms"] is None
    assert data["reference"]["accuracy"] is None


@pytest.mark.parametrize("bad", ["NaN", "null"])
def test_check_fails_a_nan_or_null_accuracy(capsys, tmp_path, bad):
    text = json.dumps(_report([_row("cpu-int8", 0.0)])).replace('"delta_points": 0.0', f'"delta_points": {bad}')
    (tmp_path / "report.json").write_text(text)
    assert main(["check", str(tmp_path), "--max-accuracy-drop", "0.5"]) == 1
    out, err = capsys.readouterr()
    assert "accuracy drop not measured" in out and "cpu-int8" in err


def test_negative_budget_is_refused(capsys, tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(_report([_row("a", 0.0)])))
    assert main(["check", str(tmp_path), "--max-accuracy-drop", "-1"]) == 2
    assert "--max-accuracy-drop -1.0 is not a usable gate" in capsys.readouterr().err
