"""The Pi install: a clean venv with only numpy + ai-edge-litert + jetsonkit (no torch / onnx / tensorflow)
runs a converted MNIST .tflite through the Python Runtime and `jetsonkit bench`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.conftest import REPO

from .conftest import nhwc

PROBE = textwrap.dedent("""
    import importlib.util, json, sys
    import numpy as np
    from jetsonkit.runtime import Runtime
    d = np.load(sys.argv[2])
    x, y = d["x"], d["y"]
    with Runtime.open(sys.argv[1], threads=2) as rt:
        got = np.concatenate([list(rt.infer(x[i:i + 1]).values())[0] for i in range(len(x))])
    print(json.dumps({"top1": float((got.argmax(1) == y).mean()),
                      "absent": [m for m in ("torch", "onnx", "onnxruntime", "tensorflow")
                                 if importlib.util.find_spec(m) is None]}))
""")


def _pip(venv, *args):
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                   check=True, timeout=900)


@pytest.mark.slow
def test_pi_only_install_runs_tflite(tflite_models, mnist_test, tmp_path):
    venv = tmp_path / "pi-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    _pip(venv, "numpy", "ai-edge-litert>=2.0")
    _pip(venv, "--no-deps", str(REPO))
    data = tmp_path / "mnist500.npz"
    np.savez(data, x=nhwc(mnist_test[0][:500]), y=mnist_test[1][:500])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    py = str(venv / "bin" / "python")
    probe = subprocess.run([py, "-c", PROBE, str(tflite_models["int8"].path), str(data)], capture_output=True,
                           text=True, timeout=300, cwd=tmp_path, env=env)
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["absent"] == ["torch", "onnx", "onnxruntime", "tensorflow"]
    assert result["top1"] >= 0.98
    bench = subprocess.run([str(venv / "bin" / "jetsonkit"), "--json", "bench", str(tflite_models["fp32"].path)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["ok"] is True
