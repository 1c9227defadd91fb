"""Every command against the same realistic mistakes: one line on stderr, exit 2, valid JSON, nothing written.

Cases come from a hostile-user pass over the CLI; each one below was an internal error (exit 3), a usage block, or a
silent success before it was fixed.
"""

from __future__ import annotations

import json
import os

import pytest

from jetsonkit._io import atomic_path
from jetsonkit.cli import main

MNIST = "jetsonkit.examples.mnist:build_model"


def _one_line_exit_2(capsys, argv, fragment):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert "Traceback" not in err and "usage:" not in err
    return out


@pytest.mark.parametrize("argv, fragment", [
    (["bench", "m.onnx", "--shape", "input"], "jetsonkit bench: error: argument --shape"),
    (["convert", "m.onnx", "--precision", "int4"], "jetsonkit convert: error: argument --precision: invalid choice"),
    (["export"], "jetsonkit export: error: the following arguments are required"),
    (["frobnicate"], "jetsonkit: error: argument COMMAND: invalid choice"),
])
def test_argparse_errors_are_one_line_and_json(capsys, argv, fragment):
    _one_line_exit_2(capsys, argv, fragment)
    assert main([*argv, "--json"]) == 2
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is False and data["type"] == "UsageError" and err == ""


@pytest.mark.parametrize("argv", [
    ["export", MNIST, "--input", "input:1x1x28x28", "-o", "DIR"],
    ["quantize", "MODEL", "--calib", "calib.json", "-o", "DIR"],
    ["quantize", "MODEL", "--fp16", "-o", "DIR"],
    ["sparsity", "prune-onnx", "MODEL", "-o", "DIR"],
    ["prune", MNIST, "-o", "DIR"],
    ["convert", "MODEL", "-o", "DIR"],
])
def test_output_that_is_an_existing_folder(capsys, tmp_path, mnist_onnx, argv):
    folder = tmp_path / "out"
    folder.mkdir()
    argv = [str(folder) if a == "DIR" else str(mnist_onnx) if a == "MODEL" else a for a in argv]
    _one_line_exit_2(capsys, argv, "is an existing folder, not a file path")
    assert list(folder.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("argv", [
    ["quantize", "EMPTY", "--explain"],
    ["sparsity", "report", "EMPTY"],
    ["sparsity", "prune-onnx", "EMPTY", "-o", "OUT"],
    ["build", "EMPTY", "--dry-run", "--trt-version", "10.3"],
    ["convert", "EMPTY", "-o", "OUT"],
])
def test_empty_onnx_file_is_refused(capsys, tmp_path, argv):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")  # protobuf parses zero bytes as an empty ModelProto: it used to "succeed"
    argv = [str(empty) if a == "EMPTY" else str(tmp_path / "out.x") if a == "OUT" else a for a in argv]
    _one_line_exit_2(capsys, argv, "has no graph nodes")
    assert [p.name for p in tmp_path.iterdir()] == ["empty.onnx"]


def test_ctrl_c_inside_an_atomic_write_leaves_nothing(tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half of a model")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"the old model")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["model.onnx"] and target.read_bytes() == b"the old model"


@pytest.mark.parametrize("argv, fragment", [
    (["quantize", "MODEL", "--calib", "CALIB", "-o", "MODEL"], "writing it would replace it"),
    (["quantize", "MODEL", "--fp16", "-o", "MODEL"], "writing it would replace it"),
    (["sparsity", "prune-onnx", "MODEL", "-o", "MODEL"], "writing it would replace it"),
    (["quantize", "MODEL", "--calib", "CALIB", "-o", "CALIB"], "is the input --calib"),
    (["convert", "MODEL", "-o", "MODEL"], "is the input model"),
    (["build", "MODEL", "-o", "MODEL"], "is the input onnx"),
])
def test_output_that_is_an_input_is_refused(capsys, tmp_path, mnist_onnx, argv, fragment):
    """`convert m.onnx -o m.onnx` used to replace the ONNX model with a .tflite (exit 0); so did quantize."""
    import shutil

    model = shutil.copy(mnist_onnx, tmp_path / "m.onnx")
    calib = tmp_path / "calib.json"
    calib.write_text("{}")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    argv = [str(model) if a == "MODEL" else str(calib) if a == "CALIB" else a for a in argv]
    _one_line_exit_2(capsys, argv, fragment)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("argv, fragment", [
    (["convert", "MODEL", "-o", "OUT.onnx"], "would be a TFLite model named .onnx (name it out.tflite)"),
    (["quantize", "MODEL", "--calib", "c.json", "-o", "OUT.tflite"], "would be a Q/DQ ONNX model named .tflite"),
    (["quantize", "MODEL", "--fp16", "-o", "OUT.engine"], "would be an FP16 ONNX model named .engine"),
    (["build", "MODEL", "-o", "OUT.onnx"], "would be a TensorRT engine named .onnx (name it out.engine)"),
    (["sparsity", "prune-onnx", "MODEL", "-o", "OUT.pt"], "would be an ONNX model named .pt"),
    (["prune", MNIST, "-o", "OUT.onnx"], "would be a pruned checkpoint named .onnx (name it out.pt)"),
    (["export", MNIST, "--input", "input:1x1x28x28", "-o", "OUT.tflite"], "would be an ONNX model named .tflite"),
])
def test_output_named_as_another_format_is_refused(capsys, tmp_path, mnist_onnx, argv, fragment):
    """Every loader picks the format from the suffix: a .tflite written as out.onnx could never be opened again."""
    argv = [str(mnist_onnx) if a == "MODEL" else str(tmp_path / a.lower()) if a.startswith("OUT") else a
            for a in argv]
    _one_line_exit_2(capsys, argv, fragment)
    assert list(tmp_path.iterdir()) == []


def test_a_multi_line_message_from_user_code_is_one_line(capsys, tmp_path):
    factory = tmp_path / "boom.py"
    factory.write_text("def build():\n    raise RuntimeError('weights missing\\nsee the README')\n")
    _one_line_exit_2(capsys, ["export", f"{factory}:build", "--input", "input:1x1x28x28", "-o", tmp_path / "m.onnx"],
                     "raised RuntimeError: weights missing see the README")
    assert main(["--json", "export", f"{factory}:build", "--input", "input:1x1x28x28", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "weights missing\nsee the README" in json.loads(capsys.readouterr().out)["error"]  # JSON keeps it whole
