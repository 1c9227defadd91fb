"""`jetsonkit qat` end to end on the real data, and its exit codes on bad input."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from jetsonkit.cli import main  # noqa: E402

SPEC = "jetsonkit.examples.sensitive:build_model"


def test_qat_cli_writes_the_qdq_model_and_reports(sensitive_ptq, tmp_path, capsys):
    table = tmp_path / "calib.json"
    sensitive_ptq[1].save(table)
    out = tmp_path / "sensitive.qat.onnx"
    code = main(["qat", SPEC, "--calib", str(table), "--data", "mnist:train:640", "--max-steps", "4",
                 "--learn-scales", "--eval", "mnist:test:1000", "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and out.is_file()
    assert report["train"]["steps"] == 4 and len(report["train"]["epoch_top1"]) == 1
    assert report["export"]["simulated_sites"] == sorted(report["prepare"]["activation_sites"])
    assert abs(report["top1_onnxruntime"] - report["train"]["epoch_top1"][-1]) <= 0.002  # 2 of 1000 at most


def test_qat_cli_table_for_another_model_exits_2_and_writes_nothing(mnist_onnx, tmp_path, capsys):
    from jetsonkit.calibrate import calibrate

    table = tmp_path / "mnist_calib.json"
    calibrate(mnist_onnx, "mnist:train:100", "minmax", output=table)
    out = tmp_path / "x.onnx"
    code = main(["qat", SPEC, "--calib", str(table), "--data", "mnist:train:64", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "no range for 2 of this model's Q/DQ tensors" in err and len(err.strip().splitlines()[-1]) > 40


def test_qat_cli_bad_arguments(tmp_path, capsys):
    assert main(["qat", SPEC, "--calib", "c.json", "--data", "mnist:train:8", "--epochs", "0",
                 "-o", str(tmp_path / "m.onnx")]) == 2
    assert "--epochs must be >= 1" in capsys.readouterr().err
