"""Placement on modern graphs: a detection decode stays out of INT8 (with the reason), a degenerate (all-zero)
calibration range keeps its layers in float with a warning instead of failing."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from jetsonkit.quantize.placement import calibration_tensors, decode_nodes, quant_sites
from jetsonkit.quantize.plan import PrecisionPlan, Rule
from jetsonkit.quantize.qdq import quantize_qdq


@pytest.fixture(scope="module")
def yolo_onnx(session_tmp):
    from jetsonkit.examples import zoo
    from jetsonkit.export import export_onnx

    path = session_tmp / "zoo_yolo_random.onnx"
    export_onnx(zoo.build("yolo", pretrained=False), np.zeros((1, 1, 28, 28), np.float32), path,
                input_names=["input"], output_names=["output"], dynamic=True)
    return path


def test_yolo_decode_is_found_and_kept_out_of_int8(yolo_onnx):
    model = onnx.load(str(yolo_onnx))
    decode = decode_nodes(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    dfl = [n for n, why in decode.items() if "DFL" in why]
    assert sorted(ops[n] for n in dfl) == ["Conv", "Softmax"]
    assert any("anchor / stride" in why for why in decode.values())
    final = next(n for n in model.graph.node if n.output[0] == "output")
    assert final.op_type == "Concat" and final.name in decode  # boxes + scores concat
    dfl_conv = next(n for n in model.graph.node if n.name in dfl and n.op_type == "Conv")
    decoded_add = [n for n in model.graph.node if n.name in decode and n.op_type == "Add"
                   and not any(i in {t.name for t in model.graph.initializer} for i in n.input)]
    assert decoded_add  # (x1y1 + x2y2): a two-activation Add the residual rule would quantize
    sites = quant_sites(model)
    consumers = {c for s in sites for c in s.consumers}
    assert not consumers & set(decode)
    assert dfl_conv.input[0] in calibration_tensors(model)  # calibrated anyway, so a plan can opt back in
    explained = PrecisionPlan().explain(model)
    line = next(ln for ln in explained.splitlines() if ln.startswith(dfl_conv.name + " "))
    assert "fp32" in line and "detection decode: DFL" in line
    forced = PrecisionPlan([Rule("int8", match="/detect/dfl/*")])
    assert dfl_conv.name in {c for s in quant_sites(model, forced) for c in s.consumers}


def test_classifiers_have_no_decode(residual_onnx, attention_onnx, mnist_onnx):
    for path in (residual_onnx, attention_onnx, mnist_onnx):
        assert decode_nodes(onnx.load(str(path))) == {}


@pytest.fixture(scope="module")
def dead_branch_onnx(session_tmp):
    import torch
    from torch import nn

    class DeadBranch(nn.Module):
        """conv_a's ReLU output is 0 for every input (zero weights, negative bias): conv_b reads an all-zero tensor."""

        def __init__(self):
            super().__init__()
            self.conv_a, self.conv_b = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
            self.conv_c = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4, 3)
            with torch.no_grad():
                self.conv_a.weight.zero_()
                self.conv_a.bias.fill_(-1.0)

        def forward(self, x):
            y = self.conv_b(torch.relu(self.conv_a(x))) + torch.relu(self.conv_c(x))
            return self.fc(y.mean((2, 3)))

    torch.manual_seed(0)
    path = session_tmp / "dead_branch.onnx"
    torch.onnx.export(DeadBranch().eval(), (torch.randn(1, 1, 8, 8),), str(path), input_names=["input"],
                      output_names=["output"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return path


def test_all_zero_range_keeps_its_layer_in_float_and_warns(dead_branch_onnx, tmp_path, capsys):
    from jetsonkit.calibrate import calibrate

    x = np.random.default_rng(0).standard_normal((64, 1, 8, 8)).astype(np.float32)
    table = calibrate(dead_branch_onnx, x, "entropy", output=tmp_path / "calib.json")
    zero = [n for n, r in table.tensors.items() if r.amax == 0.0]
    assert len(zero) == 1 and table.tensors[zero[0]].flags[0].startswith("all-zero")
    assert "all-zero" in capsys.readouterr().err
    result = quantize_qdq(dead_branch_onnx, tmp_path / "calib.json", tmp_path / "q.onnx")
    err = capsys.readouterr().err
    (node, why), = result.reasons.items()
    assert "Conv" in node and "all zeros" in why and node in err and result.kept_float == {node: "fp32"}
    model = onnx.load(str(result.path))
    kept = next(n for n in model.graph.node if n.name == node)
    assert not any(i.endswith("_dequantized") for i in kept.input)  # neither its input nor its weight
    assert sum(n.op_type == "QuantizeLinear" for n in model.graph.node) >= 2  # the rest is still INT8
    sess = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    ref = ort.InferenceSession(str(dead_branch_onnx), providers=["CPUExecutionProvider"])
    got, want = sess.run(None, {"input": x})[0], ref.run(None, {"input": x})[0]
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_anchor_grid_decode_without_dfl_is_found(session_tmp):
    """A YOLOv5-style decode (sigmoid, *2 - 0.5, + grid, * stride) has no DFL: the per-anchor grid constant after
    the last learned conv marks it, and everything computed from it (the final concat) follows."""
    import torch
    from torch import nn

    class GridHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)
            self.head = nn.Conv2d(8, 4, 1)
            ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
            self.register_buffer("grid", torch.stack((xs, ys)).view(1, 2, 64))

        def forward(self, x):
            p = self.head(torch.relu(self.conv(x))).flatten(2)  # [B, 4, 64]
            xy = (p[:, :2].sigmoid() * 2 - 0.5 + self.grid) * 4.0
            return torch.cat((xy, p[:, 2:].sigmoid() + xy.mean(1, keepdim=True)), 1)

    path = session_tmp / "grid_head.onnx"
    torch.onnx.export(GridHead().eval(), (torch.randn(1, 1, 8, 8),), str(path), input_names=["input"],
                      output_names=["output"], opset_version=17, dynamo=False)
    model = onnx.load(str(path))
    decode = decode_nodes(model)
    grid_add = [n for n, why in decode.items() if "anchor / stride" in why]
    assert len(grid_add) == 1
    assert next(n for n in model.graph.node if n.output[0] == "output").name in decode
    learned = {n.name for n in model.graph.node if n.op_type == "Conv"}
    assert not learned & set(decode)  # the network itself stays quantizable


def test_qdq_result_lists_the_decode_it_keeps_in_float(yolo_onnx):
    """kept_float names every node that would carry Q/DQ but stays float for the decode, with its reason; a plan
    rule that puts the DFL conv back in int8 takes it off the list."""
    model = onnx.load(str(yolo_onnx))
    ranges = {t: 1.0 for t in calibration_tensors(model)}
    result = quantize_qdq(model, ranges)
    decode = decode_nodes(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    kept = result.kept_float
    assert kept and set(kept) <= set(decode) and set(kept.values()) == {"fp32"}
    assert {ops[n] for n in kept} == {"Conv", "Add"}  # the DFL conv and the (x1y1 + x2y2) box Add
    assert all(result.reasons[n] == decode[n] for n in kept)
    assert result.summary()["kept_float_reasons"] == {n: decode[n] for n in kept}
    dfl_conv = next(n for n in kept if ops[n] == "Conv")
    forced = quantize_qdq(model, ranges, plan=PrecisionPlan([Rule("int8", match=dfl_conv)]))
    assert dfl_conv not in forced.kept_float and set(forced.kept_float) == set(kept) - {dfl_conv}
