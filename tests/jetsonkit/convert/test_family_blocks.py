"""A small block of each edge family, re-implemented from its public definition, through ONNX Runtime and LiteRT
at fp32 / fp16 / int8 (see lowering_check for the tolerances). Random weights, BatchNorm statistics perturbed so
folding is exercised; inputs are random normal, calibration on other samples of the same distribution."""

from __future__ import annotations

import pytest

from .lowering_check import check_module

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def cbn(cin, cout, k=3, s=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class ResNetStem(nn.Module):
    """ResNet-18: 7x7/2 stem, 3x3/2 MaxPool with pads 1, a basic block and a downsampling block."""

    def __init__(self):
        super().__init__()
        self.stem, self.pool = cbn(3, 8, 7, 2), nn.MaxPool2d(3, 2, 1)
        self.a, self.b = cbn(8, 8), cbn(8, 8, act=None)
        self.c, self.d, self.down = cbn(8, 16, s=2), cbn(16, 16, act=None), cbn(8, 16, 1, 2, act=None)

    def forward(self, x):
        x = self.pool(self.stem(x))
        x = F.relu(x + self.b(self.a(x)))
        return F.relu(self.down(x) + self.d(self.c(x)))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r, act, gate):
        super().__init__()
        self.fc1, self.fc2, self.act, self.gate = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1), act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class MobileNetV3Block(nn.Module):
    """Inverted residual with HardSwish and an SE gated by HardSigmoid (MobileNetV3-Large)."""

    def __init__(self):
        super().__init__()
        self.expand, self.dw = cbn(8, 24, 1, act=nn.Hardswish), cbn(24, 24, 5, groups=24, act=nn.Hardswish)
        self.se, self.project = SqueezeExcite(24, 8, nn.ReLU, nn.Hardsigmoid), cbn(24, 8, 1, act=None)

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


class MBConv(nn.Module):
    """EfficientNet-B0 MBConv: SiLU everywhere, SE gated by Sigmoid, stride-2 depthwise."""

    def __init__(self):
        super().__init__()
        self.expand, self.dw = cbn(8, 32, 1, act=nn.SiLU), cbn(32, 32, 3, 2, groups=32, act=nn.SiLU)
        self.se, self.project = SqueezeExcite(32, 4, nn.SiLU, nn.Sigmoid), cbn(32, 16, 1, act=None)

    def forward(self, x):
        return self.project(self.se(self.dw(self.expand(x))))


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise, channels-last LayerNorm, MLP with GELU (Erf form), layer scale, residual; LayerNorm2d
    downsampling."""

    def __init__(self, c=8):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm, self.fc1, self.fc2 = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))
        self.down_norm, self.down = nn.LayerNorm(c), nn.Conv2d(c, 2 * c, 2, 2)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.fc2(F.gelu(self.fc1(self.norm(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.down(self.down_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


class RegNetXBlock(nn.Module):
    """RegNetX bottleneck: 1x1, 3x3 grouped (group width 8), 1x1, residual."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = cbn(16, 24, 1), cbn(24, 24, 3, groups=3), cbn(24, 16, 1, act=None)

    def forward(self, x):
        return F.relu(x + self.c(self.b(self.a(x))))


class GhostModule(nn.Module):
    """GhostNet: a primary 1x1 conv, a cheap depthwise conv on its output, concatenated and sliced."""

    def __init__(self, cin=8, oup=12):
        super().__init__()
        self.oup = oup
        self.primary, self.cheap = cbn(cin, 6, 1), cbn(6, 6, 3, groups=6)

    def forward(self, x):
        a = self.primary(x)
        return torch.cat([a, self.cheap(a)], 1)[:, :self.oup]


class ViTBlock(nn.Module):
    """ViT-Tiny style: patch embedding, class token, position embedding, one pre-norm encoder block, head."""

    def __init__(self, d=16, heads=2):
        super().__init__()
        self.heads = heads
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls, self.pos = nn.Parameter(torch.randn(1, 1, d) * 0.5), nn.Parameter(torch.randn(1, 17, d) * 0.1)
        self.n1, self.qkv, self.proj = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.n2, self.fc1, self.fc2 = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
        b, n, d = t.shape
        qkv = self.qkv(self.n1(t)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (d // self.heads) ** -0.5
        t = t + self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))
        t = t + self.fc2(F.gelu(self.fc1(self.n2(t))))
        return self.head(t[:, 0])


