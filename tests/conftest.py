"""Shared fixtures and the skip rules for the gpu / tensorrt markers.

A test marked ``gpu`` needs an NVIDIA driver and GPU; one marked ``tensorrt`` needs the ``tensorrt`` package.
Where they are missing the test is reported as skipped with that reason; it never passes vacuously.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# Test support packages (tests/support, tests/trt_fake) import by their own names from every test folder.
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))


def _gpu_reason() -> str | None:
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA GPU driver here (libcuda.so.1 not found); run `pytest -m gpu` on a machine with a GPU"
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return "NVIDIA driver present but no usable GPU (cuInit / cuDeviceGetCount failed)"
    return None


def _tensorrt_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT not installed (it ships with JetPack and NVIDIA's containers); see scripts/jetson_selftest.sh"
    return _gpu_reason()


def pytest_collection_modifyitems(config, items):
    reasons = {}
    for item in items:
        for marker, probe in (("gpu", _gpu_reason), ("tensorrt", _tensorrt_reason)):
            if marker in item.keywords:
                if marker not in reasons:
                    reasons[marker] = probe()
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=reasons[marker]))


@pytest.fixture(autouse=True)
def _library_log_lines_on_stderr():
    """The CLI shows the library's log lines on stderr; give every test that view, whatever ran before it (an
    earlier ``--quiet`` / ``--json`` run in this process, or no CLI run at all), so tests do not depend on order."""
    from jetsonkit.cli.streams import configure_logging

    configure_logging(False)


@pytest.fixture(scope="session")
def mnist_test():
    """The real MNIST test split, normalised: (x float32 [10000,1,28,28], y int64)."""
    from jetsonkit.examples import mnist

    return mnist.load_split("test")


@pytest.fixture(scope="session")
def mnist_train_1k():
    """The first 1,000 real MNIST training images, normalised (the calibration set the issues name)."""
    from jetsonkit.examples import mnist

    return mnist.load_split("train", limit=1000)


@pytest.fixture(scope="session")
def mnist_model():
    """The trained MNIST CNN (ccexam weights), eval mode."""
    from jetsonkit.examples import mnist

    return mnist.build_model()


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("jetsonkit")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def mnist_onnx(session_tmp, mnist_model):
    """The MNIST CNN exported once per session with ``jetsonkit.export.export_onnx`` (opset 17, parity-checked):
    input 'input' [batch,1,28,28], output 'logits' [batch,10]."""
    import torch

    from jetsonkit.export import export_onnx

    path = session_tmp / "mnist.onnx"
    if not path.exists():
        export_onnx(mnist_model, torch.zeros(1, 1, 28, 28), path, input_names=["input"], output_names=["logits"],
                    dynamic=True, random_trials=1)
    return path
