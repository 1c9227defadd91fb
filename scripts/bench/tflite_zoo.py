#!/usr/bin/env python3
"""TFLite fidelity on the model zoo: every zoo model through `convert` at fp32 / fp16 / int8, against ONNX Runtime.

For each model of ``jetsonkit.examples.zoo`` (MNIST-trained weights): export to ONNX (opset 17, dynamic batch),
convert at the three precisions (int8 calibrated on the first ``--calib`` MNIST training images), run the first
``--n`` MNIST test images through ONNX Runtime and LiteRT, and report the largest absolute difference relative to
the output's largest magnitude, the cosine of the flattened outputs, top-1 accuracy (``zoo.class_scores``) and
top-1 agreement with ONNX Runtime, plus the ops that stay float in the int8 model. One run, same images for all.

    python scripts/bench/tflite_zoo.py [--n 1000] [--calib 500] [--models resnet,vit] [--method mse] [--full]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _export(model, shape, path: Path) -> Path:
    import torch

    torch.onnx.export(model, (torch.zeros(*shape),), str(path), input_names=["input"], opset_version=17,
                      dynamo=False, dynamic_axes={"input": {0: "batch"}})
    return path


def _litert(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=2)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    xs = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    it.resize_tensor_input(inp["index"], list(xs.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], xs)
    it.invoke()
    return it.get_tensor(out["index"])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def measure(name: str, x: np.ndarray, y: np.ndarray, calib: np.ndarray, tmp: Path, full: bool,
            method: str | None) -> list[dict]:
    import onnxruntime as ort

    from jetsonkit.convert import convert_tflite
    from jetsonkit.examples import zoo

    model = zoo.build_full(name) if full else zoo.build(name)
    onnx_path = _export(model, (1, *x.shape[1:]), tmp / f"{name}.onnx")
    ref = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    ref_top = zoo.class_scores(name, ref).argmax(1)
    rows = [{"model": name, "precision": "onnxruntime fp32", "top1": float((ref_top == y).mean()) if not full else None}]
    for p in ("fp32", "fp16", "int8"):
        t0 = time.perf_counter()
        try:
            r = convert_tflite(onnx_path, tmp / f"{name}.{p}.tflite", precision=p, data=calib if p == "int8" else None,
                               method=method if p == "int8" else None)
        except Exception as exc:  # noqa: BLE001 - the table reports any failure
            rows.append({"model": name, "precision": p, "error": f"{type(exc).__name__}: {exc}"[:160]})
            continue
        secs = time.perf_counter() - t0
        out = _litert(r.path, x)
        top = zoo.class_scores(name, out).argmax(1)
        rows.append({"model": name, "precision": p, "convert_s": secs, "size_kib": r.size_bytes / 1024,
                     "max_rel": float(np.abs(out - ref).max() / np.abs(ref).max()), "cos": _cos(out, ref),
                     "top1": float((top == y).mean()) if not full else None, "agree": float((top == ref_top).mean()),
                     "float_islands": r.float_islands})
    return rows


def _fmt(row: dict) -> str:
    if "error" in row:
        return f"| {row['model']} | {row['precision']} | failed: {row['error']} | | | | | |"
    top1 = "—" if row.get("top1") is None else f"{100 * row['top1']:.2f}"
    if "cos" not in row:
        return f"| {row['model']} | {row['precision']} | — | — | {top1} | — | — | — |"
    islands = ", ".join(f"{k} ×{v}" for k, v in row["float_islands"].items()) or "—"
    return (f"| {row['model']} | {row['precision']} | {row['max_rel']:.1e} | {row['cos']:.5f} | {top1} | "
            f"{100 * row['agree']:.2f} | {row['size_kib']:,.1f} | {islands if row['precision'] == 'int8' else ''} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="MNIST test images scored (default 1000)")
    ap.add_argument("--calib", type=int, default=500, help="MNIST training images for int8 calibration")
    ap.add_argument("--models", default=None, help="comma-separated zoo names (default: all)")
    ap.add_argument("--method", default=None, help="int8 range method (default: the project's, as `jetsonkit calibrate`)")
    ap.add_argument("--full", action="store_true", help="random-weight 3x224x224 variants (fidelity only)")
    args = ap.parse_args(argv)
    from calibrators.methods import DEFAULT_METHOD

    from jetsonkit.examples import mnist, zoo

    names = args.models.split(",") if args.models else list(zoo.NAMES)
    if args.full:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((min(args.n, 8), 3, 224, 224)).astype(np.float32)
        calib, y = rng.standard_normal((min(args.calib, 8), 3, 224, 224)).astype(np.float32), None
    else:
        x, y = mnist.load_split("test", limit=args.n)
        calib = mnist.load_split("train", limit=args.calib)[0]
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{len(x)} {'random 3x224x224 inputs' if args.full else 'MNIST test images'}, int8 calibrated on "
          f"{len(calib)} {'random inputs' if args.full else 'MNIST training images'} with method "
          f"{args.method or DEFAULT_METHOD}{'' if args.method else ' (the default)'}")
    print("| model | artifact | max abs diff / max abs ref | cosine vs ORT | top-1 % | top-1 agreement % | "
          "KiB | int8 float islands |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="jk-tflite-zoo-") as tmp:
        for name in names:
            for row in measure(name, x, y, calib, Path(tmp), args.full, args.method):
                print(_fmt(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
