"""Fixtures of the sparsity tests: small torch models, the MNIST CNN pruned once, its ONNX and Q/DQ ONNX."""

from __future__ import annotations

import copy

import numpy as np
import pytest


@pytest.fixture(scope="module")
def torch_mod():
    import torch

    torch.manual_seed(0)
    return torch


def build_mixed_net(torch):
    """Eligible and ineligible layers side by side (names say which rule applies)."""

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)  # in=3: not a multiple of 16
            self.conv = torch.nn.Conv2d(16, 32, 3, padding=1)  # eligible
            self.depthwise = torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)  # grouped
            self.conv1d = torch.nn.Conv1d(32, 16, 1)  # eligible
            self.fc = torch.nn.Linear(16, 24)  # eligible (24 % 8 == 0, 16 % 16 == 0)
            self.head = torch.nn.Linear(24, 10)  # out=10: not a multiple of 8

        def forward(self, x):
            x = torch.relu(self.depthwise(torch.relu(self.conv(torch.relu(self.stem(x))))))
            x = self.conv1d(x.flatten(2)).mean(-1)
            return self.head(torch.relu(self.fc(x)))

    return Mixed().eval()


@pytest.fixture(scope="session")
def pruned_mnist(mnist_model):
    """(dense model, model pruned 2:4 without fine-tune, PruneResult)."""
    from jetsonkit.sparsity import prune_2to4

    model = copy.deepcopy(mnist_model)
    return mnist_model, model, prune_2to4(model)


def export_onnx(model, path):
    import torch

    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


@pytest.fixture(scope="session")
def pruned_onnx(pruned_mnist, session_tmp):
    return export_onnx(pruned_mnist[1], session_tmp / "mnist_2to4.onnx")


def activation_ranges(onnx_path, x: np.ndarray) -> dict:
    """Calibrated ranges per Q/DQ activation tensor: jetsonkit.calibrate when it exists, else min/max in ORT."""
    import onnx
    import onnxruntime as ort

    try:
        from jetsonkit.calibrate import calibrate
    except ImportError:
        calibrate = None
    if calibrate is not None:
        # percentile: entropy puts MNIST's input amax at 0.43 (the background spike), which costs ~10 points
        return calibrate(str(onnx_path), x, method="percentile")
    from jetsonkit.quantize.placement import calibration_tensors

    model = onnx.load(str(onnx_path))
    names = calibration_tensors(model)
    known = {o.name for o in model.graph.output}
    for n in names:
        if n not in known:
            model.graph.output.add().name = n
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(names, {"input": x})
    return {n: float(np.abs(v).max()) for n, v in zip(names, outs)}


@pytest.fixture(scope="session")
def pruned_qdq(pruned_onnx, mnist_train_1k, session_tmp):
    from jetsonkit.quantize import quantize_qdq

    out = session_tmp / "mnist_2to4.qdq.onnx"
    quantize_qdq(str(pruned_onnx), activation_ranges(pruned_onnx, mnist_train_1k[0][:256]), str(out))
    return out
