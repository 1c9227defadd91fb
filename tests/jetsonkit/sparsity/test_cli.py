"""``jetsonkit prune`` and ``jetsonkit sparsity``: exit codes, JSON, checkpoint, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from jetsonkit.cli import main

SPEC = "jetsonkit.examples.mnist:build_model"


def _json(capsys, argv):
    code = main(["--json", *argv])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "pruned.pt"
    code = main(["--quiet", "prune", SPEC, "--permute", "--input", "input:1x1x28x28", "--finetune",
                 "--data", "mnist:train:256", "--max-steps", "2", "--eval", "mnist:test:500", "-o", str(out)])
    assert code == 0
    return out


def test_prune_writes_a_weights_only_checkpoint(cli_checkpoint):
    import torch

    raw = torch.load(cli_checkpoint, weights_only=True)
    assert raw["sparse_layers"] == ["features.3", "classifier.0"]
    assert raw["meta"]["permute"] is True and raw["meta"]["finetune"] == "labels"
    assert 0.9 < raw["meta"]["top1_finetuned"] <= 1.0


def test_prune_json(capsys, tmp_path):
    code, data = _json(capsys, ["prune", SPEC, "--exclude", "classifier.*", "-o", str(tmp_path / "p.pt")])
    assert code == 0 and data["ok"] and data["pruned_layers"] == ["features.3"]
    layer = {r["name"]: r for r in data["layers"]}["classifier.0"]
    assert not layer["eligible"] and "excluded by pattern" in layer["reason"]


def test_sparsity_report_checkpoint_and_lost_masks(cli_checkpoint, capsys, tmp_path):
    import torch

    code, data = _json(capsys, ["sparsity", "report", str(cli_checkpoint)])
    assert code == 0 and [r["pattern_holds"] for r in data["layers"]] == [True, True]
    raw = torch.load(cli_checkpoint, weights_only=True)
    raw["state_dict"]["features.3.weight"].fill_(0.5)
    torch.save(raw, tmp_path / "lost.pt")
    code = main(["sparsity", "report", str(tmp_path / "lost.pt")])
    out = capsys.readouterr().out
    assert code == 1 and "masks lost in features.3" in out


def test_sparsity_report_onnx_expect_all(mnist_onnx, pruned_onnx, capsys):
    assert main(["sparsity", "report", str(pruned_onnx), "--expect-all"]) == 0
    assert "2 of 2 eligible layers hold 2:4" in capsys.readouterr().out
    code, data = _json(capsys, ["sparsity", "report", str(mnist_onnx), "--expect-all"])
    assert code == 1 and "does not hold" in data["error"] and data["summary"]["sparse_2to4"] == 0


def test_prune_onnx_cli(mnist_onnx, tmp_path, capsys):
    out = tmp_path / "speed.onnx"
    assert main(["sparsity", "prune-onnx", str(mnist_onnx), "-o", str(out)]) == 0
    assert "FOR SPEED EXPERIMENTS ONLY" in capsys.readouterr().out and out.exists()


@pytest.mark.parametrize("argv,code,message", [
    (["--include", "nomatch*"], 2, "'nomatch*' matches no weighted layer"),
    (["--include", "classifier.2"], 1, "no layer is eligible"),
    (["--sparsity", "1:4"], 2, "argument --sparsity: invalid choice: '1:4'"),
    (["--finetune"], 2, "--finetune needs --data"),
    (["--epochs", "3"], 2, "--epochs would do nothing"),
    (["--lr", "0.1", "--max-steps", "5"], 2, "--lr, --max-steps would do nothing"),
    (["--data", "mnist:train:100"], 2, "--data would do nothing"),
    (["--input", "input:1x1x28x28"], 2, "--input would do nothing"),
    (["--finetune", "--data", "mnist:train:100", "--lr", "-1"], 2, "--lr must be > 0, got -1.0"),
    (["--finetune", "--data", "mnist:train:100", "--max-steps", "0"], 2, "--max-steps must be >= 1, got 0"),
    (["--permute", "--input", "input:1x3x28x28"], 2, "the model does not accept the example input of --permute"),
])
def test_prune_bad_input(argv, code, message, tmp_path, capsys):
    out = tmp_path / "p.pt"
    assert main(["prune", SPEC, *argv, "-o", str(out)]) == code
    assert message in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["report", "MODEL", "-o", "OUT"], "-o/--output belong(s) to `sparsity prune-onnx`"),
    (["report", "MODEL", "--include", "features*"], "--include belong(s) to `sparsity prune-onnx`"),
    (["prune-onnx", "MODEL", "-o", "OUT", "--expect-all"], "--expect-all belong(s) to `sparsity report`"),
    (["report", "RANDOM_PT"], "not a torch zip archive"),
])
def test_sparsity_misuse_is_one_line(argv, message, mnist_onnx, tmp_path, capsys):
    random_pt = tmp_path / "r.pt"
    random_pt.write_bytes(bytes(range(256)) * 8)  # torch's own message for it ran to six lines
    subs = {"MODEL": str(mnist_onnx), "OUT": str(tmp_path / "o.onnx"), "RANDOM_PT": str(random_pt)}
    assert main(["sparsity", *[subs.get(a, a) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "o.onnx").exists()


def test_finetune_data_of_wrong_shape(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((16, 3, 28, 28), np.float32), y=np.zeros(16, np.int64))
    assert main(["prune", SPEC, "--finetune", "--data", str(bad), "-o", str(tmp_path / "p.pt")]) == 2
    assert "batch 0 of shape (16, 3, 28, 28) does not fit the model" in capsys.readouterr().err


def test_commands_import_nothing_heavy():
    code = ("import sys, jetsonkit.cli.commands.prune, jetsonkit.cli.commands.sparsity, jetsonkit.sparsity; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
