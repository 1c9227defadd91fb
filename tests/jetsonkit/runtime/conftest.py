"""Fixtures for the runtime tests: real MNIST models as .onnx (tests/conftest.py) and .tflite (written here)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def mnist_tflite(session_tmp, mnist_model):
    """The trained MNIST CNN as a float32 NHWC .tflite (input [N,28,28,1], output 'logits')."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed (pip install 'jetsonkit[pi]')")
    from support.tflite_writer import mnist_cnn_tflite

    path = session_tmp / "mnist_runtime.tflite"
    if not path.exists():
        state = {k: v.detach().numpy() for k, v in mnist_model.state_dict().items()}
        mnist_cnn_tflite(state, path)
    return path


@pytest.fixture(scope="session")
def mnist_reference(mnist_model, mnist_test):
    """256 real MNIST test images, their labels and the torch FP32 logits (the source model's outputs)."""
    import torch

    x, y = mnist_test[0][:256], mnist_test[1][:256]
    with torch.no_grad():
        logits = mnist_model(torch.from_numpy(x)).numpy()
    return x, y, logits


@pytest.fixture(scope="session")
def int8_tflite(session_tmp):
    """A one-layer int8-in/int8-out .tflite and its float weights and quantization params."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed (pip install 'jetsonkit[pi]')")
    from support.tflite_writer import int8_dense_tflite

    rng = np.random.default_rng(7)
    w = rng.normal(size=(6, 16)).astype(np.float32) * 0.5
    b = rng.normal(size=6).astype(np.float32) * 0.1
    path = session_tmp / "dense_int8.tflite"
    in_q, out_q = (0.04, -3), (0.08, 4)
    w_scale, w_q = int8_dense_tflite(w, b, path, in_quant=in_q, out_quant=out_q)
    return {"path": path, "w": w, "b": b, "in_q": in_q, "out_q": out_q, "w_scale": w_scale, "w_q": w_q}


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@pytest.fixture(scope="session")
def real_trt(tmp_path_factory):
    """run(version, code) with the real TensorRT bindings (subprocess; wheels downloaded once and cached);
    skipped with the reason where PyPI or a C compiler is not reachable."""
    import subprocess

    import sys

    from trt_fake.real import RealBindings

    if sys.version_info[:2] != (3, 11):
        pytest.skip("the TensorRT binding wheels used here are CPython 3.11 builds")
    bindings = RealBindings(tmp_path_factory.mktemp("trt-real"))
    try:
        bindings.env("10.3")
    except (subprocess.CalledProcessError, FileNotFoundError, RuntimeError, OSError) as exc:
        pytest.skip(f"real TensorRT binding wheels not available here ({exc})")
    return bindings.run
