"""Gates and the Pareto front on hand-made rows (our own arithmetic; no measurement involved)."""

from __future__ import annotations

import pytest

from jetsonkit.errors import InputError
from jetsonkit.pipeline.gates import Budget, gate_rows, verdict_table
from jetsonkit.pipeline.plots import pareto_front


def _row(target, delta, p99, ratio, status="measured"):
    return {"target": target, "artifact": f"{target}.onnx", "status": status, "delta_points": delta,
            "latency_p99_ms": p99, "size_ratio": ratio}


ROWS = [_row("fp32", 0.0, 1.0, 1.0), _row("int8", -0.3, 0.8, 3.9), _row("bad", -2.0, 0.5, 3.9),
        _row("orin", None, None, None, status="not built here"), {**_row("", 0.0, 1.0, 1.0), "target": ""}]


def test_each_gate_fails_its_rows():
    v = {x.target: x for x in gate_rows(ROWS, Budget(max_accuracy_drop=0.5, max_latency_p99_ms=0.9,
                                                      min_size_ratio=3.5))}
    assert set(v) == {"fp32", "int8", "bad", "orin"}  # the reference-only row (no target) is not gated
    assert v["int8"].ok and v["int8"].gated and not v["int8"].failures
    assert v["fp32"].failures == ["p99 latency 1.000 > 0.9 ms", "size ratio 1.00x < 3.5x"]
    assert v["bad"].failures == ["accuracy drop 2.00 > 0.5 points"]
    assert not v["orin"].gated and not v["orin"].ok and not v["orin"].failures


def test_drop_at_the_limit_passes_and_gains_never_fail():
    rows = [_row("a", -0.5, 1, 4), _row("b", +0.7, 1, 4)]
    assert all(v.ok for v in gate_rows(rows, Budget(max_accuracy_drop=0.5)))


def test_require_built_fails_unbuilt_rows():
    v = {x.target: x for x in gate_rows(ROWS, Budget(max_accuracy_drop=5, require_built=True))}
    assert v["orin"].failures == ["not built here: no measurement"]
    table = verdict_table(list(v.values()))
    assert "orin" in table and "FAIL" in table


def test_unknown_target_is_an_input_error():
    with pytest.raises(InputError, match="target 'nope' is not in the report"):
        gate_rows(ROWS, Budget(max_accuracy_drop=1), targets=["nope"])


def test_pareto_front():
    # (cost, accuracy): b dominates a (cheaper and as accurate); c is the most accurate; d is dominated by b
    pts = [(2.0, 0.99), (1.0, 0.99), (3.0, 0.995), (1.5, 0.98), (1.0, 0.99)]
    assert pareto_front(pts) == [1, 2, 4]  # ties are all on the front
    assert pareto_front([]) == [] and pareto_front([(1.0, 0.5)]) == [0]
