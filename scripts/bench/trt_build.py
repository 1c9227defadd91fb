#!/usr/bin/env python
"""TensorRT build benchmark: `jetsonkit build` vs `trtexec` on the same ONNX, same precision, one run.

For the MNIST CNN (and, without --quick, the ResNet-50-style 224x224 test net) and each precision (fp32, fp16):
build time, engine size, and GPU compute latency of both engines measured the same way (trtexec --loadEngine,
its "GPU Compute Time" line: min / mean / median / p99). Needs TensorRT, trtexec and a GPU: a Jetson or
NVIDIA's TensorRT container (scripts/jetson_selftest.sh runs it). Where TensorRT is missing it says so and exits 2.
Usage: scripts/bench/trt_build.py [--quick]   (--quick: MNIST, fp16 only)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
_GPU_TIME = re.compile(r"GPU Compute Time: min = ([\d.]+) ms, max = [\d.]+ ms, mean = ([\d.]+) ms, "
                       r"median = ([\d.]+) ms.*?percentile\(99%\) = ([\d.]+) ms")


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from jetsonkit.engine.machine import detect_machine

    m = detect_machine()
    jet = f", L4T {m.l4t_release} (JetPack {m.jetpack})" if m.l4t_release else ""
    return f"{cpu}, {os.cpu_count()} cores, GPU {m.gpu_name} (sm {m.compute_capability}){jet}"


def export(name: str, folder: Path) -> tuple[Path, str, tuple[int, ...]]:
    import torch

    if name == "mnist":
        from jetsonkit.examples import mnist

        model, shape = mnist.build_model(), (1, 28, 28)
    else:
        from tests.support import testnets

        model, shape = testnets.resnet50_like(), (3, 224, 224)
    path = folder / f"{name}.onnx"
    torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=17, dynamo=False, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path, "input", shape


def trtexec_latency(trtexec: str, engine: Path, shape: str) -> tuple[float, ...]:
    out = subprocess.run([trtexec, f"--loadEngine={engine}", f"--shapes=input:{shape}", "--duration=3"],
                         capture_output=True, text=True, check=True).stdout
    m = _GPU_TIME.search(out)
    if not m:
        raise SystemExit(f"trt_build: no 'GPU Compute Time' line in trtexec's output for {engine}")
    return tuple(float(g) for g in m.groups())  # min, mean, median, p99


def run_case(trtexec: str, onnx: Path, shape: tuple[int, ...], precision: str, folder: Path) -> list[list[str]]:
    from jetsonkit.engine import BuildSettings, build_engine, parse_profiles

    lo, opt, hi = (f"{b}x{'x'.join(map(str, shape))}" for b in (1, 32, 64))
    rows = []
    t = time.perf_counter()
    ours = build_engine(onnx, folder / f"{onnx.stem}.{precision}.jk.engine", BuildSettings(
        precision=precision, profiles=parse_profiles([f"input:{lo},{opt},{hi}"])), force=True)
    rows.append(("jetsonkit build", time.perf_counter() - t, Path(ours.engine_path)))
    theirs = folder / f"{onnx.stem}.{precision}.trtexec.engine"
    cmd = [trtexec, f"--onnx={onnx}", f"--saveEngine={theirs}", f"--minShapes=input:{lo}", f"--optShapes=input:{opt}",
           f"--maxShapes=input:{hi}", "--skipInference"] + (["--fp16"] if precision == "fp16" else [])
    t = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows.append(("trtexec", time.perf_counter() - t, theirs))
    table = []
    for tool, seconds, engine in rows:
        mn, mean, med, p99 = trtexec_latency(trtexec, engine, opt)
        table.append([onnx.stem, precision, tool, f"{seconds:.1f}", f"{engine.stat().st_size / 2**20:.2f}",
                      f"{mn:.4f}", f"{mean:.4f}", f"{med:.4f}", f"{p99:.4f}"])
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="MNIST, fp16 only")
    args = ap.parse_args()
    from jetsonkit._deps import available

    trtexec = shutil.which("trtexec") or next((p for p in ("/usr/src/tensorrt/bin/trtexec",) if Path(p).exists()), None)
    if not available("tensorrt") or trtexec is None:
        print("trt_build: cannot run here: needs TensorRT's Python package and trtexec (a Jetson or NVIDIA's TensorRT "
              "container); nothing was measured")
        return 2
    print(f"TensorRT build benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}\n{machine()}")
    header = ["model", "precision", "tool", "build s", "engine MiB", "min ms", "mean ms", "median ms", "p99 ms"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["mnist"] + ([] if args.quick else ["resnet50_like"]):
            onnx, _, shape = export(name, Path(tmp))
            for precision in ["fp16"] if args.quick else ["fp32", "fp16"]:
                rows += run_case(trtexec, onnx, shape, precision, Path(tmp))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("latency: trtexec --loadEngine on both engines, batch 32 (the profiles' opt shape), GPU compute time only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
