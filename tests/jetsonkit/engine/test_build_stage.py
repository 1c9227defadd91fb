"""The build stage's contract: BuildSettings (defaults, checks, the CLI's flags, a recipe target's checks) and
run_build (the build spec on a dry run, the refusals of requests that would do nothing asked)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from jetsonkit.cli import build_parser
from jetsonkit.engine import BuildSettings, build_spec_for, parse_profiles, run_build
from jetsonkit.errors import ConfigError, UsageError
from jetsonkit.settings import SettingError, from_args

PROFILE = parse_profiles(["input:1x1x28x28,8x1x28x28,64x1x28x28"])


def _parse(argv: list[str]) -> BuildSettings:
    """What `jetsonkit build ARGV` asks for, as BuildSettings (the command's own adapter code)."""
    from jetsonkit.cli.build_args import build_flag_values

    args = build_parser().parse_args(["build", "m.onnx", *argv])
    return from_args(BuildSettings, args, **build_flag_values(args))


def test_every_field_is_a_build_flag_or_comes_from_one():
    """Each field of BuildSettings is offered by `jetsonkit build`: as its own flag(s), or through the shape /
    negated flags (profiles, calibration shapes, GPU fallback, hardware compatibility)."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["build"]
    dests = {a.dest for a in sub._actions}
    derived = {"profiles", "calibration_shapes", "gpu_fallback", "hardware_compatibility"}
    assert {f.name for f in fields(BuildSettings)} - dests == derived
    spelled = {s for a in sub._actions for s in a.option_strings}
    assert {"--dla", "--useDLACore", "--calib", "--plan", "--timing-cache", "--timingCacheFile", "--opt-level"} <= spelled


@pytest.mark.parametrize("settings", [
    BuildSettings(),
    BuildSettings(precision="fp16", profiles=PROFILE, dla_core=1, gpu_fallback=False, timing_cache="b.timing",
                  workspace=3 << 28, optimization_level=5, version_compatible=True),
    BuildSettings(precision="best", int8_mode="cache", calibration="calib.json",
                  calibration_shapes={"input": (32, 1, 28, 28)}, precision_plan="plan.yaml", sparsity=True,
                  hardware_compatibility="ampere+", profiles=parse_profiles(
                      ["input:1x1x28x28,1x1x28x28,4x1x28x28", "input:8x1x28x28,16x1x28x28,32x1x28x28"])),
])
def test_argv_asks_for_the_same_settings(settings):
    """The flags BuildSettings writes (the sidecar's rebuild command, compress's finish command) parse back into
    the same settings through the CLI."""
    assert _parse(settings.argv()) == settings


@pytest.mark.parametrize("kw, key", [
    ({"precision": "fp8"}, "precision"),
    ({"int8_mode": "cache"}, "int8_mode"),  # implicit INT8 at fp32
    ({"calibration": "c.json"}, "calibration"),  # a Q/DQ build ignores a table
    ({"gpu_fallback": False}, "gpu_fallback"),  # no DLA
    ({"dla_core": -1}, "dla_core"),
    ({"optimization_level": 6}, "optimization_level"),
    ({"workspace": 0}, "workspace"),
    ({"trt_version": "7.1"}, "trt_version"),
    ({"trt_version": "ten"}, "trt_version"),
    ({"hardware_compatibility": "turing+"}, "hardware_compatibility"),
])
def test_settings_refuse_on_construction(kw, key):
    with pytest.raises(SettingError) as info:
        BuildSettings(**kw)
    assert info.value.key == key


def test_cli_errors_name_the_flag(capsys):
    with pytest.raises(UsageError, match=r"^--dla must be >= 0"):
        _parse(["--dla", "-1"])
    with pytest.raises(UsageError, match=r"^--opt-level: builder optimisation level 9"):
        _parse(["--opt-level", "9"])
    with pytest.raises(UsageError, match=r"^--trt-version: TensorRT 7\.1 is not supported"):
        _parse(["--trt-version", "7.1"])


def test_run_build_dry_run_is_the_build_spec(mnist_onnx, tmp_path):
    settings = BuildSettings(precision="fp16", profiles=PROFILE, trt_version="8.6")
    result = run_build(mnist_onnx, settings, dry_run=True)
    assert result.dry_run and result.sidecar is None and result.engine_path == str(mnist_onnx.with_suffix(".engine"))
    assert result.spec == build_spec_for(mnist_onnx, settings, "8.6")
    assert result.to_dict()["build_spec"]["builder_flags"] == ["FP16"] and "EXPLICIT_BATCH" in result.summary()
    assert not mnist_onnx.with_suffix(".engine").exists()


def test_run_build_refuses_what_would_do_nothing(mnist_onnx, tmp_path):
    with pytest.raises(UsageError, match="--force rebuilds an engine"):
        run_build(mnist_onnx, BuildSettings(trt_version="10.3", profiles=PROFILE), dry_run=True, force=True)
    with pytest.raises(UsageError, match="only prints a build spec"):
        run_build(mnist_onnx, BuildSettings(trt_version="10.3", profiles=PROFILE), tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_recipe_tensorrt_target_is_checked_by_build_settings(tmp_path):
    """A tensorrt target's trt_version goes through BuildSettings' check: a bad one is refused at load, with the
    recipe's file, key and line (it used to pass the load and fail in the middle of compress)."""
    from jetsonkit.pipeline import load_recipe, steps

    from ..pipeline.conftest import SMALL_RECIPE, write_recipe

    bad = SMALL_RECIPE.replace("jetson-orin: {backend: tensorrt, precision: int8, sparsity: true}",
                               "jetson-orin: {backend: tensorrt, precision: int8, sparsity: true,\n"
                               "                trt_version: '7.0'}")
    with pytest.raises(ConfigError, match=r"recipe\.yaml:\d+: key 'targets\.jetson-orin\.trt_version'.*"
                                          r"TensorRT 7\.0 is not supported"):
        load_recipe(write_recipe(tmp_path, bad))
    r = load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace("tensorrt, precision: int8, sparsity: true}",
                                                                "tensorrt, precision: int8, sparsity: true, dla: true}")))
    orin = r.target("jetson-orin")
    settings = steps.build_settings(r, orin)
    assert (settings.precision, settings.sparsity, settings.dla_core, settings.trt_version) == ("int8", True, 0, "10.3")
    assert settings.profiles[0]["input"].max == (orin.max_batch, 1, 28, 28)
    finish = steps.finish_command(r, orin, "mnist.qdq.onnx").split()
    assert finish[:5] == ["jetsonkit", "build", "mnist.qdq.onnx", "-o", "jetson-orin.engine"]
    assert _parse(finish[5:] + ["--trt-version", "10.3"]) == settings  # the finish command asks for the same build
