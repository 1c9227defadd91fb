"""Outputs never replace inputs, the machine's refusals are exit 4 with the OS reason, long legal names work, and
``--json`` prints one JSON object for every exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetsonkit.cli import main

REPO = Path(__file__).resolve().parents[3]
SPEC = "from jetsonkit.examples.mnist import build_model as build\n"


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["export", "SPEC:build", "--input", "input:1x1x28x28", "-o", "SPEC"],
    ["prune", "SPEC:build", "--input", "input:1x1x28x28", "-o", "SPEC"],
    ["convert", "SPEC:build", "--input", "input:1x1x28x28", "-o", "SPEC"],
    ["qat", "SPEC:build", "--calib", "c.json", "--data", "mnist:train:8", "-o", "SPEC"],
])
def test_output_equal_to_the_spec_file_is_refused(capsys, tmp_path, argv):
    spec = tmp_path / "net.py"
    spec.write_text(SPEC)
    argv = [a.replace("SPEC", str(spec)) for a in argv]
    code, _, err = _run(capsys, argv)
    assert code == 2 and "is the input model" in err and "writing it would replace it" in err, err
    assert spec.read_text() == SPEC and sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]


def test_output_equal_to_weights_or_data_is_refused(capsys, tmp_path, mnist_onnx):
    import numpy as np

    data = tmp_path / "d.npy"
    np.save(data, np.zeros((4, 1, 28, 28), np.float32))
    before = data.read_bytes()
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", data, "-o", data])
    assert code == 2 and "is the input --data" in err and data.read_bytes() == before


def test_table_and_trt_cache_on_one_path_is_refused(capsys, tmp_path, mnist_onnx):
    same = tmp_path / "calib.json"
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", same, "--trt-cache", same])
    assert code == 2 and "--trt-cache and -o both name" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["/proc/calib.json", "/sys/calib.json"])
def test_unwritable_output_folder_is_exit_4_before_any_work(capsys, mnist_onnx, where):
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", where])
    assert code == 4 and f"output folder {os.path.dirname(where)!r} is not writable" in err, err
    assert "calibrating" not in err and "Traceback" not in err


def test_unwritable_compress_output_is_exit_4(capsys, tmp_path):
    recipe = REPO / "jetsonkit" / "examples" / "mnist_recipe.yaml"
    code, out, err = _run(capsys, ["compress", recipe, "-o", "/proc/jk-out", "--json"])
    assert code == 4 and json.loads(out)["type"] == "EnvironmentFailure", out


def test_full_disk_is_exit_4_naming_the_output(tmp_path, mnist_onnx):
    """A file-size limit makes the write fail with EFBIG, as a full disk fails with ENOSPC: the OS reason and the
    final path, exit 4, and no temporary file left behind."""
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200)); from jetsonkit.cli import main; "
              "sys.exit(main(sys.argv[1:]))")
    out = tmp_path / "calib.json"
    proc = subprocess.run([sys.executable, "-B", "-c", script, "calibrate", str(mnist_onnx), "--data",
                           "mnist:train:16", "-q", "-o", str(out)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 4, proc.stderr
    assert f"cannot write {str(out)!r}: File too large" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_255_byte_output_name_works_and_256_is_refused_up_front(capsys, tmp_path, mnist_onnx):
    ok = tmp_path / ("c" * 250 + ".json")
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-q", "-o", ok])
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == [ok.name]
    long = tmp_path / ("d" * 251 + ".json")
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-q", "-o", long])
    assert code == 2 and "256 bytes, longer than the 255 bytes" in err and "calibrating" not in err


def test_a_long_name_works_for_the_stage_writers(tmp_path):
    from jetsonkit._io import write_bytes_atomic
    from calibrators._files import write_text_atomic

    for name, write in (("a" * 255, lambda p: write_bytes_atomic(p, b"x")), ("b" * 255, lambda p: write_text_atomic(p, "x"))):
        write(tmp_path / name)
        assert (tmp_path / name).read_bytes() == b"x"
    assert len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("raised, code, kind", [
    (RuntimeError("boom"), 3, "InternalError"),
    (KeyboardInterrupt(), 130, "KeyboardInterrupt"),
    (PermissionError(13, "Permission denied", "/x/y"), 4, "EnvironmentFailure"),
])
def test_json_prints_one_object_for_every_exit(capsys, monkeypatch, raised, code, kind):
    """Our own plumbing: a command whose run raises; --json must still print exactly one JSON object."""
    from jetsonkit.cli.commands import doctor

    def run(args):
        raise raised

    monkeypatch.setattr(doctor, "run", run)
    rc, out, _ = _run(capsys, ["doctor", "--json"])
    data = json.loads(out)
    assert rc == code and data["ok"] is False and data["type"] == kind and data["exit_code"] == code


def test_json_without_a_command_is_json(capsys):
    rc, out, _ = _run(capsys, ["--json"])
    assert rc == 2 and json.loads(out)["type"] == "UsageError"


def test_the_readme_exit_code_table_is_the_cli_s():
    import re

    from jetsonkit import cli, errors

    text = (REPO / "README.md").read_text()
    table = text[text.index("| exit | meaning |"):].split("\n\n")[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, re.M)}
    codes = {v for k, v in vars(cli).items() if k.startswith("EXIT_")}
    raised = {c.exit_code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.JetsonkitError)}
    assert documented == codes and raised <= codes, (documented, codes, raised)
