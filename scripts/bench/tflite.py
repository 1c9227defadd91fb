#!/usr/bin/env python3
"""TFLite fp32 / fp16 / int8 (LiteRT, XNNPACK) against ONNX Runtime fp32: MNIST CNN, batch 1, 1 and 2 threads.

All models see the same inputs (real MNIST test images) in one run. Caveat printed with the table: x86 CPUs
without AVX-VNNI lack fast int8 dot products, so int8 is no faster here; a Raspberry Pi 5 (Cortex-A76) has
ARMv8.2 dot-product instructions, so measure there before concluding anything about int8 speed on a Pi.

    python scripts/bench/tflite.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from jetsonkit.doctor import cpu_name  # noqa: E402


def int8_flags() -> str:
    """CPU flags that matter for int8 dot products (x86 VNNI, ARM asimddp), from /proc/cpuinfo."""
    wanted = ("avx2", "avx512_vnni", "avx_vnni", "asimddp", "i8mm")
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return ", ".join(f"{f}={'yes' if f in flags else 'no'}" for f in wanted)


def export_mnist(path: Path) -> None:
    import torch

    from jetsonkit.examples import mnist

    torch.onnx.export(mnist.build_model(), (torch.zeros(1, 1, 28, 28),), str(path), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def time_calls(fn, xs, warmup: int) -> list[float]:
    for x in xs[:warmup]:
        fn(x)
    out = []
    for x in xs:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1e3)
    return out


def litert_fn(path: Path, threads: int, nhwc: bool = True):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

    def run(x):
        it.set_tensor(i, x.transpose(0, 2, 3, 1) if nhwc else x)
        it.invoke()
        return it.get_tensor(o)
    return run


def ort_fn(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return lambda x: sess.run(None, {"input": x})[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 timed calls and 1,000 accuracy images")
    ap.add_argument("--out", help="folder for the models (default: a temporary folder)")
    args = ap.parse_args()
    from jetsonkit.convert import convert_tflite
    from jetsonkit.examples import mnist

    calls, n_acc = (200, 1000) if args.quick else (2000, 10000)
    x, y = mnist.load_split("test", limit=n_acc)
    xc, _ = mnist.load_split("train", limit=1000)
    work = Path(args.out or tempfile.mkdtemp(prefix="jetsonkit-bench-"))
    onnx_path = work / "mnist.onnx"
    export_mnist(onnx_path)
    models = {"onnxruntime fp32": onnx_path}
    for p in ("fp32", "fp16", "int8"):
        models[f"tflite {p}"] = convert_tflite(onnx_path, work / f"mnist.{p}.tflite", precision=p,
                                               data=xc if p == "int8" else None).path
    samples = [x[i:i + 1] for i in range(calls)]
    rows = []
    for name, path in models.items():
        for threads in (1, 2):
            fn = ort_fn(path, threads) if name.startswith("onnx") else litert_fn(path, threads)
            ms = time_calls(fn, samples, warmup=20)
            pred = np.array([fn(x[i:i + 1]).argmax() for i in range(n_acc)]) if threads == 1 else None
            acc = f"{(pred == y).mean() * 100:.2f}" if pred is not None else ""
            rows.append((name, threads, statistics.median(ms), float(np.percentile(ms, 90)),
                         os.path.getsize(path) / 1024, acc))
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          f"{int8_flags()}; load average {os.getloadavg()[0]:.1f}")
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; MNIST CNN, batch 1, "
          f"{calls} timed calls; top-1 on {n_acc} test images")
    print(f"{'model':<18} {'threads':>7} {'median ms':>10} {'p90 ms':>8} {'size KiB':>9} {'top-1 %':>8}")
    for name, threads, med, p90, kib, acc in rows:
        print(f"{name:<18} {threads:>7} {med:>10.3f} {p90:>8.3f} {kib:>9.1f} {acc:>8}")
    print("caveat: this x86 CPU has no fast int8 dot-product path for XNNPACK; a Raspberry Pi 5 (Cortex-A76) has "
          "ARMv8.2 dot-product instructions, so int8 speed here says nothing about int8 speed there.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
