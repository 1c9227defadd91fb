"""``jetsonkit export`` / ``doctor`` / ``demo`` through the CLI: exit codes, one-line errors, --json."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from jetsonkit.cli import main  # noqa: E402
from support import testnets  # noqa: E402

MNIST = "jetsonkit.examples.mnist:build_model"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, fragment: str) -> None:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_export_mnist_json(capsys, tmp_path):
    out_file = tmp_path / "mnist.onnx"
    code, out, _ = _run(capsys, "export", MNIST, "--input", "input:1x1x28x28:float32", "--dynamic", "batch",
                        "--output-name", "logits", "-o", str(out_file), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] and data["exporter"] == "legacy" and data["parity"]["ok"]
    assert data["inputs"] == [{"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32"}]
    assert data["outputs"] == [{"name": "logits", "shape": ["batch", 10], "dtype": "float32"}]
    assert max(r["max_abs"] for r in data["parity"]["rows"]) <= 1e-4
    onnx.checker.check_model(str(out_file), full_check=True)


def test_export_prints_table_and_exporter(capsys, tmp_path):
    code, out, err = _run(capsys, "export", "support.testnets:attention_net", "--input", "input:1x3x32x32",
                          "--dynamic", "batch", "-o", str(tmp_path / "a.onnx"))
    assert code == 0
    assert "exported with the legacy exporter" in out and "parity ONNX Runtime vs torch" in out
    assert "random#2 (batch 3)" in out and "exported with the legacy exporter" in err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_export_user_file_and_torchscript(capsys, tmp_path):
    src = tmp_path / "net.py"
    src.write_text("from support.testnets import conv_residual_net as build\n")
    assert _run(capsys, "export", f"{src}:build", "--input", "x:2x3x32x32", "-o", str(tmp_path / "u.onnx"))[0] == 0
    model, x = testnets.build("conv_residual_net")
    torch.jit.trace(model, x).save(str(tmp_path / "m.pt"))
    code, out, _ = _run(capsys, "export", str(tmp_path / "m.pt"), "--input", "x:1x3x32x32", "-o",
                        str(tmp_path / "ts.onnx"), "--json")
    assert code == 0 and json.loads(out)["parity"]["ok"]


@pytest.mark.slow
def test_export_torch_export_program(capsys, tmp_path):
    model, x = testnets.build("conv_residual_net")
    torch.export.save(torch.export.export(model, (x,)), str(tmp_path / "m.pt2"))
    code, out, _ = _run(capsys, "export", str(tmp_path / "m.pt2"), "--input", "x:1x3x32x32", "-o",
                        str(tmp_path / "ep.onnx"), "--json")
    data = json.loads(out)
    assert code == 0 and data["exporter"] == "dynamo" and data["parity"]["ok"]


@pytest.mark.parametrize("argv, fragment", [
    (["jetsonkit.examples.mnist:nope", "--input", "input:1x1x28x28"], "has no attribute 'nope'"),
    (["jetsonkit.examples.mnist", "--input", "input:1x1x28x28"], "has no factory"),
    ([MNIST, "--input", "input:1x1x28"], "does not accept the example inputs input (1, 1, 28) float32"),
    ([MNIST, "--input", "input:1x1x32x32"], "Input size mismatch"),
    ([MNIST, "--input", "input:1x1x28x28:float33"], "unknown dtype 'float33'"),
    ([MNIST, "--input", "input"], "does not parse"),
    ([MNIST], "needs at least one --input"),
    ([MNIST, "--input", "input:1x1x28x28", "--dynamic", "images:0"], "names input 'images'"),
])
def test_bad_input_exit_2_with_one_line(capsys, tmp_path, argv, fragment):
    code, out, err = _run(capsys, "export", *argv, "-o", str(tmp_path / "m.onnx"))
    assert code == 2
    _one_line_error(err, fragment)
    assert not (tmp_path / "m.onnx").exists()


def test_missing_output_folder_exit_2(capsys, tmp_path):
    code, _, err = _run(capsys, "export", MNIST, "--input", "input:1x1x28x28", "-o", str(tmp_path / "no" / "m.onnx"))
    assert code == 2
    _one_line_error(err, "does not exist")


def test_mismatched_weights_exit_2(capsys, tmp_path):
    torch.save(testnets.conv_residual_net().state_dict(), tmp_path / "w.pth")
    code, _, err = _run(capsys, "export", MNIST, "--weights", str(tmp_path / "w.pth"), "--input", "input:1x1x28x28",
                        "-o", str(tmp_path / "m.onnx"))
    assert code == 2
    _one_line_error(err, "missing keys: features.0.weight, features.0.bias, features.3.weight (+")


def test_unsupported_op_exit_2(capsys, tmp_path):
    src = tmp_path / "odd.py"
    src.write_text("import torch\n\nclass Odd(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.act = Erfinv()\n\n    def forward(self, x):\n        return self.act(x.tanh() * 0.5)\n\n"
                   "class Erfinv(torch.nn.Module):\n    def forward(self, x):\n        return torch.erfinv(x)\n")
    code, _, err = _run(capsys, "export", f"{src}:Odd", "--input", "x:2x4", "--exporter", "legacy",
                        "-o", str(tmp_path / "o.onnx"))
    assert code == 2
    _one_line_error(err, "cannot handle operator 'erfinv' in module 'act'")


def test_json_stdout_stays_clean_when_export_fails(capfd, tmp_path):
    src = tmp_path / "odd.py"
    src.write_text("import torch\n\nclass Odd(torch.nn.Module):\n    def forward(self, x):\n"
                   "        return torch.erfinv(x.tanh() * 0.5)\n")
    # the jetsonkit process (console_main) routes native fd 1 output to stderr while the command runs
    code = main(["export", f"{src}:Odd", "--input", "x:2x4", "--exporter", "legacy", "-o", str(tmp_path / "o.onnx"),
                 "--json"], process=True)
    out, err = capfd.readouterr()
    assert "Torch IR graph" in err
    data = json.loads(out)  # the C++ "Torch IR graph" dump must not reach stdout
    assert code == 2 and not data["ok"] and data["type"] == "UnsupportedError"
    assert "operator 'erfinv' in module '<top-level forward>'" in data["error"]


def test_parity_failure_exit_1_with_table(capsys, tmp_path):
    src = tmp_path / "branchy.py"
    src.write_text("import torch\n\nclass Branchy(torch.nn.Module):\n    def forward(self, x):\n"
                   "        return x * 2 if x.shape[0] == 1 else x * 3\n")
    code, out, err = _run(capsys, "export", f"{src}:Branchy", "--input", "x:1x4", "--dynamic", "batch",
                          "-o", str(tmp_path / "b.onnx"))
    assert code == 1
    assert "max abs" in out and "random#1 (batch 3)" in out and " NO" in out
    _one_line_error(err, "parity failed for b.onnx")
    assert list(tmp_path.iterdir()) == [src]


def test_doctor_json_never_fails(capsys):
    code, out, _ = _run(capsys, "doctor", "--json")
    assert code == 0
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["torch"]["status"] == "ok" and checks["numpy"]["status"] == "ok"
    assert "TensorRT" in checks and "CUDA driver" in checks


def test_named_dynamic_axes_reach_the_file(capsys, tmp_path):
    code, out, _ = _run(capsys, "export", "support.testnets:conv_residual_net", "--input", "img:1x3x32x32",
                        "--dynamic", "img:0=n", "--dynamic", "img:2=h", "--dynamic", "img:3=w", "--output-name",
                        "logits", "-o", str(tmp_path / "c.onnx"), "--json")
    assert code == 0
    assert json.loads(out)["inputs"][0]["shape"] == ["n", 3, "h", "w"]
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"img": np.zeros((2, 3, 48, 40), np.float32)})[0].shape == (2, 10)


def test_demo_output_that_is_a_file_exit_2(capsys, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, _, err = _run(capsys, "demo", "-o", str(target))
    assert code == 2
    _one_line_error(err, "exists and is not a folder")


@pytest.mark.parametrize("extra, fragment", [
    (["--no-parity", "--atol", "0.1"], "--atol sets the parity check, which no_parity (--no-parity) skips"),
    (["--random-trials", "-1"], "--random-trials must be >= 0, got -1"),
    (["--opset", "3"], "--opset 3 is outside 7.."),
    (["--output-name", "a", "--output-name", "b"], "2 output names (a, b) for a model with 1 output(s)"),
])
def test_export_options_that_would_be_ignored_or_misused(capsys, tmp_path, extra, fragment):
    out_file = tmp_path / "m.onnx"
    code, _, err = _run(capsys, "export", MNIST, "--input", "input:1x1x28x28", *extra, "-o", str(out_file))
    assert code == 2
    _one_line_error(err, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["model.pt", "model.pt2"])
def test_export_of_a_corrupt_program_is_one_line(capfd, tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(bytes(range(256)) * 8)  # not a zip archive: torch.export.load used to log a traceback first
    assert main(["export", str(bad), "--input", "input:1x1x28x28", "-o", str(tmp_path / "m.onnx")]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "not a zip archive" in err and "Traceback" not in err
