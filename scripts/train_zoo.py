"""Train the model zoo (jetsonkit/examples/zoo.py) on the real MNIST train split and save its weights.

    PYTHONPATH=. python scripts/train_zoo.py [--models resnet,vit] [--epochs N] [--limit N]

Deterministic per model (seed 0, one CPU thread): 2 epochs (vit 6, convnext 5), Adam, learning rate 3e-3
decaying linearly to 0, batch 128, light augmentation (random shifts of up to 2 pixels). The YOLO-style model
trains as a classifier (each class's score is its best anchor's logit) plus an L1 loss (weight 0.05, in pixels)
pulling each anchor's decoded box towards the digit's bounding box. Prints each model's FP32 top-1 on the 10k test
split and writes jetsonkit/examples/zoo_<name>.npz (about 5 minutes a model on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from jetsonkit.examples import mnist, zoo

SEED = 0
BOX_WEIGHT = 0.05
EPOCHS = {"vit": 6, "convnext": 5}  # LayerNorm models need more passes (2 epochs: vit 87.3 %, convnext 93.5 %)


def digit_boxes(x: torch.Tensor, pad: int, threshold: float) -> torch.Tensor:
    """cx, cy, w, h (pixels of the padded image) of the pixels above ``threshold`` in each image [N, 1, H, W]."""
    on = x[:, 0] > threshold
    rows, cols = on.any(2), on.any(1)
    idx = torch.arange(on.shape[1], dtype=torch.float32)

    def extent(mask):
        lo = torch.where(mask, idx, torch.tensor(1e9)).amin(1)
        hi = torch.where(mask, idx, torch.tensor(-1e9)).amax(1) + 1
        return lo, hi

    y0, y1 = extent(rows)
    x0, x1 = extent(cols)
    off = pad // 2
    return torch.stack(((x0 + x1) / 2 + off, (y0 + y1) / 2 + off, x1 - x0, y1 - y0), 1)


def shift(x: torch.Tensor, gen: torch.Generator, background: float) -> torch.Tensor:
    """Random translation of the batch by up to 2 pixels, filling with the background value."""
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
    out = torch.roll(x, (dy, dx), (2, 3))
    if dy > 0:
        out[:, :, :dy] = background
    elif dy < 0:
        out[:, :, dy:] = background
    if dx > 0:
        out[:, :, :, :dx] = background
    elif dx < 0:
        out[:, :, :, dx:] = background
    return out


def loss_for(name: str, model, x, y, background: float):
    out = model(x)
    if name != "yolo":
        return torch.nn.functional.cross_entropy(out, y)
    logits = torch.logit(out[:, 4:].clamp(1e-6, 1 - 1e-6)).amax(2)
    boxes = digit_boxes(x, model.pad, background + 0.5)
    box_loss = (out[:, :4] - boxes[:, :, None]).abs().mean()
    return torch.nn.functional.cross_entropy(logits, y) + BOX_WEIGHT * box_loss


def train(name: str, epochs: int, limit: int | None, batch: int = 128, lr: float = 3e-3) -> float:
    torch.manual_seed(SEED)
    x, y = mnist.load_split("train", limit=limit)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    background = float(x.min())
    model = zoo.build(name, pretrained=False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(x) // batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / steps))
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss_for(name, model, shift(x[idx], gen, background), y[idx], background).backward()
            opt.step()
            sched.step()
    model.eval()
    np.savez(zoo.weights_path(name), **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    return top1(name, model)


def top1(name: str, model) -> float:
    xt, yt = mnist.load_split("test")
    with torch.no_grad():
        out = torch.cat([model(torch.from_numpy(xt[i:i + 1000])) for i in range(0, len(xt), 1000)]).numpy()
    return float((zoo.class_scores(name, out).argmax(1) == yt).mean())


def main() -> None:
    torch.set_num_threads(1)  # tiny models: one thread is faster than contended ones, and the order is fixed
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo.NAMES))
    ap.add_argument("--epochs", type=int, default=None, help="epochs for every model (default 2; vit 6, convnext 5)")
    ap.add_argument("--limit", type=int, default=None, help="first N training images (default: all 50k)")
    args = ap.parse_args()
    for name in args.models.split(","):
        t0 = time.perf_counter()
        acc = train(name, args.epochs or EPOCHS.get(name, 2), args.limit)
        print(f"{name:13s} top-1 {100 * acc:.2f} %  ({time.perf_counter() - t0:.0f} s, "
              f"{zoo.weights_path(name).stat().st_size // 1024} kB)", flush=True)


if __name__ == "__main__":
    main()
