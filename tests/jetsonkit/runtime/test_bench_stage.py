"""The bench stage's contract: BenchSettings is `jetsonkit bench`'s flags and a recipe's `bench` section (one set of
fields, defaults and checks), its argv (the --isolate child's command line) asks for the same settings, and
run_bench measures each file once."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from jetsonkit.cli import build_parser
from jetsonkit.errors import ConfigError, UsageError
from jetsonkit.pipeline import load_recipe
from jetsonkit.runtime.benchmark import BenchSettings, run_bench
from jetsonkit.settings import from_args


def _parse(*argv: str) -> BenchSettings:
    args = build_parser().parse_args(["bench", "m.onnx", *argv])
    return from_args(BenchSettings, args, shapes=dict(args.shape))


def test_flags_and_recipe_keys_are_the_fields():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["bench"]
    cli = {f.name for f in fields(BenchSettings) if f.metadata.get("cli", True) and f.metadata}
    assert cli - {"shapes"} <= {a.dest for a in sub._actions}
    assert {f.name for f in fields(BenchSettings) if f.metadata.get("recipe", True)} == \
        {"warmup", "iterations", "batch", "threads"}


@pytest.mark.parametrize("settings", [
    BenchSettings(),
    BenchSettings(warmup=0, iterations=7, batch=4, threads=2, streams=3, no_energy=True, backend="onnxruntime",
                  shapes={"input": (4, 1, 28, 28), "mask": (4, 1)}),
    BenchSettings(duration=2.5, idle=0.5),
])
def test_argv_asks_for_the_same_settings(settings):
    assert _parse(*settings.argv()) == settings


def test_defaults_and_checks_are_shared(tmp_path):
    """`bench` with no flag and a recipe with no bench section measure the same way; a value one refuses, the other
    refuses too (the recipe with its file and line)."""
    from ..pipeline.conftest import SMALL_RECIPE, write_recipe

    assert _parse() == BenchSettings() and _parse().timed_iterations == 200
    assert _parse("--duration", "3").timed_iterations is None  # a duration alone times by the clock
    no_section = SMALL_RECIPE.replace("bench: {iterations: 20, warmup: 2}\n", "")
    assert load_recipe(write_recipe(tmp_path, no_section)).bench == BenchSettings()
    with pytest.raises(UsageError, match="^--threads must be >= 1, got 0"):
        _parse("--threads", "0")
    bad = SMALL_RECIPE.replace("bench: {iterations: 20, warmup: 2}", "bench: {iterations: 20, threads: 0}")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:\d+: key 'bench\.threads': threads must be >= 1, got 0"):
        load_recipe(write_recipe(tmp_path, bad))


def test_run_bench_measures_each_file(mnist_onnx, mnist_tflite):
    result = run_bench([mnist_onnx, mnist_tflite], BenchSettings(warmup=1, iterations=5, threads=1, no_energy=True))
    assert [r["backend"] for r in result.results] == ["onnxruntime", "litert"]
    assert all(r["queries"] == 5 for r in result.results) and not result.isolated
    assert "machine:" in result.summary() and result.to_dict()["results"] == result.results
    assert replace(BenchSettings(), iterations=3).recipe_dict() == {"iterations": 3, "warmup": 10, "batch": 1,
                                                                    "threads": None}
