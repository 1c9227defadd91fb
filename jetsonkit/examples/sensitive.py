"""A small MNIST CNN with one genuinely INT8-sensitive layer, for the sensitivity search and QAT.

The network (14.6 k parameters, trained on the real MNIST train split, seed 0, weights shipped beside this file as
``sensitive_mnist.npz``, about 60 kB)::

    conv1 1->8 k5 s2, ReLU -> conv2 8->16 k3 s2, ReLU -> flatten 400 -> fc1 400->32, ReLU -> fc2 32->10

Then a few of fc1's output units are given large activations by a function-preserving rescaling: row j of fc1
(and its bias) times ``s_j`` > 0, column j of fc2 divided by ``s_j``. ReLU commutes with a positive scale, so the
FP32 function is unchanged, but fc2's input now has outlier channels, the pattern that breaks per-tensor INT8
activations (Dettmers et al. 2022, "LLM.int8()": a few outlier features dominate the range). With one scale for
the whole tensor either the outliers are clipped or every other channel loses its resolution; keeping fc2 out of
INT8 removes the problem, and nothing else needs to change. CLI spec: ``jetsonkit.examples.sensitive:build_model``
with input ``input:1x1x28x28:float32`` (normalised like :mod:`.mnist`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._deps import require

WEIGHTS = Path(__file__).with_name("sensitive_mnist.npz")
OUTLIER_UNITS = (0, 5, 11, 19)
OUTLIER_SCALES = (60.0, 120.0, 250.0, 500.0)
SEED = 0


def _module():
    torch = require("torch", purpose="the sensitive MNIST example")
    nn = torch.nn

    class SensitiveNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 5, stride=2)
            self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
            self.fc1 = nn.Linear(400, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    return SensitiveNet()


def add_outliers(model, units=OUTLIER_UNITS, scales=OUTLIER_SCALES):
    """Rescale fc1 units ``units`` by ``scales`` and fc2's matching inputs by the inverse (FP32 output unchanged)."""
    torch = require("torch")
    with torch.no_grad():
        for j, s in zip(units, scales):
            model.fc1.weight[j] *= s
            model.fc1.bias[j] *= s
            model.fc2.weight[:, j] /= s
    return model


def build_model(outliers: bool = True):
    """The trained network in eval mode, with the outlier rescaling unless ``outliers=False``."""
    torch = require("torch")
    model = _module()
    with np.load(WEIGHTS, allow_pickle=False) as f:
        model.load_state_dict({k: torch.from_numpy(f[k].copy()) for k in f.files})
    return (add_outliers(model) if outliers else model).eval()


def train(epochs: int = 2, out: str | Path = WEIGHTS, limit: int | None = None) -> Path:
    """Retrain the weights deterministically on MNIST train (about a minute on 2 cores) and save them."""
    torch = require("torch")
    from . import mnist

    torch.manual_seed(SEED)
    x, y = mnist.load_split("train", limit=limit)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = _module()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    np.savez(out, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    return Path(out)


if __name__ == "__main__":  # python -m jetsonkit.examples.sensitive: regenerate the shipped weights
    print(train())
