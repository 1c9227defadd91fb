"""A small YOLO-style detector for :mod:`jetsonkit.examples.mnist_det` (about 0.2 M parameters), in plain torch.

Layout after YOLOv8 (Ultralytics, ``ultralytics/nn/modules/block.py`` C2f and ``head.py`` Detect; Jocher et al.
2023): Conv = Conv2d + BatchNorm + SiLU; C2f = 1x1 conv split into two halves, ``n`` bottlenecks chained on the
second half, all partial outputs concatenated, 1x1 conv. Backbone strides 2-4-8-16, a PAN neck (nearest upsample x2
+ concat, strided conv + concat) and a decoupled head per level (box branch: ``4 * REG_MAX`` DFL logits; class
branch: ``NUM_CLASSES`` logits).

Decode is part of the graph in eval mode (as in YOLOv8's export): DFL (Li et al. 2020, "Generalized Focal Loss")
turns each side's ``REG_MAX`` logits into a distance with a softmax expectation over bins 0..REG_MAX-1 (in stride
units); boxes are ``anchor -/+ distance`` around the grid-cell centres ``(i + 0.5) * stride``, returned as centre x,
centre y, width, height in input pixels; class scores are sigmoids. The output ``output0`` is
``[batch, 4 + NUM_CLASSES, anchors]``, the YOLOv8 export layout, so every YOLOv8-style ONNX export is read the same
way (:mod:`jetsonkit.detect`). In train mode ``forward`` returns the raw per-level maps for the loss.

CLI spec: ``jetsonkit.examples.detector:build_model`` with input ``images:1x3x96x96:float32`` (RGB in [0, 1]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._deps import require
from ..errors import ModelLoadError
from .mnist_det import NUM_CLASSES, SIZE

__all__ = ["build_model", "make_detector", "weights_path", "REG_MAX", "STRIDES", "INPUT_NAME", "OUTPUT_NAME",
           "INPUT_SPEC"]

REG_MAX = 8  # DFL bins per box side (0..7 strides)
STRIDES = (8, 16)
WIDTHS = (8, 16, 32, 48)  # channels at strides 2, 4, 8, 16
HEAD_WIDTH = 24
INPUT_NAME, OUTPUT_NAME = "images", "output0"
INPUT_SPEC = f"{INPUT_NAME}:1x3x{SIZE}x{SIZE}:float32"
WEIGHTS = Path(__file__).with_name("mnist_detector.npz")


def make_detector(num_classes: int = NUM_CLASSES, seed: int = 0):
    """The detector with fresh (seeded) weights, in train mode."""
    torch = require("torch", purpose="the bundled detector")
    nn = torch.nn

    class Conv(nn.Module):
        def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
            self.bn = nn.BatchNorm2d(cout)
            self.act = nn.SiLU()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

    class Bottleneck(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)

        def forward(self, x):
            return x + self.cv2(self.cv1(x))

    class C2f(nn.Module):
        def __init__(self, cin: int, cout: int, n: int = 1):
            super().__init__()
            self.c = cout // 2
            self.cv1 = Conv(cin, 2 * self.c)
            self.cv2 = Conv((2 + n) * self.c, cout)
            self.m = nn.ModuleList(Bottleneck(self.c) for _ in range(n))

        def forward(self, x):
            y = list(self.cv1(x).chunk(2, 1))
            y.extend(m(y[-1]) for m in self.m)
            return self.cv2(torch.cat(y, 1))

    class DFL(nn.Module):
        """Softmax expectation over REG_MAX bins, as a fixed 1x1 conv with weights 0..REG_MAX-1 (YOLOv8's DFL)."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
            self.conv.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float32).view(1, REG_MAX, 1, 1)

        def forward(self, x):  # [B, 4 * REG_MAX, A] -> [B, 4, A]
            b, _, a = x.shape
            return self.conv(x.view(b, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(b, 4, a)

    class Detect(nn.Module):
        def __init__(self, channels: tuple[int, ...]):
            super().__init__()
            self.nc = num_classes
            self.box = nn.ModuleList(nn.Sequential(Conv(c, HEAD_WIDTH, 3), Conv(HEAD_WIDTH, HEAD_WIDTH, 3),
                                                   nn.Conv2d(HEAD_WIDTH, 4 * REG_MAX, 1)) for c in channels)
            self.cls = nn.ModuleList(nn.Sequential(Conv(c, HEAD_WIDTH, 3), Conv(HEAD_WIDTH, HEAD_WIDTH, 3),
                                                   nn.Conv2d(HEAD_WIDTH, num_classes, 1)) for c in channels)
            self.dfl = DFL()

        def forward(self, feats):
            maps = [torch.cat((b(f), c(f)), 1) for f, b, c in zip(feats, self.box, self.cls)]
            if self.training:
                return maps
            return self.decode(maps)

        def decode(self, maps):
            b = maps[0].shape[0]
            flat = torch.cat([m.view(b, 4 * REG_MAX + self.nc, -1) for m in maps], 2)
            box, cls = flat.split((4 * REG_MAX, self.nc), 1)
            anchors, strides = anchor_grid(torch, maps)
            dist = self.dfl(box)
            lt, rb = dist.chunk(2, 1)
            x1y1, x2y2 = anchors - lt, anchors + rb
            xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
            return torch.cat((xywh, cls.sigmoid()), 1)

    class Detector(nn.Module):
        def __init__(self):
            super().__init__()
            w1, w2, w3, w4 = WIDTHS
            self.stem = Conv(3, w1, 3, 2)
            self.stage2 = nn.Sequential(Conv(w1, w2, 3, 2), C2f(w2, w2))
            self.stage3 = nn.Sequential(Conv(w2, w3, 3, 2), C2f(w3, w3))
            self.stage4 = nn.Sequential(Conv(w3, w4, 3, 2), C2f(w4, w4))
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.top_down = C2f(w4 + w3, w3)
            self.down = Conv(w3, w3, 3, 2)
            self.bottom_up = C2f(w3 + w4, w4)
            self.head = Detect((w3, w4))

        def forward(self, x):
            p3 = self.stage3(self.stage2(self.stem(x)))
            p4 = self.stage4(p3)
            n3 = self.top_down(torch.cat((self.up(p4), p3), 1))
            n4 = self.bottom_up(torch.cat((self.down(n3), p4), 1))
            return self.head([n3, n4])

    torch.manual_seed(seed)
    model = Detector()
    for seq in model.head.cls:  # class-logit bias for a 1 % prior (Lin et al. 2017, "Focal Loss", section 4.1)
        seq[-1].bias.data.fill_(float(np.log(0.01 / 0.99)))
    return model


def anchor_grid(torch, maps):
    """Grid-cell centres ``[1, 2, A]`` (in stride units) and strides ``[1, 1, A]`` for the per-level maps."""
    points, strides = [], []
    for m, stride in zip(maps, STRIDES):
        h, w = m.shape[2], m.shape[3]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5,
                                torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij")
        points.append(torch.stack((sx, sy), 0).view(2, -1))
        strides.append(torch.full((1, h * w), float(stride)))
    return torch.cat(points, 1).unsqueeze(0), torch.cat(strides, 1).unsqueeze(0)


def weights_path() -> Path:
    if not WEIGHTS.is_file():
        raise ModelLoadError(f"detector weights not found at {WEIGHTS}",
                             hint="train them with: python scripts/train_detector.py")
    return WEIGHTS


def load_weights(model, path: str | Path) -> None:
    """Load an ``.npz`` written by :func:`save_weights` (float16 arrays, BatchNorm statistics in float32)."""
    torch = require("torch", purpose="the bundled detector")
    with np.load(path, allow_pickle=False) as f:
        state = {k: torch.from_numpy(f[k].astype(np.float32) if f[k].dtype.kind == "f" else f[k]) for k in f.files}
    model.load_state_dict(state)


def save_weights(model, path: str | Path) -> Path:
    """Write the state dict as a compressed ``.npz`` (weights float16: half the size; mAP on 300 held-back images unchanged at three decimals)."""
    from .._io import atomic_path

    arrays = {}
    for k, v in model.state_dict().items():
        a = v.detach().cpu().numpy()
        keep32 = "running_" in k or a.dtype.kind != "f"
        arrays[k] = a if keep32 else a.astype(np.float16)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return Path(path)


def build_model():
    """The trained detector in eval mode (its eval-mode output: ``output0`` with the decode in the graph)."""
    model = make_detector()
    load_weights(model, weights_path())
    return model.eval()


def example_input():
    """A zero batch of one ``[1, 3, SIZE, SIZE]`` image (export's example input)."""
    return np.zeros((1, 3, SIZE, SIZE), np.float32)
