"""Small test models in plain torch, shared by every area's tests and benchmarks.

- :func:`conv_residual_net` — Conv/BN/ReLU stem, two residual blocks (one with a strided 1x1 projection),
  global pooling and a Linear head; input ``1x3x32x32``.
- :func:`attention_net` — patch embedding (Conv 4x4/4), two pre-norm transformer blocks written out as
  Linear/MatMul/Softmax (so Q/DQ placement sees plain MatMuls), mean pooling, Linear head; input ``1x3x32x32``.
- :func:`resnet50_like` — the ResNet-50 layout (He et al. 2016, "Deep Residual Learning", table 1: bottleneck
  blocks [3, 4, 6, 3], 1 + 48 + 1 = 50 weighted layers) at a configurable width (default 32 channels in the stem,
  half of ResNet-50's 64, to keep CPU benchmarks short); input ``1x3x224x224``.

Weights are random but deterministic (``torch.manual_seed(seed)``); BatchNorm statistics come from two random batches
and its affine parameters are random, so activations keep a realistic scale and BN folding sees non-trivial values. CLI specs:
``support.testnets:conv_residual_net`` etc., with the inputs in :data:`INPUTS`.
"""

from __future__ import annotations

from jetsonkit._deps import require

__all__ = ["conv_residual_net", "attention_net", "resnet50_like", "INPUTS", "TESTNETS", "build"]

INPUTS = {
    "conv_residual_net": "input:1x3x32x32:float32",
    "attention_net": "input:1x3x32x32:float32",
    "resnet50_like": "input:1x3x224x224:float32",
}


def _nn():
    return require("torch", purpose="the bundled test models").nn


def _randomize_batchnorm(model, torch, size: int) -> None:
    """Set BN statistics from two random-input batches (so activations keep a trained net's scale), then
    randomise the affine parameters."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, size, size))
        for m in bns:
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
    model.eval()


def _conv_bn(nn, cin: int, cout: int, k: int = 3, stride: int = 1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


def conv_residual_net(num_classes: int = 10, width: int = 16, seed: int = 0):
    """Conv + residual + Linear test net (about 50k parameters), eval mode."""
    torch = require("torch", purpose="the bundled test models")
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.conv1 = _conv_bn(nn, cin, cout, 3, stride)
            self.conv2 = _conv_bn(nn, cout, cout, 3, 1)
            self.shortcut = _conv_bn(nn, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.conv2(self.relu(self.conv1(x))) + self.shortcut(x))

    class ConvResidualNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*_conv_bn(nn, 3, width), nn.ReLU())
            self.block1 = BasicBlock(width, width, 1)
            self.block2 = BasicBlock(width, 2 * width, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(2 * width, num_classes)

        def forward(self, x):
            x = self.block2(self.block1(self.stem(x)))
            return self.head(torch.flatten(self.pool(x), 1))

    torch.manual_seed(seed)
    model = ConvResidualNet()
    _randomize_batchnorm(model, torch, 32)
    return model.eval()


def attention_net(num_classes: int = 10, dim: int = 64, heads: int = 4, depth: int = 2, seed: int = 0):
    """Small vision transformer: 64 tokens of ``dim`` from 4x4 patches of a 32x32 image, eval mode."""
    torch = require("torch", purpose="the bundled test models")
    nn = torch.nn

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads, self.scale = heads, (dim // heads) ** -0.5
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
            attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
            return self.proj(torch.matmul(attn, v).transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.attn = nn.LayerNorm(dim), Attention()
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class AttentionNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, dim, 4, 4)
            self.pos = nn.Parameter(torch.randn(1, 64, dim) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2) + self.pos
            return self.head(self.norm(self.blocks(x)).mean(dim=1))

    torch.manual_seed(seed)
    return AttentionNet().eval()


def resnet50_like(num_classes: int = 1000, width: int = 32, seed: int = 0):
    """ResNet-50 layout (bottlenecks [3, 4, 6, 3], 50 weighted layers) at stem width ``width``, eval mode."""
    torch = require("torch", purpose="the bundled test models")
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, mid: int, stride: int):
            super().__init__()
            cout = 4 * mid
            self.conv1, self.conv2 = _conv_bn(nn, cin, mid, 1), _conv_bn(nn, mid, mid, 3, stride)
            self.conv3 = _conv_bn(nn, mid, cout, 1)
            self.downsample = _conv_bn(nn, cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
            self.relu = nn.ReLU()

        def forward(self, x):
            y = self.relu(self.conv2(self.relu(self.conv1(x))))
            return self.relu(self.conv3(y) + self.downsample(x))

    class ResNet50Like(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*_conv_bn(nn, 3, width, 7, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            layers, cin = [], width
            for i, blocks in enumerate((3, 4, 6, 3)):
                mid = width * 2**i
                stage = [Bottleneck(cin if b == 0 else 4 * mid, mid, 2 if b == 0 and i > 0 else 1) for b in range(blocks)]
                layers.append(nn.Sequential(*stage))
                cin = 4 * mid
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
            return self.fc(torch.flatten(self.pool(x), 1))

    torch.manual_seed(seed)
    model = ResNet50Like()
    _randomize_batchnorm(model, torch, 224)
    return model.eval()


TESTNETS = {"conv_residual_net": conv_residual_net, "attention_net": attention_net, "resnet50_like": resnet50_like}


def build(name: str):
    """(model, example input tensor) for a test net by name."""
    torch = require("torch", purpose="the bundled test models")
    from jetsonkit.specs import parse_input_spec

    if name not in TESTNETS:
        raise KeyError(f"unknown test net {name!r}; choose one of {', '.join(TESTNETS)}")
    spec = parse_input_spec(INPUTS[name])
    return TESTNETS[name](), torch.from_numpy(spec.example(seed=0))
