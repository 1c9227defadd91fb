"""Tiny models and data written in tmp_path for the data-layer tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def tiny_onnx(path: Path, batch, channels: int = 3, size: int = 8) -> Path:
    """x [batch, C, size, size] -> Conv 3x3 (4 filters) -> Relu -> GlobalAveragePool -> Flatten -> y [batch, 4]."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(3).normal(size=(4, channels, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def batch1_onnx(tmp_path) -> Path:
    return tiny_onnx(tmp_path / "b1.onnx", 1)


@pytest.fixture
def samples() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(12, 3, 8, 8)).astype(np.float32)
