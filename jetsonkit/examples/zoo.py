"""A model zoo the project owns: small but faithful re-implementations of the families people deploy on the edge.

Each family keeps the operators and block structure of its public definition, at MNIST scale (input
``1x1x28x28``, normalised like :mod:`.mnist`; the YOLO-style model pads it to 32x32 inside the graph so its
strides (8, 16) divide the input), and is trained for real on the MNIST train split (``scripts/train_zoo.py``; weights
beside this file as ``zoo_<name>.npz``, 68-293 kB each), so INT8 deltas are measured on real top-1:

- ``resnet`` — He et al. 2016: Conv/BN/ReLU stem with a padded MaxPool (3, stride 2, pad 1), basic blocks with a
  strided 1x1 projection shortcut, global average pooling, Linear.
- ``mobilenetv3`` — Howard et al. 2019: inverted residuals (1x1 expand, k x k depthwise, squeeze-and-excite with
  Hardsigmoid, 1x1 project), ReLU in early blocks and HardSwish later, HardSwish stem and head.
- ``efficientnet`` — Tan & Le 2019: MBConv (expand, depthwise, SE with SiLU/Sigmoid, project), SiLU everywhere.
- ``convnext`` — Liu et al. 2022: patchify stem + channels-first LayerNorm (permute / LayerNorm / permute),
  blocks of 7x7 depthwise conv, LayerNorm, Linear 4x expansion, GELU, Linear, layer scale, residual; LayerNorm +
  strided 2x2 conv downsampling; pooled LayerNorm head.
- ``regnet`` — Radosavovic et al. 2020 (RegNetX): X blocks of 1x1, 3x3 grouped conv (group width 8), 1x1, with
  projection shortcuts.
- ``ghostnet`` — Han et al. 2020: Ghost modules (primary 1x1 conv, cheap depthwise 3x3, concat, slice to the
  output width), ghost bottlenecks with SE (hard sigmoid) and strided depthwise convs.
- ``vit`` — Dosovitskiy et al. 2021: 4x4 patch embedding, class token, position embedding, pre-norm encoder blocks
  with multi-head self-attention written out (qkv Linear, Q K^T scaled, Softmax, attention x V, projection) and a GELU
  MLP, final LayerNorm, class-token head.
- ``yolo`` — the YOLOv8 layout: Conv/BN/SiLU, C2f blocks (split, bottlenecks, concat), SPPF, an FPN/PAN neck with
  nearest upsample + concat, a decoupled head (box branch to 4 x ``reg_max`` distance bins, class branch), DFL
  (softmax over the bins, a fixed 1x1 conv with weights 0..reg_max-1) and the box decode (anchor points minus/plus
  distances, xywh, times the stride), concatenated with the sigmoid class scores into ``[N, 4 + 10, anchors]``.
  Trained as a classifier (a class's score is its best anchor's) plus an L1 loss pulling every anchor's decoded box
  towards the digit's bounding box, so the DFL bins and the decode carry real values. Top-1 comes from
  :func:`class_scores`.

Every builder takes ``in_ch``, ``num_classes``, ``width`` (channel multiplier) and, where the graph depends on it,
``size``; :func:`build_full` gives random-weight full-resolution variants (3x224x224, 1000 classes, wider) for
coverage of real shapes. CLI specs: ``jetsonkit.examples.zoo:<name>`` with input ``input:1x1x28x28:float32``
(:data:`INPUTS`), or ``jetsonkit.examples.zoo:<name>_full`` with ``input:1x3x224x224:float32``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._deps import require

__all__ = ["NAMES", "INPUTS", "FULL_INPUTS", "build", "build_full", "class_scores", "weights_path"]

NAMES = ("resnet", "mobilenetv3", "efficientnet", "convnext", "regnet", "ghostnet", "vit", "yolo")
INPUTS = {name: "input:1x1x28x28:float32" for name in NAMES}
FULL_INPUTS = {name: "input:1x3x224x224:float32" for name in NAMES}
_HERE = Path(__file__).parent


def weights_path(name: str) -> Path:
    return _HERE / f"zoo_{name}.npz"


def _torch():
    return require("torch", purpose="the model zoo")


def _ch(c: int, width: float) -> int:
    """Channels scaled by ``width``, rounded to a multiple of 8 (at least 8), as MobileNet's make_divisible."""
    return max(8, int(c * width + 4) // 8 * 8)


# ---------------------------------------------------------------- shared pieces


def _conv_bn(nn, cin, cout, k=3, stride=1, groups=1, act=None):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, act) if act is not None else nn.Sequential(*layers)


