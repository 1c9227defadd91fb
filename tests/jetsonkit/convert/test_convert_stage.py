"""The convert stage's contract: ConvertSettings (CLI flags and recipe targets read off it), run_convert's result,
and what `jetsonkit convert` shows (one "wrote" line, none of LiteRT's native chatter)."""

from __future__ import annotations

import subprocess
import sys

import pytest

RECIPE = """\
model: {spec: "jetsonkit.examples.mnist:build_model"}
inputs: [{name: input, shape: [1, 1, 28, 28]}]
calibration: {data: "mnist:train:300"}
evaluation: {data: "mnist:test:100"}
targets:
  pi: {backend: tflite}
"""


def test_convert_process_says_wrote_once_and_no_xnnpack_info(mnist_onnx, tmp_path):
    """The library logs no "wrote" line of its own (the CLI's summary says it), and LiteRT's C++ "INFO: Created
    TensorFlow Lite XNNPACK delegate" (fd 2, past Python: a subprocess sees it) is discarded by the process; the
    int8 path calibrates and checks the model with XNNPACK, where the line used to appear."""
    out = tmp_path / "m.tflite"
    cmd = [sys.executable, "-m", "jetsonkit", "convert", str(mnist_onnx), "-o", str(out), "--precision", "int8",
           "--data", "mnist:train:500"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    both = done.stdout + done.stderr
    assert "XNNPACK" not in both, both
    assert [line for line in both.splitlines() if line.startswith("wrote")] == \
        [line for line in done.stdout.splitlines() if line.startswith("wrote ")] and both.count("wrote ") == 1, both
    assert "lowering" in done.stderr  # the library's progress lines still show


def test_runtime_of_a_tflite_shows_no_xnnpack_info(mnist_onnx, tmp_path):
    """The LiteRT runtime (evaluate, bench, compare) applies XNNPACK at load: its C++ INFO line is discarded by the
    process too, without --quiet; the command's own output stays."""
    from jetsonkit.convert import convert_tflite

    model = convert_tflite(mnist_onnx, tmp_path / "m.tflite").path
    cmd = [sys.executable, "-m", "jetsonkit", "evaluate", str(model), "--data", "mnist:test:50"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "XNNPACK" not in done.stdout + done.stderr and "top-1" in done.stdout, done.stdout + done.stderr


def test_chatter_guard_is_the_processs_alone():
    """In-process callers (tests, programs using the library) get no fd redirection: the guard is installed by the
    CLI process only while its command runs."""
    from jetsonkit import _native
    from jetsonkit.cli.streams import native_output

    assert _native._guard is None
    with native_output(quiet=False, as_json=False):
        assert _native._guard is not None
    assert _native._guard is None
    with native_output(quiet=True, as_json=False):
        assert _native._guard is None  # --quiet already discards all of fd 2


def _settings_from_cli(*extra):
    from jetsonkit.cli import build_parser
    from jetsonkit.convert.stage import ConvertSettings
    from jetsonkit.settings import from_args

    return from_args(ConvertSettings, build_parser().parse_args(["convert", "m.onnx", *extra]))


def test_cli_recipe_and_library_share_the_defaults(tmp_path):
    """One set of defaults: the flags left out, a recipe tflite target with only its backend, and the class."""
    pytest.importorskip("yaml")
    from jetsonkit.convert.stage import ConvertSettings
    from jetsonkit.pipeline import load_recipe

    (tmp_path / "r.yaml").write_text(RECIPE)
    target = load_recipe(tmp_path / "r.yaml").target("pi")
    assert _settings_from_cli() == ConvertSettings() == target.convert_settings()
    assert (ConvertSettings().precision, ConvertSettings().input_layout) == ("fp32", "nhwc")
    flags = _settings_from_cli("--precision", "int8", "--input-layout", "nchw", "--io", "int8", "--limit", "300",
                               "--input-shape", "1x1x28x28", "--method", "entropy")
    assert flags == ConvertSettings(precision="int8", input_layout="nchw", io="int8", limit=300,
                                    input_shape=(1, 1, 28, 28), method="entropy")


def test_bad_values_name_the_flag_and_the_recipe_line(tmp_path, capsys):
    pytest.importorskip("yaml")
    from jetsonkit.cli import main
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    assert main(["convert", "m.onnx", "--limit", "0"]) == 2
    assert "--limit must be >= 1, got 0" in capsys.readouterr().err
    assert main(["convert", "m.onnx", "--input-shape", "1x3x0x4"]) == 2
    assert "argument --input-shape: '1x3x0x4' is not a shape of positive sizes" in capsys.readouterr().err
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.replace("{backend: tflite}", "{backend: tflite, precision: int8,\n       input_layout: hwc}"))
    with pytest.raises(ConfigError) as info:
        load_recipe(path)
    assert str(info.value).startswith(f"{path}:7: key 'targets.pi.input_layout': 'hwc' is not one of nhwc, nchw"), \
        str(info.value)


def test_run_convert_result_and_calibration(mnist_onnx, tmp_path):
    """run_convert is the stage: the result names the file, its size, the ops and the calibration it used (the
    one calibration's default method without a table; an array of data is used whole)."""
    import numpy as np

    from calibrators.methods import DEFAULT_METHOD
    from jetsonkit.convert import ConvertSettings, read_metadata, run_convert
    from jetsonkit.examples import mnist

    x = mnist.load_split("train", limit=300)[0]
    r = run_convert(mnist_onnx, tmp_path / "m.tflite", ConvertSettings(precision="int8"), data=x)
    assert r.path.stat().st_size == r.size_bytes and read_metadata(r.path)["precision"] == "int8"
    assert r.calibration["method"] == DEFAULT_METHOD and r.calibration["table_method"] == DEFAULT_METHOD
    assert r.ops["CONV_2D"] == 2 and r.summary().startswith(f"wrote {r.path} (") and "CONV_2Dx2" in r.summary()
    assert r.to_dict()["calibration"] == r.calibration and sum(r.ranges_source.values()) > 0
    assert np.asarray(x).shape[0] == 300
