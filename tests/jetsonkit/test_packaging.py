"""The wheel carries the non-Python files the code opens at run time (package data), built from this tree."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None, reason="setuptools not installed: cannot build")
def test_wheel_ships_the_sources_compiled_at_run_time(tmp_path):
    # a copy of the tracked tree, so the build leaves nothing (build/, *.egg-info) in the checkout
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        target = tmp_path / "src" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheel"), str(tmp_path / "src")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("jetsonkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not any(n.startswith("kernels/") for n in names), "a top-level `kernels` package collides with PyPI's"
    for needed in ("calibrators/_scan.c", "jetsonkit/_kernels/preprocess.cu", "jetsonkit/engine/trt_api/11.4.json",
                   "jetsonkit/examples/mnist_recipe.yaml", "jetsonkit/examples/sensitive_mnist.npz"):
        assert needed in names, f"{needed} missing from the wheel"
    # installed from the wheel, the kernel source is found inside the package, from any working directory
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = "from jetsonkit.preprocess.compile import kernel_path; print(kernel_path())"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}
    found = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr[-2000:]
    assert Path(found.stdout.strip()) == site / "jetsonkit" / "_kernels" / "preprocess.cu"
