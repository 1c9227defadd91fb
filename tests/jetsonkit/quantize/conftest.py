"""Fixtures of the quantize area: small real models exported to ONNX, and calibration ranges measured with ORT."""

from __future__ import annotations

import numpy as np
import pytest


def activation_outputs(onnx_path, x: np.ndarray, names=None, batch: int = 250):
    """Yield ``{tensor: array}`` of every calibration tensor, batch by batch, from ONNX Runtime."""
    import onnx
    import onnxruntime as ort

    from jetsonkit.quantize.placement import calibration_tensors

    model = onnx.load(str(onnx_path))
    names = list(names or calibration_tensors(model))
    inputs = {i.name for i in model.graph.input}
    present = {o.name for o in model.graph.output}
    for n in names:
        if n not in inputs and n not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=n))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed_name = sess.get_inputs()[0].name
    out_names = [o.name for o in sess.get_outputs()]
    for i in range(0, len(x), batch):
        b = x[i:i + batch]
        outs = dict(zip(out_names, sess.run(None, {feed_name: b})))
        outs[feed_name] = b
        yield {n: outs[n] for n in names}


def activation_ranges(onnx_path, x: np.ndarray, names=None, method: str = "minmax") -> dict[str, float]:
    """amax of every calibration tensor over ``x``: exact max |x| ("minmax") or a ``calibrators`` method
    (histograms from the calibration engineer's numpy package, e.g. "entropy")."""
    if method == "minmax":
        ranges: dict[str, float] = {}
        for outs in activation_outputs(onnx_path, x, names):
            for n, v in outs.items():
                ranges[n] = max(ranges.get(n, 0.0), float(np.abs(v).max()))
        return ranges
    import calibrators

    collector = calibrators.HistogramCollector()
    for i, outs in enumerate(activation_outputs(onnx_path, x, names)):
        collector.update_all(outs, batch=i)
    return {n: float(calibrators.compute_amax(collector[n], method)) for n in collector.names}


def _export(module, example, path, dynamic=True):
    import torch

    module.eval()
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic else None
    torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False, dynamic_axes=axes)
    return path


def _residual_net():
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
            self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 5)

        def forward(self, x):
            x = torch.relu(self.stem(x))
            y = self.conv2(torch.relu(self.conv1(x)))
            x = torch.relu(x + y)
            x = self.up(x)
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    return Residual()


def _attention_net():
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self, d=16):
            super().__init__()
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.w = nn.Parameter(torch.randn(d, 4) * 0.2)  # a bare MatMul weight [K, N]

        def forward(self, x):
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            att = torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1)
            return (self.proj(att @ v) + x) @ self.w

    torch.manual_seed(0)
    return Attention()


@pytest.fixture(scope="session")
def residual_onnx(session_tmp):
    import torch

    return _export(_residual_net(), torch.randn(1, 3, 8, 8), session_tmp / "residual.onnx")


@pytest.fixture(scope="session")
def attention_onnx(session_tmp):
    import torch

    return _export(_attention_net(), torch.randn(1, 6, 16), session_tmp / "attention.onnx")


@pytest.fixture(scope="session")
def mnist_ranges(mnist_onnx, mnist_train_1k):
    """Min/max ranges of the MNIST model's calibration tensors over 1,000 real training images."""
    return activation_ranges(mnist_onnx, mnist_train_1k[0])


@pytest.fixture(scope="session")
def sensitive_onnx(session_tmp):
    """The sensitive MNIST CNN (outlier channels into fc2) exported to ONNX."""
    from jetsonkit.examples import sensitive
    import torch

    path = session_tmp / "sensitive.onnx"
    torch.onnx.export(sensitive.build_model(), (torch.zeros(1, 1, 28, 28),), str(path), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


@pytest.fixture(scope="session")
def mnist_entropy_table(mnist_onnx, mnist_train_1k):
    """The calibration engineer's entropy table for the MNIST model (1,000 real training images)."""
    from jetsonkit.calibrate import calibrate

    return calibrate(mnist_onnx, mnist_train_1k[0], "entropy")


@pytest.fixture(scope="session")
def sensitive_table(sensitive_onnx, mnist_train_1k):
    from jetsonkit.calibrate import calibrate

    return calibrate(sensitive_onnx, mnist_train_1k[0], "entropy")
