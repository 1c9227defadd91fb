"""The check stage's contract: Budget is `jetsonkit check`'s gate flags and a recipe's `budgets` section (one set of
fields, one check), and run_check gates a report (hand-made rows: our own arithmetic, no measurement involved)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from jetsonkit.cli import build_parser
from jetsonkit.errors import CheckFailed, ConfigError, UsageError
from jetsonkit.pipeline import load_recipe
from jetsonkit.pipeline.gates import Budget, run_check
from jetsonkit.settings import from_args

from .conftest import SMALL_RECIPE, write_recipe


def _budget(*argv: str) -> Budget:
    return from_args(Budget, build_parser().parse_args(["check", "report.json", *argv]))


def _report(tmp_path, *rows):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"format": "jetsonkit-report/1", "rows": list(rows)}))
    return path


def _row(target, delta, status="measured"):
    return {"target": target, "artifact": f"{target}.onnx", "status": status, "delta_points": delta,
            "latency_p99_ms": 1.0, "size_ratio": 4.0}


def test_check_flags_and_recipe_budgets_are_the_budget_fields():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["check"]
    assert {f.name for f in fields(Budget)} <= {a.dest for a in sub._actions}
    assert {f.name for f in fields(Budget) if f.metadata.get("recipe", True)} == \
        {f.name for f in fields(Budget)} - {"require_built"}
    assert _budget("--max-accuracy-drop", "0.5", "--require-built") == Budget(max_accuracy_drop=0.5, require_built=True)


@pytest.mark.parametrize("key, value, problem", [("max_accuracy_drop", "-1", "must be >= 0 points"),
                                                 ("max_latency_p99_ms", ".nan", "not a finite number"),
                                                 ("min_size_ratio", "0", "must be > 0")])
def test_cli_and_recipe_refuse_the_same_budget(tmp_path, key, value, problem):
    flag = "--" + key.replace("_", "-")
    with pytest.raises(UsageError, match=f"^{flag} .* is not a usable gate \\({problem}\\)"):
        _budget(flag, "nan" if value == ".nan" else value)
    recipe = SMALL_RECIPE.replace("calibration: {data", f"budgets: {{{key}: {value}}}\ncalibration: {{data")
    with pytest.raises(ConfigError, match=f"recipe.yaml:\\d+: key 'budgets.{key}': .*{problem}"):
        load_recipe(write_recipe(tmp_path, recipe))


def test_run_check_passes_fails_and_refuses(tmp_path):
    report = _report(tmp_path, _row("fp32", 0.0), _row("int8", -0.3), _row("orin", None, "not built here"))
    result = run_check(report, Budget(max_accuracy_drop=0.5))
    assert [(v.target, v.ok, v.gated) for v in result.verdicts] == [("fp32", True, True), ("int8", True, True),
                                                                     ("orin", False, False)]
    assert "all gated targets pass (accuracy drop <= 0.5 points)" in result.summary()
    with pytest.raises(CheckFailed, match="1 of 3 target\\(s\\) fail the gates .*: int8"):
        run_check(report, Budget(max_accuracy_drop=0.2))
    with pytest.raises(CheckFailed, match="1 of 3 .*: orin"):
        run_check(report, Budget(max_accuracy_drop=0.5, require_built=True))
    with pytest.raises(CheckFailed, match="no measured target"):
        run_check(report, Budget(max_accuracy_drop=0.5), ["orin"])
    with pytest.raises(UsageError, match="no gate given"):
        run_check(report, Budget())
