"""Every lowering through ONNX Runtime and LiteRT: small torch modules (exported with a dynamic batch, so shape
sub-graphs appear and are folded) and hand-made ONNX graphs for attributes torch does not emit."""

from __future__ import annotations

import numpy as np
import pytest

from .lowering_check import check_module

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


class Elementwise(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.5, 1.5, 6).reshape(6, 1, 1))

    def forward(self, x):
        a = F.hardswish(x) + F.hardsigmoid(x) * x + F.silu(x) - F.gelu(x) * torch.tanh(x)
        b = a * self.w / 3.0 + x.pow(2) - torch.sqrt(x.abs() + 1.0) / (x.abs() + 2.0)
        return F.leaky_relu(b, 0.1) + torch.clamp(x, -0.5, 0.7) + F.relu6(x) + torch.sigmoid(x).pow(0.5)


class Pooling(nn.Module):
    def forward(self, x):
        a = F.max_pool2d(x, 3, 2, padding=1)  # ResNet stem: symmetric pads
        b = F.avg_pool2d(x, 3, 2, padding=1)  # count_include_pad=True
        c = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 2, 2)[..., :4, :4]  # asymmetric: Pad + pool
        return torch.cat([a, b, c, F.adaptive_max_pool2d(x, 1).expand(-1, -1, 4, 4)], 1)


class Convs(nn.Module):
    def __init__(self):
        super().__init__()
        self.grouped = nn.Conv2d(6, 12, 3, padding=1, groups=3)  # RegNet-style
        self.dw = nn.Conv2d(12, 24, 5, padding=2, groups=12)  # depthwise, multiplier 2
        self.up = nn.ConvTranspose2d(24, 4, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(4, 4, 2, stride=2)

    def forward(self, x):
        return self.up2(self.up(self.dw(F.relu(self.grouped(x)))))


class Slicing(nn.Module):
    def forward(self, x):
        a, b = x[:, :2], x[:, 2:]
        c = torch.flip(x, dims=[3])[:, :, ::2, 1:]  # [N, 6, 4, 7]
        p, q, r = torch.split(x, [1, 2, 3], dim=1)
        s = F.pad(q, (1, 2, 0, 1), value=0.5)[..., :8, :8] + F.pad(r[:, :2], (1, 1, 1, 1), mode="reflect")[..., 1:9, 1:9]
        c = F.pad(torch.cat([c, c], 2), (0, 1))  # [N, 6, 8, 8]
        return torch.cat([a * b[:, :2], c, p + s[:, :1], s], 1)


class Resizes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        x = self.conv(x)
        n = F.interpolate(x, scale_factor=2, mode="nearest")
        b = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        c = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=True)
        return torch.cat([n, b, c], 1)


class Reductions(nn.Module):
    def forward(self, x):  # x: [N, 6, 8, 8]
        a = x.mean(dim=(2, 3), keepdim=True) + x.amax(dim=1, keepdim=True) + x.mean(1, keepdim=True)
        s = torch.softmax(x, dim=1) + torch.softmax(x, dim=2) + torch.softmax(x, dim=-1)
        flat = x.mean(dim=(2, 3)) + x.amax(dim=(2, 3))  # keepdims=0 -> [N, C]
        return (a + s).flatten(1), flat


class Tokens(nn.Module):
    """ViT-style token ops: flatten(2).transpose, Unsqueeze/Squeeze, Gather of a token, Expand, attention MatMuls."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(6, 18)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        t = x.flatten(2).transpose(1, 2)  # [N, 64, 6]
        t = self.norm(t)
        b, n, c = t.shape
        q, k, v = self.qkv(t).reshape(b, n, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax(q @ k.transpose(-2, -1) * (c // 2) ** -0.5, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(b, n, c)
        first = o[:, 0].unsqueeze(1).expand(-1, 4, -1)
        return torch.cat([o[:, 1:5] + first, o.float()[:, -4:].unsqueeze(1).squeeze(1)], 1)


class Norms(nn.Module):
    """LayerNorm2d the ConvNeXt way (permute, LayerNorm, permute) and decomposed; GroupNorm(1) (InstanceNorm)."""

    def __init__(self):
        super().__init__()
        self.ln = nn.LayerNorm(6)
        self.gn = nn.GroupNorm(1, 6)
        self.g = nn.Parameter(torch.linspace(0.5, 2.0, 6).reshape(6, 1, 1))

    def forward(self, x):
        a = self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        b = (x - u) / torch.sqrt(s + 1e-6) * self.g
        return a + b + self.gn(x)


class TinyConcat(nn.Module):
    """Activations around 1e-7 (a random-weight full-size YOLO): Concat must still requantize inputs whose scales
    differ (an absolute tolerance once took 4.85e-7 and 4.77e-7 for equal, and XNNPACK refused the model)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1, bias=False), nn.Conv2d(3, 4, 1, bias=False)
        self.c = nn.Conv2d(8, 4, 1, bias=False)  # a weighted layer after the Concat: it is not post-processing
        with torch.no_grad():
            self.b.weight.mul_(1.3)

    def forward(self, x):
        x = x * 1e-7
        return self.c(torch.cat([self.a(x), self.b(x)], 1))


