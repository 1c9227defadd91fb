"""Fixtures for the TFLite conversion tests: the three MNIST .tflite models, converted once per session."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed: pip install 'jetsonkit[tflite]'")


def run_tflite(path, x: np.ndarray, threads: int = 2) -> np.ndarray:
    """All of ``x`` through the LiteRT interpreter in one resized batch; returns the first output."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], np.ascontiguousarray(x, dtype=inp["dtype"]))
    it.invoke()
    return it.get_tensor(out["index"])


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


@pytest.fixture(scope="session")
def onnx_reference(mnist_onnx, mnist_test):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(mnist_onnx), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": mnist_test[0]})[0]


@pytest.fixture(scope="session")
def tflite_models(mnist_onnx, mnist_train_1k, session_tmp):
    """{precision: ConvertResult} for fp32, fp16 and int8 (int8 calibrated on 1,000 real training images)."""
    from jetsonkit.convert import convert_tflite

    out = {}
    for precision in ("fp32", "fp16", "int8"):
        data = mnist_train_1k[0] if precision == "int8" else None
        out[precision] = convert_tflite(mnist_onnx, session_tmp / f"mnist.{precision}.tflite", precision=precision,
                                        data=data)
    return out


@pytest.fixture(scope="session")
def tflite_outputs(tflite_models, mnist_test):
    return {p: run_tflite(r.path, nhwc(mnist_test[0])) for p, r in tflite_models.items()}
