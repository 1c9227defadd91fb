"""Every lowering through ONNX Runtime and LiteRT: small torch modules (exported with a dynamic batch, so shape
sub-graphs appear and are folded) and hand-made ONNX graphs for attributes torch does not emit."""

from __future__ import annotations

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


CASES = {
    "elementwise": (Elementwise, (6, 8, 8)),
    "pooling": (Pooling, (4, 8, 8)),
    "convs": (Convs, (6, 8, 8)),
    "slicing": (Slicing, (6, 8, 8)),
    "resizes": (Resizes, (3, 8, 8)),
    "reductions": (Reductions, (6, 8, 8)),
    "tokens": (Tokens, (6, 8, 8)),
    "norms": (Norms, (6, 8, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_match_onnx_runtime(case, tmp_path):
    cls, shape = CASES[case]
    torch.manual_seed(0)
    check_module(cls(), shape, tmp_path, case)
