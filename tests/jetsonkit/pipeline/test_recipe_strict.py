"""Recipe holes: duplicate keys, self-referencing aliases, unknown dtypes and unusable budgets are refused with the
file and line (exit 2), never silently resolved or an internal error."""

from __future__ import annotations

import pytest

pytest.importorskip("yaml")

from jetsonkit.cli import main  # noqa: E402
from jetsonkit.errors import ConfigError  # noqa: E402
from jetsonkit.pipeline import load_recipe  # noqa: E402

from .conftest import SMALL_RECIPE, write_recipe  # noqa: E402


def _line(text: str, fragment: str, nth: int = 0) -> int:
    return [i for i, line in enumerate(text.splitlines(), 1) if fragment in line][nth]


def _error(tmp_path, text: str) -> str:
    path = write_recipe(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    return str(exc.value)


def test_a_duplicate_target_names_both_lines(tmp_path):
    text = SMALL_RECIPE.replace("  pi-int8: {backend: tflite, precision: int8}\n",
                                "  pi-int8: {backend: tflite, precision: int8}\n  cpu: {backend: tflite}\n")
    msg = _error(tmp_path, text)
    first, second = _line(text, "  cpu: "), _line(text, "  cpu: ", 1)
    assert f":{second}: key 'targets.cpu' appears twice (lines {first} and {second})" in msg


def test_a_duplicate_top_level_section(tmp_path):
    text = SMALL_RECIPE + "calibration: {data: \"mnist:train:50\", method: minmax}\n"
    msg = _error(tmp_path, text)
    assert f"key 'calibration' appears twice (lines {_line(text, 'calibration:')} and " in msg


@pytest.mark.parametrize("text", ["name: &n [*n]\nmodel: {spec: a}\n", "model: &m {spec: *m}\n"])
def test_a_self_referencing_alias_is_exit_2_with_the_line(capsys, tmp_path, text):
    path = write_recipe(tmp_path, text)
    assert main(["compress", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:1:" in err and "refers to itself" in err, err


def test_an_unknown_dtype_is_refused_with_the_line(capsys, tmp_path):
    text = SMALL_RECIPE.replace("shape: [1, 1, 28, 28]}", "shape: [1, 1, 28, 28], dtype: float33}")
    path = write_recipe(tmp_path, text)
    assert main(["compress", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f":{_line(text, 'float33')}: key 'inputs[0].dtype': 'float33' is not one of" in err
    assert "did you mean 'float32'" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("budget, fragment", [
    ("max_accuracy_drop: -1", "must be >= 0 points"),
    ("max_accuracy_drop: .nan", "not a finite number"),
    ("max_latency_p99_ms: 0", "must be > 0"),
    ("min_size_ratio: -2", "must be > 0"),
])
def test_unusable_budgets_are_refused(tmp_path, budget, fragment):
    text = SMALL_RECIPE + f"budgets: {{{budget}}}\n"
    msg = _error(tmp_path, text)
    assert f"key 'budgets.{budget.split(':')[0]}'" in msg and fragment in msg
