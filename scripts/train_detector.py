"""Train the bundled MNIST detector on CPU and write jetsonkit/examples/mnist_detector.npz.

    python scripts/train_detector.py [--train 6000] [--epochs 20] [--out PATH] [--threads 1]

Data: ``mnist_det.generate("train", N, seed=0)``; progress lines every epoch, with mAP on 300 held-back ``test``
images (seed 1; the README's figure uses the separate evaluation set, seed 0). AdamW, cosine learning rate, batch 64;
BatchNorm statistics come from the training batches.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetsonkit.detect import map_of_predictor  # noqa: E402
from jetsonkit.examples import detector, detector_loss, mnist_det  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", type=int, default=6000, help="training images")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=detector.WEIGHTS)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    data = mnist_det.generate("train", args.train, seed=args.seed)
    val = mnist_det.generate("test", 300, seed=1)
    x_all = torch.from_numpy(data.nchw())
    tb, tl = (torch.from_numpy(a) for a in detector_loss.build_targets(data.boxes, data.labels, mnist_det.SIZE))
    print(f"data: {len(data)} train / {len(val)} val images in {time.time() - t0:.0f} s", flush=True)

    model = detector.make_detector(seed=args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(data) / args.batch)
    total = steps_per_epoch * args.epochs
    warm = min(300, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm))))
    rng = np.random.default_rng(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(data))
        sums, t_epoch = {"box": 0.0, "cls": 0.0, "dfl": 0.0}, time.time()
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            loss, parts = detector_loss.detection_loss(model(x_all[idx]), tb[idx], tl[idx], mnist_det.NUM_CLASSES)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            for k in sums:
                sums[k] += parts[k] / steps_per_epoch
        line = " ".join(f"{k} {v:.3f}" for k, v in sums.items())
        if epoch % 4 == 0 or epoch == args.epochs:
            model.eval()
            with torch.no_grad():
                m = map_of_predictor(lambda x: model(torch.from_numpy(x)).numpy(), val)
            line += f" | val mAP@0.5 {m['map50']:.3f} mAP@0.5:0.95 {m['map']:.3f}"
        print(f"epoch {epoch}/{args.epochs} {line} ({time.time() - t_epoch:.0f} s)", flush=True)
    model.eval()
    detector.save_weights(model, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) after {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
