"""QAT side by side on the INT8-sensitive MNIST CNN: jetsonkit QAT (fixed / learned scales) vs PyTorch's own QAT.

Rows, all on the real MNIST test split (10k; 2k with --quick), same training images, batch size, optimizer
(Adam, linear decay to 0) and learning rate:

- FP32 and post-training INT8 (`jetsonkit quantize`, every layer INT8, entropy table) in ONNX Runtime;
- jetsonkit QAT, fixed scales from the table / learned log2 scales, measured on the exported Q/DQ ONNX in ONNX
  Runtime (the file TensorRT builds);
- the peer: torch.ao FX-graph QAT (at the same learning rate, and at 1e-4) with the x86 qconfig (moving-average
  min/max observers, uint8 affine activations, per-channel int8 weights), measured on the converted int8 torch
  model (its fbgemm/x86 kernels).

    python scripts/bench/qat.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def train_loop(torch, model, loader, lr: float) -> tuple[float, int]:
    """The peer's loop: the same Adam + linear decay jetsonkit.qat.finetune uses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total))
    start, steps = time.perf_counter(), 0
    model.train()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        steps += 1
    return time.perf_counter() - start, steps


def torch_top1(torch, model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def peer_row(torch, loader, lr, x, y) -> dict:
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    from jetsonkit.examples import sensitive

    model = prepare_qat_fx(sensitive.build_model().train(), get_default_qat_qconfig_mapping("x86"),
                           (torch.zeros(1, 1, 28, 28),))
    seconds, steps = train_loop(torch, model, loader, lr)
    int8 = convert_fx(copy.deepcopy(model).eval())
    return {"row": f"torch.ao QAT (FX, x86 qconfig), lr {lr:g}, int8 torch", "top1": torch_top1(torch, int8, x, y),
            "train_s": seconds, "steps": steps, "tensorrt_qdq": "no (uint8 affine activations, fbgemm ops)"}


def jetsonkit_row(torch, table, loader, lr, scale_lr, learn, x, y, folder) -> dict:
    from jetsonkit import qat
    from jetsonkit.evaluate import top1
    from jetsonkit.examples import sensitive

    model = qat.prepare(sensitive.build_model(), table, torch.zeros(1, 1, 28, 28), learn_scales=learn)
    start = time.perf_counter()
    result = qat.finetune(model, loader, lr=lr, scale_lr=scale_lr)
    seconds = time.perf_counter() - start
    path = qat.export(model, torch.zeros(1, 1, 28, 28), folder / f"qat_{int(learn)}.onnx").path
    label = "learned log2 scales" if learn else "fixed scales (table)"
    return {"row": f"jetsonkit QAT, {label}, Q/DQ ONNX in ORT", "top1": top1(path, x, y), "train_s": seconds,
            "steps": result.steps, "tensorrt_qdq": "yes (same graph as jetsonkit quantize)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k training images, 2k test images")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import torch

    import logging
    from jetsonkit.calibrate import calibrate
    from jetsonkit.evaluate import top1
    from jetsonkit.examples import mnist, sensitive
    from jetsonkit.export import export_onnx
    from jetsonkit.quantize.qdq import quantize_qdq
    from jetsonkit.sparsity.torchdata import batches

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    torch.manual_seed(0)
    n_train, n_test = (5000, 2000) if args.quick else (20000, 10000)
    x, y = mnist.load_split("test", limit=n_test)
    train = mnist.load_split("train", limit=n_train)
    lr, scale_lr = 3e-3, 5e-2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = folder / "sensitive.onnx"
        export_onnx(sensitive.build_model(), torch.zeros(1, 1, 28, 28), fp32, input_names=["input"], dynamic=True)
        table = calibrate(fp32, mnist.load_split("train", limit=1000)[0], "entropy")
        qdq = quantize_qdq(fp32, table, folder / "sensitive.qdq.onnx").path
        rows.append({"row": "FP32 (ONNX Runtime)", "top1": top1(fp32, x, y)})
        rows.append({"row": "PTQ INT8, every layer (jetsonkit quantize, entropy)", "top1": top1(qdq, x, y),
                     "tensorrt_qdq": "yes"})
        for learn in (False, True):
            rows.append(jetsonkit_row(torch, table, batches(*train, batch_size=64), lr, scale_lr, learn, x, y,
                                      folder))
        for peer_lr in (lr, 1e-4):  # the peer at the same learning rate and at a typical QAT one
            rows.append(peer_row(torch, batches(*train, batch_size=64), peer_lr, x, y))
    ref = rows[0]["top1"]
    for r in rows:
        r["drop_points"] = round(100 * (ref - r["top1"]), 2)
    info = {"machine": machine(), "date": datetime.date.today().isoformat(), "train_images": n_train,
            "test_images": n_test, "lr": lr, "scale_lr": scale_lr, "batch": 64, "rows": rows}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"QAT on the INT8-sensitive MNIST CNN — {info['machine']}, {info['date']}")
    print(f"{n_train} training images (1 epoch, batch 64, Adam lr {lr}, scale lr {scale_lr}), {n_test} test images")
    print(f"{'':52} {'top-1':>7} {'drop':>6} {'train s':>8} {'ms/step':>8}  TensorRT Q/DQ")
    for r in rows:
        ms = f"{1000 * r['train_s'] / r['steps']:.1f}" if r.get("steps") else "-"
        secs = f"{r['train_s']:.1f}" if "train_s" in r else "-"
        print(f"{r['row']:52} {100 * r['top1']:6.2f}% {r['drop_points']:6.2f} {secs:>8} {ms:>8}  "
              f"{r.get('tensorrt_qdq', '-')}")


if __name__ == "__main__":
    main()