class LeViTMobileViTPatterns(nn.Module):
    """LeViT: Linear + BatchNorm1d over the flattened tokens, attention biases gathered by constant indices,
    Hardswish; MobileViTv2: unfolding into patches through rank-6 Reshape / Permute, GroupNorm(1), separable linear
    attention (Softmax over the patches, weighted sum, ReLU)."""

    def __init__(self, c=8, p=2):
        super().__init__()
        self.p = p
        self.fc, self.bn = nn.Linear(c, c, bias=False), nn.BatchNorm1d(c)
        self.biases = nn.Parameter(torch.randn(2, 5))
        self.register_buffer("idx", torch.randint(0, 5, (16, 16)))
        self.gn, self.qkv = nn.GroupNorm(1, c), nn.Conv2d(c, 1 + 2 * c, 1)

    def forward(self, x):  # x: [N, 8, 4, 4]
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # [N, 16, 8]
        t = F.hardswish(self.bn(self.fc(t).flatten(0, 1)).reshape(b, h * w, c))
        att = (t @ t.transpose(1, 2)).unsqueeze(1) + self.biases[:, self.idx]  # [N, 2, 16, 16]
        t = (att.softmax(-1) @ t.unsqueeze(1)).mean(1)  # [N, 16, 8]
        y = t.transpose(1, 2).reshape(b, c, h, w)
        p = self.p  # unfold: [N, C, H/p, p, W/p, p] -> [N, C, p*p, patches]
        u = y.reshape(b, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 2, 4).reshape(b, c, p * p, -1)
        q, k, v = self.qkv(self.gn(u)).split([1, c, c], 1)
        ctx = (k * q.softmax(-1)).sum(-1, keepdim=True)
        u = F.relu(v) * ctx.expand_as(v)
        return u.reshape(b, c, p, p, h // p, w // p).permute(0, 1, 4, 2, 5, 3).reshape(b, c, h, w) + x


CASES = {
    "elementwise": (Elementwise, (6, 8, 8)),
    "pooling": (Pooling, (4, 8, 8)),
    "convs": (Convs, (6, 8, 8)),
    "slicing": (Slicing, (6, 8, 8)),
    "resizes": (Resizes, (3, 8, 8)),
    "reductions": (Reductions, (6, 8, 8)),
    "tokens": (Tokens, (6, 8, 8)),
    "norms": (Norms, (6, 8, 8)),
    "tiny_concat": (TinyConcat, (3, 6, 6)),
    "levit_mobilevit": (LeViTMobileViTPatterns, (8, 4, 4)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_match_onnx_runtime(case, tmp_path):
    cls, shape = CASES[case]
    torch.manual_seed(0)
    check_module(cls(), shape, tmp_path, case)


def _handmade_attributes_model(path):
    """Attributes torch does not emit: asymmetric pool / conv pads, Resize with axes (opset 18) in asymmetric
    linear and align_corners nearest modes, ReduceMean / Pad with axes inputs, Split with num_outputs, Softmax on
    the channel axis, several graph outputs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)

    def const(name, value, dtype=np.int64):
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    inits = [numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w"),
             const("sizes4", [4, 4]), const("sizes8", [8, 8]), const("axis1", [1]), const("pads", [1, 0, 0, 1]),
             const("axes23", [2, 3])]
    node = helper.make_node
    nodes = [
        node("MaxPool", ["x"], ["mp"], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 0, 0]),  # not TF-SAME
        node("AveragePool", ["x"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
             count_include_pad=1),
        node("Conv", ["x", "w"], ["cv"], strides=[2, 2], pads=[0, 1, 1, 0]),
        node("Resize", ["cv", "", "", "sizes4"], ["rz"], mode="linear", coordinate_transformation_mode="asymmetric",
             axes=[2, 3]),
        node("Resize", ["mp", "", "", "sizes8"], ["rn"], mode="nearest", nearest_mode="round_prefer_ceil",
             coordinate_transformation_mode="align_corners", axes=[2, 3]),
        node("Concat", ["mp", "ap", "rz"], ["cat"], axis=1),
        node("Softmax", ["cat"], ["sm"], axis=1),
        node("ReduceMean", ["cat", "axis1"], ["rm"], keepdims=0),
        node("Split", ["cat"], ["s0", "s1", "s2"], axis=1, num_outputs=3),
        node("Pad", ["s0", "pads", "", "axes23"], ["pd"]),
        node("Sub", ["s1", "s2"], ["df"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 7, 7])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("sm", "rm", "pd", "rn", "df")]
    graph = helper.make_graph(nodes, "attrs", [x], outs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_handmade_attributes_match_onnx_runtime(tmp_path):
    from .lowering_check import check_model

    path = _handmade_attributes_model(tmp_path / "attrs.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4, 7, 7)).astype(np.float32)
    calib = rng.standard_normal((32, 4, 7, 7)).astype(np.float32)
    r = check_model(path, x, tmp_path, calib=calib)
    assert {"PADV2", "PAD", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPLIT_V", "MEAN"} <= set(r["fp32"].ops)