class C2f(nn.Module):
    def __init__(self, cin, cout, n=1):
        super().__init__()
        self.c = cout // 2
        self.cv1, self.cv2 = cbn(cin, 2 * self.c, 1, act=nn.SiLU), cbn((2 + n) * self.c, cout, 1, act=nn.SiLU)
        self.m = nn.ModuleList(nn.Sequential(cbn(self.c, self.c, act=nn.SiLU), cbn(self.c, self.c, act=nn.SiLU))
                               for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.extend(y[-1] + m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class YoloNeckHead(nn.Module):
    """YOLOv8-style: C2f backbone stages, SPPF (MaxPool 5, pads 2), top-down neck (Resize nearest, Concat, C2f),
    decoupled head, DFL (Softmax over 16 bins, 1x1 conv with weights 0..15) and the box decode with anchors and
    strides (dist2bbox, xywh), classes through Sigmoid."""

    def __init__(self, nc=3, reg_max=16):
        super().__init__()
        self.nc, self.reg_max = nc, reg_max
        self.stem, self.s1 = cbn(3, 8, 3, 2, act=nn.SiLU), nn.Sequential(cbn(8, 16, 3, 2, act=nn.SiLU), C2f(16, 16))
        self.s2 = nn.Sequential(cbn(16, 32, 3, 2, act=nn.SiLU), C2f(32, 32))
        self.sppf_a, self.sppf_b = cbn(32, 16, 1, act=nn.SiLU), cbn(64, 32, 1, act=nn.SiLU)
        self.up_c2f = C2f(48, 16)
        self.box = nn.ModuleList(nn.Sequential(cbn(c, 16, act=nn.SiLU), nn.Conv2d(16, 4 * reg_max, 1)) for c in (16, 32))
        self.cls = nn.ModuleList(nn.Sequential(cbn(c, 16, act=nn.SiLU), nn.Conv2d(16, nc, 1)) for c in (16, 32))
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1)

    def sppf(self, x):
        x = self.sppf_a(x)
        y1 = F.max_pool2d(x, 5, 1, 2)
        y2 = F.max_pool2d(y1, 5, 1, 2)
        return self.sppf_b(torch.cat([x, y1, y2, F.max_pool2d(y2, 5, 1, 2)], 1))

    def forward(self, x):
        p3 = self.s1(self.stem(x))
        p4 = self.sppf(self.s2(p3))
        p3 = self.up_c2f(torch.cat([F.interpolate(p4, scale_factor=2.0, mode="nearest"), p3], 1))
        feats, anchors, strides = [], [], []
        for k, (f, stride) in enumerate(((p3, 4), (p4, 8))):
            b, _, h, w = f.shape
            feats.append(torch.cat([self.box[k](f), self.cls[k](f)], 1).view(b, 4 * self.reg_max + self.nc, -1))
            sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            anchors.append(torch.stack([sx, sy], -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), float(stride)))
        out = torch.cat(feats, 2)
        anchor = torch.cat(anchors).transpose(0, 1).unsqueeze(0)
        stride = torch.cat(strides).transpose(0, 1)
        box, cls = out.split((4 * self.reg_max, self.nc), 1)
        b, _, a = box.shape
        dist = self.dfl(box.view(b, 4, self.reg_max, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchor - lt, anchor + rb
        boxes = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * stride
        return torch.cat([boxes, cls.sigmoid()], 1)


BLOCKS = {  # name: (module, input shape C x H x W)
    "resnet_stem": (ResNetStem, (3, 32, 32)),
    "mobilenetv3_block": (MobileNetV3Block, (8, 12, 12)),
    "efficientnet_mbconv": (MBConv, (8, 12, 12)),
    "convnext_block": (ConvNeXtBlock, (8, 12, 12)),
    "regnet_grouped": (RegNetXBlock, (16, 8, 8)),
    "ghost_module": (GhostModule, (8, 8, 8)),
    "vit_block": (ViTBlock, (3, 16, 16)),
    "yolo_neck_dfl_head": (YoloNeckHead, (3, 32, 32)),
}


def _perturb_batchnorm(model) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_family_block_matches_onnx_runtime(name, tmp_path):
    cls, shape = BLOCKS[name]
    torch.manual_seed(0)
    model = cls().eval()
    with torch.no_grad():
        _perturb_batchnorm(model)
    results = check_module(model, shape, tmp_path, name)
    assert not set(results["fp32"].ops) & {"CUSTOM", "FLEX"}
    tail = results["int8"].metadata["float_post_processing"]
    if name == "yolo_neck_dfl_head":  # the box decode and the class sigmoid after the last conv stay float
        assert any("Sigmoid" in n for n in tail) and any("Concat" in n for n in tail) and any("Sub" in n for n in tail)
