"""Op coverage beyond MNIST: depthwise conv, explicit padding (PAD), ReLU6, average pooling, Sigmoid, Concat on
channels, global pooling, Softmax — fp32 parity with ONNX Runtime and int8 top-1 agreement."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import nhwc, run_tflite


@pytest.fixture(scope="module")
def mixed_net(session_tmp):
    import torch

    nn = torch.nn

    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6())
            self.dw = nn.Conv2d(8, 8, 3, padding=2, groups=8)  # pads 2 with a 3x3 kernel: not TF SAME -> PAD
            self.pool = nn.AvgPool2d(2)
            self.branch = nn.Conv2d(8, 4, 1)
            self.head = nn.Linear(12, 5)

        def forward(self, x):
            y = self.pool(torch.relu(self.dw(self.stem(x))))
            y = torch.cat([y, torch.sigmoid(self.branch(y))], dim=1)
            return torch.softmax(self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1)), dim=-1)

    torch.manual_seed(0)
    model = Mixed().eval()
    with torch.no_grad():
        model.stem[1].running_mean.uniform_(-0.2, 0.2)
        model.stem[1].running_var.uniform_(0.5, 2.0)
    path = session_tmp / "mixed.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 16, 16),), str(path), input_names=["input"], output_names=["probs"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}})
    return path


def test_mixed_ops_fp32_parity_and_int8(mixed_net, session_tmp):
    import onnxruntime as ort

    from jetsonkit.convert import convert_tflite

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3, 16, 16)).astype(np.float32)
    ref = ort.InferenceSession(str(mixed_net), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    r32 = convert_tflite(mixed_net, session_tmp / "mixed.fp32.tflite")
    for op in ("DEPTHWISE_CONV_2D", "PAD", "AVERAGE_POOL_2D", "LOGISTIC", "CONCATENATION", "MEAN", "SOFTMAX"):
        assert op in r32.ops, (op, r32.ops)
    assert "BatchNormalization" not in str(r32.ops)
    np.testing.assert_allclose(run_tflite(r32.path, nhwc(x)), ref, atol=1e-5)
    calib = rng.standard_normal((256, 3, 16, 16)).astype(np.float32)
    r8 = convert_tflite(mixed_net, session_tmp / "mixed.int8.tflite", precision="int8", data=calib)
    out = run_tflite(r8.path, nhwc(x))
    assert np.abs(out - ref).max() < 0.05  # probabilities: int8 softmax output has a 1/256 step
    assert float((out.argmax(1) == ref.argmax(1)).mean()) >= 0.9
