"""The calibration stage's one contract: CalibrationSettings gives `calibrate`'s flags, the recipe's calibration
section, the defaults and the checks; run_calibrate is the one call the CLI and compress make."""

from __future__ import annotations

from dataclasses import fields

import calibrators
import pytest

from jetsonkit.calibrate import CalibrationSettings, calibrate, run_calibrate
from jetsonkit.cli import build_parser, main
from jetsonkit.settings import from_args

pytest.importorskip("yaml")

from jetsonkit.errors import ConfigError  # noqa: E402
from jetsonkit.pipeline import load_recipe  # noqa: E402
from jetsonkit.pipeline.recipe import CalibrationConfig  # noqa: E402

from .pipeline.conftest import SMALL_RECIPE, write_recipe  # noqa: E402

ARGS = ["calibrate", "m.onnx", "--data", "mnist:train:8"]


def _settings(config) -> CalibrationSettings:
    return CalibrationSettings(**{f.name: getattr(config, f.name) for f in fields(CalibrationSettings)})


def test_recipe_section_and_cli_flags_have_the_same_defaults(tmp_path):
    from_cli = from_args(CalibrationSettings, build_parser().parse_args(ARGS))
    recipe = load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace(", method: entropy}", "}")))
    assert from_cli == CalibrationSettings() == _settings(recipe.calibration)
    assert issubclass(CalibrationConfig, CalibrationSettings)
    assert from_cli.method == calibrators.DEFAULT_METHOD and from_cli.max_memory == "512M"


def test_every_method_option_is_a_field_a_flag_and_a_recipe_key(tmp_path):
    names = {f.name for f in fields(CalibrationSettings)}
    assert set(calibrators.OPTIONS) <= names
    args = build_parser().parse_args(ARGS + ["--method", "percentile", "--percentile", "99.9", "--max-samples", "5"])
    assert from_args(CalibrationSettings, args) == CalibrationSettings(method="percentile", percentile=99.9,
                                                                       max_samples=5)
    text = SMALL_RECIPE.replace("method: entropy}", "method: percentile, percentile: 99.9, max_samples: 5}")
    assert _settings(load_recipe(write_recipe(tmp_path, text)).calibration) == from_args(CalibrationSettings, args)


@pytest.mark.parametrize("flags, message", [
    (["--max-memory", "1M"], "--max-memory '1M' is below 16 MiB"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--percentile", "99.9"], "--percentile: option 'percentile' does not apply to calibration method 'mse'"),
    (["--method", "percentile", "--percentile", "101"], "--percentile: method 'percentile' option 'percentile' "
                                                         "must be in (0, 100]"),
])
def test_a_bad_value_names_the_flag(flags, message, capsys, tmp_path):
    assert main(ARGS + ["-o", str(tmp_path / "c.json")] + flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("value, key, message", [
    ("max_memory: 1M", "max_memory", "max_memory '1M' is below 16 MiB"),
    ("batch_size: 0", "batch_size", "batch_size must be >= 1, got 0"),
    ("max_samples: 0", "max_samples", "max_samples must be >= 1, got 0"),
    ("method: entrpy", "method", "'entrpy' is not one of entropy"),
])
def test_a_bad_value_names_the_recipe_key_and_line(value, key, message, tmp_path):
    text = SMALL_RECIPE.replace("method: entropy}", f"method: entropy, {value}}}" if key != "method" else f"{value}}}")
    path = write_recipe(tmp_path, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if value in l)
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    assert f"{path}:{line}: key 'calibration.{key}': {message}" in str(exc.value)
    if key == "method":
        assert "did you mean 'entropy'" in str(exc.value)


def test_the_shape_is_not_a_recipe_key(tmp_path):
    """The recipe's inputs fix the shapes: `calibration.shape` is the command line's only."""
    text = SMALL_RECIPE.replace("method: entropy}", "method: entropy, shape: 'input:1x1x28x28'}")
    with pytest.raises(ConfigError, match=r"key 'calibration.shape': unknown key"):
        load_recipe(write_recipe(tmp_path, text))


def test_run_calibrate_is_calibrate_with_the_settings(mnist_onnx, tmp_path):
    settings = CalibrationSettings(method="percentile", percentile=99.9, max_samples=40, batch_size=16)
    result = run_calibrate(mnist_onnx, "mnist:train:64", settings, output=tmp_path / "a.json")
    direct = calibrate(mnist_onnx, "mnist:train:64", "percentile", percentile=99.9, max_samples=40, batch_size=16)
    assert result.table.amaxes() == direct.amaxes() and result.table.samples == 40
    assert result.table.options == {"percentile": 99.9}
    record, text = result.summary()
    assert record["output"] == str(tmp_path / "a.json") and (tmp_path / "a.json").is_file()
    assert text.startswith("percentile ranges for ")
