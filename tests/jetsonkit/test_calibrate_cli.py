"""The `jetsonkit calibrate` command: files written, JSON output, exit codes."""

from __future__ import annotations

import json

import numpy as np

import calibrators
from jetsonkit.cli import main


def test_methods_listed_in_cli_match_the_library():
    from jetsonkit.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name in ("calibrate", "convert"):
        method = next(a for a in sub[name]._actions if a.dest == "method")
        assert tuple(method.choices) == calibrators.METHODS


def test_percentile_with_another_method_is_refused_everywhere(mnist_onnx, tmp_path, capsys):
    """One rule: the CLI, the library and a recipe all refuse an option the method does not declare."""
    import pytest

    from jetsonkit.calibrate import calibrate
    from jetsonkit.errors import UsageError

    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:8", "--percentile", "99.9",
                 "-o", str(tmp_path / "c.json")]) == 2
    assert "option 'percentile' does not apply to calibration method 'mse'" in capsys.readouterr().err
    with pytest.raises(UsageError, match="option 'percentile' does not apply to calibration method 'mse'"):
        calibrate(mnist_onnx, "mnist:train:8", "mse", percentile=99.9)
    assert not (tmp_path / "c.json").exists()


def test_cli_mnist_spec_writes_table_and_cache(mnist_onnx, tmp_path, capsys):
    out, cache = tmp_path / "calib.json", tmp_path / "model.cache"
    rc = main(["calibrate", str(mnist_onnx), "--data", "mnist:train:200", "--method", "entropy", "-o", str(out),
               "--trt-cache", str(cache), "--json"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    table = calibrators.CalibrationTable.load(out)
    assert report["samples"] == 200 == table.samples
    assert set(report["tensors"]) == set(table.tensors)
    assert calibrators.read_trt_cache(cache)["version"] == 100300


def test_cli_bad_data_exits_2_with_one_line(mnist_onnx, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((3, 28, 28), np.float32))
    out = tmp_path / "calib.json"
    rc = main(["calibrate", str(mnist_onnx), "--data", str(tmp_path / "bad.npy"), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and not out.exists()
    assert "data shape 3x28x28 does not fit the model input shape ?x1x28x28" in err[-1]


def test_cli_unknown_method_and_trt11(mnist_onnx, tmp_path, capsys):
    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:8", "--method", "kl", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--method: invalid choice: 'kl'" in err and "'entropy', 'percentile', 'mse', 'minmax'" in err
    rc = main(["calibrate", str(mnist_onnx), "--data", "mnist:train:8", "-q", "-o", str(tmp_path / "c.json"),
               "--trt-cache", str(tmp_path / "c.cache"), "--trt-version", "11.4.1"])
    assert rc == 2 and "removed in 11.0" in capsys.readouterr().err


def test_cli_refuses_to_overwrite_the_model_or_name_the_table_like_a_model(mnist_onnx, tmp_path, capsys):
    import shutil

    model = tmp_path / "m.onnx"
    shutil.copy(mnist_onnx, model)
    before = model.read_bytes()
    assert main(["calibrate", str(model), "--data", "mnist:train:50", "-o", str(model)]) == 2
    assert "is the input model" in capsys.readouterr().err
    assert model.read_bytes() == before
    assert main(["calibrate", str(model), "--data", "mnist:train:50", "-o", str(tmp_path / "t.onnx")]) == 2
    assert not (tmp_path / "t.onnx").exists()


def test_table_and_cache_files_get_the_umask_mode(mnist_onnx, tmp_path):
    import os
    import stat

    assert main(["calibrate", str(mnist_onnx), "--data", "mnist:train:50", "-o", str(tmp_path / "c.json"),
                 "--trt-cache", str(tmp_path / "c.cache"), "--quiet"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    for name in ("c.json", "c.cache"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