def _squeeze_excite(nn, ch, reduced, act, gate):
    class SqueezeExcite(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.reduce, self.act = nn.Conv2d(ch, reduced, 1), act
            self.expand, self.gate = nn.Conv2d(reduced, ch, 1), gate

        def forward(self, x):
            return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))

    return SqueezeExcite()


# ---------------------------------------------------------------- ResNet


def resnet(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """ResNet basic-block net: stem conv + padded MaxPool, blocks [16, 32] (ResNet-18 uses [64, 128, 256, 512])."""
    torch = _torch()
    nn = torch.nn
    c1, c2 = _ch(16, width), _ch(32, width)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = _conv_bn(nn, cin, cout, 3, stride, act=nn.ReLU())
            self.conv2 = _conv_bn(nn, cout, cout, 3, 1)
            self.shortcut = _conv_bn(nn, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*_conv_bn(nn, in_ch, c1, 3, 1), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            self.layer1 = BasicBlock(c1, c1, 1)
            self.layer2 = BasicBlock(c1, c2, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c2, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.layer2(self.layer1(self.stem(x)))), 1))

    return _finish("resnet", ResNet(), pretrained)


# ---------------------------------------------------------------- MobileNetV3


def mobilenetv3(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """MobileNetV3 blocks: (kernel, expansion, out, SE, activation, stride) as in the paper's table 1."""
    torch = _torch()
    nn = torch.nn
    cfg = [(3, 32, 16, True, "relu", 1), (5, 48, 24, True, "hswish", 2), (5, 64, 24, True, "hswish", 1)]

    def act(kind):
        return nn.ReLU() if kind == "relu" else nn.Hardswish()

    class InvertedResidual(nn.Module):
        def __init__(self, cin, k, exp, cout, se, kind, stride):
            super().__init__()
            layers = [] if exp == cin else [_conv_bn(nn, cin, exp, 1, act=act(kind))]
            layers.append(_conv_bn(nn, exp, exp, k, stride, groups=exp, act=act(kind)))
            if se:
                layers.append(_squeeze_excite(nn, exp, _ch(exp // 4, 1.0), nn.ReLU(), nn.Hardsigmoid()))
            layers.append(_conv_bn(nn, exp, cout, 1))
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            return x + y if self.residual else y

    class MobileNetV3(nn.Module):
        def __init__(self):
            super().__init__()
            cin = _ch(16, width)
            self.stem = _conv_bn(nn, in_ch, cin, 3, 2, act=nn.Hardswish())
            blocks = []
            for k, exp, cout, se, kind, stride in cfg:
                blocks.append(InvertedResidual(cin, k, _ch(exp, width), _ch(cout, width), se, kind, stride))
                cin = _ch(cout, width)
            self.blocks = nn.Sequential(*blocks)
            last = _ch(64, width)
            self.head_conv = _conv_bn(nn, cin, last, 1, act=nn.Hardswish())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(last, last), nn.Hardswish(), nn.Linear(last, num_classes))

        def forward(self, x):
            x = self.pool(self.head_conv(self.blocks(self.stem(x))))
            return self.classifier(torch.flatten(x, 1))

    return _finish("mobilenetv3", MobileNetV3(), pretrained)


# ---------------------------------------------------------------- EfficientNet


def efficientnet(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """EfficientNet MBConv stages (expansion, kernel, out, stride): SiLU, SE ratio 0.25 of the block input."""
    torch = _torch()
    nn = torch.nn
    cfg = [(1, 3, 16, 1), (4, 3, 24, 2), (4, 5, 24, 1)]

    class MBConv(nn.Module):
        def __init__(self, cin, expand, k, cout, stride):
            super().__init__()
            mid = cin * expand
            layers = [] if expand == 1 else [_conv_bn(nn, cin, mid, 1, act=nn.SiLU())]
            layers += [_conv_bn(nn, mid, mid, k, stride, groups=mid, act=nn.SiLU()),
                       _squeeze_excite(nn, mid, max(1, cin // 4), nn.SiLU(), nn.Sigmoid()),
                       _conv_bn(nn, mid, cout, 1)]
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.block(x)
            return x + y if self.residual else y

    class EfficientNet(nn.Module):
        def __init__(self):
            super().__init__()
            cin = _ch(16, width)
            self.stem = _conv_bn(nn, in_ch, cin, 3, 2, act=nn.SiLU())
            blocks = []
            for expand, k, cout, stride in cfg:
                blocks.append(MBConv(cin, expand, k, _ch(cout, width), stride))
                cin = _ch(cout, width)
            self.blocks = nn.Sequential(*blocks)
            last = _ch(64, width)
            self.head = _conv_bn(nn, cin, last, 1, act=nn.SiLU())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(last, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.head(self.blocks(self.stem(x)))), 1))

    return _finish("efficientnet", EfficientNet(), pretrained)


# ---------------------------------------------------------------- ConvNeXt


def convnext(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """ConvNeXt: patchify stem (2x2 here, 4x4 in the paper), stages [16, 32] of one block each."""
    torch = _torch()
    nn = torch.nn
    dims = (_ch(16, width), _ch(32, width))

    class LayerNorm2d(nn.LayerNorm):
        """LayerNorm over channels of an NCHW tensor, as ConvNeXt's channels_first LayerNorm (permute in and out)."""

        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
            self.gamma = nn.Parameter(torch.full((dim,), 0.1))

        def forward(self, x):
            y = self.dwconv(x).permute(0, 2, 3, 1)
            y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
            return x + y.permute(0, 3, 1, 2)

    class ConvNeXt(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(in_ch, dims[0], 2, 2), LayerNorm2d(dims[0], eps=1e-6))
            self.stage1 = Block(dims[0])
            self.down = nn.Sequential(LayerNorm2d(dims[0], eps=1e-6), nn.Conv2d(dims[0], dims[1], 2, 2))
            self.stage2 = Block(dims[1])
            self.norm = nn.LayerNorm(dims[1], eps=1e-6)
            self.head = nn.Linear(dims[1], num_classes)

        def forward(self, x):
            x = self.stage2(self.down(self.stage1(self.stem(x))))
            return self.head(self.norm(x.mean((2, 3))))

    return _finish("convnext", ConvNeXt(), pretrained)


# ---------------------------------------------------------------- RegNet


def regnet(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """RegNetX: stem, stages of X blocks (1x1, 3x3 grouped conv with group width 8, 1x1) of widths [24, 48]."""
    torch = _torch()
    nn = torch.nn
    group_width = 8

    class XBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a = _conv_bn(nn, cin, cout, 1, act=nn.ReLU())
            self.b = _conv_bn(nn, cout, cout, 3, stride, groups=cout // group_width, act=nn.ReLU())
            self.c = _conv_bn(nn, cout, cout, 1)
            self.proj = _conv_bn(nn, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.c(self.b(self.a(x))) + self.proj(x))

    class RegNet(nn.Module):
        def __init__(self):
            super().__init__()
            c0, c1, c2 = _ch(16, width), _ch(24, width), _ch(48, width)
            self.stem = _conv_bn(nn, in_ch, c0, 3, 2, act=nn.ReLU())
            self.s1 = nn.Sequential(XBlock(c0, c1, 1), XBlock(c1, c1, 1))
            self.s2 = XBlock(c1, c2, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c2, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.s2(self.s1(self.stem(x)))), 1))

    return _finish("regnet", RegNet(), pretrained)


# ---------------------------------------------------------------- GhostNet


def ghostnet(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True):
    """GhostNet: ghost bottlenecks (mid, out, SE, stride)."""
    torch = _torch()
    nn = torch.nn
    cfg = [(24, 16, False, 1), (48, 24, True, 2), (72, 24, True, 1)]

    def hard_sigmoid(x):
        return torch.nn.functional.relu6(x + 3.0) / 6.0

    class HardSigmoid(nn.Module):
        def forward(self, x):
            return hard_sigmoid(x)

    class GhostModule(nn.Module):
        def __init__(self, cin, cout, relu):
            super().__init__()
            self.cout, init = cout, (cout + 1) // 2
            act = nn.ReLU() if relu else None
            self.primary = _conv_bn(nn, cin, init, 1, act=act)
            self.cheap = _conv_bn(nn, init, init, 3, groups=init, act=act)

        def forward(self, x):
            y = self.primary(x)
            return torch.cat([y, self.cheap(y)], dim=1)[:, :self.cout]

    class GhostBottleneck(nn.Module):
        def __init__(self, cin, mid, cout, se, stride):
            super().__init__()
            layers = [GhostModule(cin, mid, True)]
            if stride > 1:
                layers.append(_conv_bn(nn, mid, mid, 3, stride, groups=mid))
            if se:
                layers.append(_squeeze_excite(nn, mid, _ch(mid // 4, 1.0), nn.ReLU(), HardSigmoid()))
            layers.append(GhostModule(mid, cout, False))
            self.ghost = nn.Sequential(*layers)
            self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                _conv_bn(nn, cin, cin, 3, stride, groups=cin), _conv_bn(nn, cin, cout, 1))

        def forward(self, x):
            return self.ghost(x) + self.shortcut(x)

    class GhostNet(nn.Module):
        def __init__(self):
            super().__init__()
            cin = _ch(16, width)
            self.stem = _conv_bn(nn, in_ch, cin, 3, 2, act=nn.ReLU())
            blocks = []
            for mid, cout, se, stride in cfg:
                blocks.append(GhostBottleneck(cin, _ch(mid, width), _ch(cout, width), se, stride))
                cin = _ch(cout, width)
            self.blocks = nn.Sequential(*blocks)
            last = _ch(64, width)
            self.head = _conv_bn(nn, cin, last, 1, act=nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(last, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.head(self.blocks(self.stem(x)))), 1))

    return _finish("ghostnet", GhostNet(), pretrained)


# ---------------------------------------------------------------- ViT


def vit(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True, size: int = 28,
        patch: int = 4, depth: int = 2, heads: int = 2):
    """ViT encoder: patch embedding, class token, pre-norm blocks (MHA + GELU MLP ratio 2), class-token head."""
    torch = _torch()
    nn = torch.nn
    dim = _ch(32, width)
    tokens = (size // patch) ** 2 + 1

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
            return self.proj(torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention()
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = nn.Conv2d(in_ch, dim, patch, patch)
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
            return self.head(self.norm(self.blocks(x))[:, 0])

    return _finish("vit", ViT(), pretrained)


# ---------------------------------------------------------------- YOLO-style


def yolo(in_ch: int = 1, num_classes: int = 10, width: float = 1.0, pretrained: bool = True, size: int = 28,
         reg_max: int = 4):
    """YOLOv8-style detector: C2f backbone + SPPF, FPN/PAN neck, decoupled head with DFL and box decode.

    Output ``[N, 4 + num_classes, anchors]``: decoded boxes (cx, cy, w, h in input pixels of the padded image) and
    sigmoid class scores, as YOLOv8's exported ``output0``. Strides 8 and 16 (two levels, for a 32x32 input).
    """
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional
    padded = -(-size // 32) * 32
    pad = padded - size
    c1, c2, c3 = _ch(8, width), _ch(16, width), _ch(32, width)
    strides = (8, 16)

    def conv(cin, cout, k=3, s=1):
        return _conv_bn(nn, cin, cout, k, s, act=nn.SiLU())

    class Bottleneck(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.cv1, self.cv2 = conv(c, c, 3), conv(c, c, 3)

        def forward(self, x):
            return x + self.cv2(self.cv1(x))

    class C2f(nn.Module):
        def __init__(self, cin, cout, shortcut=True):
            super().__init__()
            self.c = cout // 2
            self.cv1 = conv(cin, 2 * self.c, 1)
            self.m = Bottleneck(self.c) if shortcut else nn.Sequential(conv(self.c, self.c), conv(self.c, self.c))
            self.cv2 = conv(3 * self.c, cout, 1)

        def forward(self, x):
            a, b = self.cv1(x).chunk(2, 1)
            return self.cv2(torch.cat([a, b, self.m(b)], 1))

    class SPPF(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.cv1, self.cv2 = conv(c, c // 2, 1), conv(c // 2 * 4, c, 1)
            self.m = nn.MaxPool2d(5, 1, 2)

        def forward(self, x):
            y = [self.cv1(x)]
            for _ in range(3):
                y.append(self.m(y[-1]))
            return self.cv2(torch.cat(y, 1))

    class DFL(nn.Module):
        """Distribution focal loss integral: softmax over ``reg_max`` bins, expectation by a fixed 1x1 conv."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
            self.conv.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)

        def forward(self, x):
            b, _, a = x.shape
            return self.conv(x.view(b, 4, reg_max, a).transpose(2, 1).softmax(1)).view(b, 4, a)

    def anchors_for(shapes):
        points, stride_rows = [], []
        for (h, w), s in zip(shapes, strides):
            sy, sx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
            points.append(torch.stack((sx, sy), -1).view(-1, 2))
            stride_rows.append(torch.full((h * w, 1), float(s)))
        return torch.cat(points).T.unsqueeze(0), torch.cat(stride_rows).T

    class Detect(nn.Module):
        def __init__(self, chs):
            super().__init__()
            cb, cc = max(16, chs[0] // 4, 4 * reg_max), max(chs[0], num_classes)
            self.box = nn.ModuleList(nn.Sequential(conv(c, cb), conv(cb, cb), nn.Conv2d(cb, 4 * reg_max, 1))
                                     for c in chs)
            self.cls = nn.ModuleList(nn.Sequential(conv(c, cc), conv(cc, cc), nn.Conv2d(cc, num_classes, 1))
                                     for c in chs)
            self.dfl = DFL()
            shapes = [(padded // s, padded // s) for s in strides]
            anchor_points, stride_tensor = anchors_for(shapes)
            self.register_buffer("anchor_points", anchor_points, persistent=False)
            self.register_buffer("stride_tensor", stride_tensor, persistent=False)

        def forward(self, feats):
            b = feats[0].shape[0]
            box = torch.cat([m(f).view(b, 4 * reg_max, -1) for m, f in zip(self.box, feats)], 2)
            cls = torch.cat([m(f).view(b, num_classes, -1) for m, f in zip(self.cls, feats)], 2)
            lt, rb = self.dfl(box).chunk(2, 1)
            x1y1, x2y2 = self.anchor_points - lt, self.anchor_points + rb
            xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.stride_tensor
            return torch.cat((xywh, cls.sigmoid()), 1)

    class YOLO(nn.Module):
        def __init__(self):
            super().__init__()
            self.pad = pad
            self.b0 = conv(in_ch, c1, 3, 2)                        # /2
            self.b1 = nn.Sequential(conv(c1, c2, 3, 2), C2f(c2, c2))  # /4
            self.b2 = nn.Sequential(conv(c2, c2, 3, 2), C2f(c2, c2))  # /8  -> P3
            self.b3 = nn.Sequential(conv(c2, c3, 3, 2), C2f(c3, c3), SPPF(c3))  # /16 -> P4
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.n1 = C2f(c3 + c2, c2, shortcut=False)             # P3 out
            self.down = conv(c2, c2, 3, 2)
            self.n2 = C2f(c2 + c3, c3, shortcut=False)             # P4 out
            self.detect = Detect((c2, c3))

        def forward(self, x):
            if self.pad:
                x = F.pad(x, (self.pad // 2, self.pad - self.pad // 2, self.pad // 2, self.pad - self.pad // 2))
            p3 = self.b2(self.b1(self.b0(x)))
            p4 = self.b3(p3)
            n3 = self.n1(torch.cat([self.up(p4), p3], 1))
            n4 = self.n2(torch.cat([self.down(n3), p4], 1))
            return self.detect([n3, n4])

    return _finish("yolo", YOLO(), pretrained)


def class_scores(name: str, output: np.ndarray) -> np.ndarray:
    """Per-class scores ``[N, classes]`` from a zoo model's output: the logits, or for ``yolo`` each class's best
    anchor score (rows 4: of ``[N, 4 + classes, anchors]``)."""
    output = np.asarray(output)
    return output[:, 4:, :].max(axis=2) if name == "yolo" else output


# ---------------------------------------------------------------- registry, weights, full-size variants


_BUILDERS = {"resnet": resnet, "mobilenetv3": mobilenetv3, "efficientnet": efficientnet, "convnext": convnext,
             "regnet": regnet, "ghostnet": ghostnet, "vit": vit, "yolo": yolo}


def _finish(name, model, pretrained: bool):
    if pretrained:
        path = weights_path(name)
        if not path.is_file():
            from ..errors import MissingDependencyError

            raise MissingDependencyError(f"zoo weights {path} are missing",
                                         hint="run scripts/train_zoo.py, or build with pretrained=False")
        torch = _torch()
        with np.load(path, allow_pickle=False) as f:
            state = {k: torch.from_numpy(f[k].copy()) for k in f.files}
        model.load_state_dict(state)
    return model.eval()


def build(name: str, pretrained: bool = True, **kwargs):
    """A zoo model by name (trained MNIST weights unless ``pretrained=False``), eval mode."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown zoo model {name!r}; choose one of {', '.join(NAMES)}")
    return _BUILDERS[name](pretrained=pretrained, **kwargs)


def build_full(name: str, seed: int = 0):
    """Random-weight full-resolution variant: 3x224x224 input, 1000 classes, 4x the channels (ViT: patch 16)."""
    torch = _torch()
    torch.manual_seed(seed)
    extra = {"size": 224} if name in ("vit", "yolo") else {}
    if name == "vit":
        extra["patch"] = 16
    return build(name, pretrained=False, in_ch=3, num_classes=1000, width=4.0, **extra)


def _full_factory(name):
    def factory():
        return build_full(name)

    factory.__name__ = f"{name}_full"
    factory.__doc__ = f"{name} at full resolution (3x224x224, 1000 classes, random weights)."
    return factory


resnet_full, mobilenetv3_full, efficientnet_full, convnext_full, regnet_full, ghostnet_full, vit_full, yolo_full = (
    _full_factory(n) for n in NAMES)
