#!/usr/bin/env python
"""Calibration benchmark: jetsonkit vs ONNX Runtime's quantize_static calibrators (MinMax, Entropy), one run.

Measures, on this machine:
1. wall time of calibration (collection + range computation) on the MNIST CNN with 1,000 real training images
   and on the ResNet-50-style 224x224 test net with 256 images (synthetic N(0, 1) images: no ImageNet here);
2. peak memory of calibration at 256 vs 1,024 samples (each run in a fresh process; RSS growth over the process
   after loading the model and data), jetsonkit entropy vs ONNX Runtime Entropy as quantize_static calls it;
3. plain ONNX Runtime inference over the same data (the floor every calibrator pays), and the ratio of the time
   each tool spends beyond it;
4. time of one entropy amax computation on a full 2048-bin histogram (best of repeats);
5. the histogram scan alone, ns per value, native C scan vs the numpy reference scan (4M ReLU-like values), and
   jetsonkit entropy once more with the numpy scan (JETSONKIT_NATIVE=0: a machine without a C compiler);
6. with --modelopt DIR (made by scripts/bench/modelopt_cpu.sh): NVIDIA ModelOpt's ONNX INT8 quantization with
   entropy calibration on CPU (modelopt.onnx.quantization.quantize, calibration and Q/DQ in one call) beside
   jetsonkit calibrate + quantize_qdq, wall time on both models and MNIST top-1 of both Q/DQ models (10k test split).
ONNX Runtime's calibrators run as quantize_static runs them (create_calibrator -> collect_data -> compute_data),
on the node types whose inputs jetsonkit calibrates; for the 224x224 net they are fed 32 images per collect_data
call, because one call over all 256 images keeps every intermediate output in memory (many GB here).
Batches: 100 images (MNIST), 8 (224x224), the same for every tool. MNIST timings are the best of 3 runs, the
224x224 net's a single run (--repeats-224 N: best of N); every tool is timed the same way, one after the other,
in this one process. The load average at start and end is printed: the figures
mean little on a busy machine.
7. whole commands, as a user runs them (start-up included), each in a fresh process under /usr/bin/time (wall time
   and peak RSS, ``%e`` / ``%M``), on a MobileNetV2-like 224x224 classifier defined here (inverted residuals,
   depthwise 3x3, ReLU6; 3.5 M parameters; random weights: only time and memory are measured) with 40 and 80
   synthetic images: ``jetsonkit calibrate`` (default --max-memory, and
   --max-memory 256M), ONNX Runtime MinMax and Entropy as ``quantize_static`` runs them (one collect_data call
   over the data reader, batch 8), then ``jetsonkit quantize``, ``convert --precision int8`` and ``compress``.
Every time printed has the peak RSS of the process beside it: for the in-process rows (1, 3, 6) the process's
peak while that run lasted (the kernel's peak mark is reset before each run; memory the process already held
counts), for 7 the whole command's.
Usage: scripts/bench/calibrate.py [--quick] [--repeats-224 N] [--modelopt DIR] [--commands-only]
(--quick: MNIST only, no memory runs, no whole commands; --commands-only: only 7)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jetsonkit.doctor import machine_summary as machine  # noqa: E402
ORT_OPS = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "AveragePool", "GlobalAveragePool"]


def export_models(folder: Path, with_resnet: bool) -> dict[str, Path]:
    import torch

    from jetsonkit.examples import mnist
    from tests.support import testnets

    paths = {"mnist": folder / "mnist.onnx"}
    torch.onnx.export(mnist.build_model(), (torch.zeros(1, 1, 28, 28),), str(paths["mnist"]), input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    if with_resnet:
        from jetsonkit.export import export_onnx

        paths["resnet"] = folder / "resnet.onnx"
        export_onnx(testnets.resnet50_like(), torch.zeros(1, 3, 224, 224), paths["resnet"], input_names=["input"],
                    output_names=["logits"], dynamic=True, parity=False)
    return paths


def load_data(kind: str, n: int) -> np.ndarray:
    if kind == "mnist":
        from jetsonkit.examples import mnist

        return mnist.load_split("train", limit=n)[0]
    return np.random.default_rng(0).normal(size=(n, 3, 224, 224)).astype(np.float32)


def run_jetsonkit(model: Path, x: np.ndarray, method: str, batch: int) -> tuple[float, int]:
    from jetsonkit.calibrate import calibrate

    start = time.perf_counter()
    table = calibrate(model, x, method, batch_size=batch)
    return time.perf_counter() - start, len(table.tensors)


class _Reader:
    def __init__(self, x: np.ndarray, batch: int):
        self.batches = iter([{"input": x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self):
        return next(self.batches, None)

    def rewind(self):  # pragma: no cover - part of ORT's reader protocol
        pass


def run_ort(model: Path, x: np.ndarray, method: str, batch: int, chunk: int | None, tmp: Path) -> tuple[float, int]:
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    start = time.perf_counter()
    cal = create_calibrator(str(model), ORT_OPS, augmented_model_path=str(tmp / f"aug_{method}.onnx"),
                            calibrate_method=getattr(CalibrationMethod, method))
    step = chunk or len(x)
    for i in range(0, len(x), step):
        cal.collect_data(_Reader(x[i:i + step], batch))
    ranges = cal.compute_data()
    return time.perf_counter() - start, len(ranges.data if hasattr(ranges, "data") else ranges)


def run_jetsonkit_qdq(model: Path, x: np.ndarray, batch: int, out: Path) -> tuple[float, int]:
    """jetsonkit's whole INT8 path as ModelOpt's quantize() does it: entropy calibration, then the Q/DQ model."""
    from jetsonkit.calibrate import calibrate
    from jetsonkit.quantize import quantize_qdq

    start = time.perf_counter()
    table = calibrate(model, x, "entropy", batch_size=batch)
    quantize_qdq(model, table, out)
    return time.perf_counter() - start, len(table.tensors)


def run_modelopt(model: Path, x: np.ndarray, batch: int, out: Path) -> tuple[float, int]:
    """ModelOpt's ONNX INT8 quantization, entropy calibration on the CPU, ``batch`` images per ONNX Runtime run."""
    import logging

    from modelopt.onnx.quantization import quantize

    shape = "x".join(str(d) for d in (batch, *x.shape[1:]))
    start = time.perf_counter()
    quantize(str(model), "int8", calibration_data={"input": x}, calibration_method="entropy",
             calibration_shapes=f"input:{shape}", calibration_eps=["cpu"], output_path=str(out), log_level="ERROR")
    seconds = time.perf_counter() - start
    logging.getLogger().handlers.clear()
    import onnx

    return seconds, sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)


def mnist_top1(model: Path) -> float:
    import onnxruntime as ort

    from jetsonkit.examples import mnist

    x, y = mnist.load_split("test")
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    logits = np.concatenate([sess.run(None, {name: x[i:i + 1000]})[0] for i in range(0, len(x), 1000)])
    return float((logits.argmax(1) == y).mean() * 100)


def run_inference(model: Path, x: np.ndarray, batch: int) -> tuple[float, int]:
    """Plain ONNX Runtime inference over the same data: the floor every calibrator pays."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    start = time.perf_counter()
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    for i in range(0, len(x), batch):
        sess.run(None, {"input": x[i:i + batch]})
    return time.perf_counter() - start, 0


def _peak_of(fn):
    """``fn() -> (seconds, tensors)`` plus the process's peak RSS (MB) while it ran (peak mark reset first)."""
    Path("/proc/self/clear_refs").write_text("5")
    seconds, tensors = fn()
    return seconds, tensors, _status_kb("VmHWM") / 1024


def best_of(repeats: int, fn):
    """The fastest of ``repeats`` runs of ``fn() -> (seconds, tensors)`` (shared machines are noisy), as
    (seconds, tensors, peak RSS MB of that run)."""
    return min((_peak_of(fn) for _ in range(repeats)), key=lambda r: r[0])


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def memory_child(tool: str, model: str, n: int) -> dict:
    """Run one calibration in this (fresh) process; report its peak RSS above the RSS before it started.

    The peak-RSS mark is reset first (``5`` into /proc/self/clear_refs, Linux), so loading the data does not count.
    """
    x = load_data("mnist", n)
    import onnxruntime  # noqa: F401 - imported before the baseline so both tools start equal

    import calibrators  # noqa: F401
    import logging

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    with tempfile.TemporaryDirectory() as tmp:
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kb("VmRSS")
        if tool == "jetsonkit":
            run_jetsonkit(Path(model), x, "entropy", 32)
        else:
            run_ort(Path(model), x, "Entropy", 32, None, Path(tmp))
        peak = _status_kb("VmHWM")
    return {"tool": tool, "samples": n, "growth_mb": (peak - base) / 1024}


def with_numpy_scan(fn):
    """Run ``fn`` with the native scan switched off (the numpy reference scan), as on a machine without cc."""
    old = os.environ.get("JETSONKIT_NATIVE")
    os.environ["JETSONKIT_NATIVE"] = "0"
    try:
        return fn()
    finally:
        if old is None:
            del os.environ["JETSONKIT_NATIVE"]
        else:
            os.environ["JETSONKIT_NATIVE"] = old


def scan_ns_per_value() -> dict:
    """The histogram scan alone on 4M ReLU-like float32 values: native vs numpy, best of 5, ns per value."""
    import calibrators

    x = np.maximum(np.random.default_rng(0).normal(size=1 << 22), 0).astype(np.float32)
    timing = lambda: min(timeit.repeat(lambda: calibrators.Histogram.of(x), number=1, repeat=5)) / x.size * 1e9
    out = {"numpy": with_numpy_scan(timing)}
    if calibrators.native_scan():
        out["native"] = timing()
    return out


def amax_time_ms() -> float:
    import calibrators

    rng = np.random.default_rng(0)
    h = calibrators.Histogram.of(np.abs(rng.normal(size=1_000_000)))
    h.counts[:] = np.sort(rng.integers(1, 10_000, h.num_bins))[::-1]
    calibrators.compute_amax(h, "entropy")
    return min(timeit.repeat(lambda: calibrators.compute_amax(h, "entropy"), number=5, repeat=7)) / 5 * 1e3


# ---- 7: whole commands ------------------------------------------------------------------------------------------

def mobilenet_v2_like(num_classes: int = 1000, seed: int = 0):
    """MobileNetV2's layout (Sandler et al. 2018, table 2): a 3x3 stem, 17 inverted residual blocks (1x1 expand,
    3x3 depthwise, 1x1 project; ReLU6; residual where the shape allows), a 1x1 conv to 1280, pooling, a classifier.
    Random weights: only time and memory are measured with it."""
    import torch
    from torch import nn

    def cbr(cin, cout, k=1, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return layers + ([nn.ReLU6()] if act else [])

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            self.body = nn.Sequential(*(cbr(cin, hidden) if expand != 1 else []),
                                      *cbr(hidden, hidden, 3, stride, hidden), *cbr(hidden, cout, act=False))
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    torch.manual_seed(seed)
    layers, cin = cbr(3, 32, 3, 2), 32
    for expand, cout, repeats, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(repeats):
            layers.append(Block(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [*cbr(cin, 1280), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, num_classes)]
    return nn.Sequential(*layers).eval()


def ort_command(method: str, model: str, data: str, batch: int) -> None:
    """ONNX Runtime's static calibration as quantize_static runs it: one collect_data call over the data reader."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    x = np.load(data)
    with tempfile.TemporaryDirectory() as tmp:
        cal = create_calibrator(model, ORT_OPS, augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                calibrate_method=getattr(CalibrationMethod, method))
        cal.collect_data(_Reader(x, batch))
        cal.compute_data()


def timed(argv: list[str]) -> dict:
    """Wall time and peak RSS of one whole command (/usr/bin/time %e %M)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M", *argv], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    last = [line for line in proc.stderr.splitlines() if line.startswith("@@ ")]
    if proc.returncode != 0 or not last:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"argv": argv[2:], "error": " | ".join(tail)}
    seconds, kb = last[-1].split()[1:]
    return {"argv": argv[2:], "seconds": float(seconds), "peak_rss_mb": int(kb) / 1024}


def whole_commands(tmp: Path, sample_counts=(40, 80)) -> list[dict]:
    import torch

    from jetsonkit.export import export_onnx

    model = tmp / "mobilenetv2.onnx"
    export_onnx(mobilenet_v2_like(), torch.zeros(1, 3, 224, 224), model, input_names=["input"],
                output_names=["logits"], dynamic=True, parity=False)
    py, jk = sys.executable, [sys.executable, "-m", "jetsonkit"]
    rows = []
    for n in sample_counts:
        x = np.random.default_rng(0).normal(size=(n, 3, 224, 224)).astype(np.float32)
        data = tmp / f"x{n}.npy"
        np.save(data, x)
        table = tmp / f"calib{n}.json"
        runs = {"jetsonkit calibrate": timed([*jk, "calibrate", str(model), "--data", str(data), "-o", str(table),
                                              "-q"]),
                "jetsonkit calibrate --max-memory 256M": timed([*jk, "calibrate", str(model), "--data", str(data),
                                                                "-o", str(tmp / "c256.json"), "-q",
                                                                "--max-memory", "256M"]),
                "ORT MinMax": timed([py, __file__, "--ort-command", "MinMax", str(model), str(data), "8"]),
                "ORT Entropy": timed([py, __file__, "--ort-command", "Entropy", str(model), str(data), "8"])}
        if n == max(sample_counts):
            np.savez(tmp / "eval.npz", x=x[:40], y=np.arange(40) % 1000)
            (tmp / "r.yaml").write_text(
                f"model: {{onnx: {model}}}\ninputs: [{{name: input, shape: [1, 3, 224, 224]}}]\noutputs: [logits]\n"
                f"calibration: {{data: {data}}}\nevaluation: {{data: {tmp / 'eval.npz'}, metric: agreement}}\n"
                f"stages: {{quantize: {{}}}}\ntargets: {{cpu-int8: {{backend: onnxruntime, precision: int8}}}}\n"
                "bench: {iterations: 5, warmup: 1}\n")
            runs["jetsonkit quantize"] = timed([*jk, "quantize", str(model), "--calib", str(table), "-o",
                                                str(tmp / "q.onnx"), "-q"])
            runs["jetsonkit convert --precision int8"] = timed(
                [*jk, "convert", str(model), "--precision", "int8", "--calib", str(table), "--data", str(data),
                 "-o", str(tmp / "m.tflite"), "-q"])
            runs["jetsonkit compress (cpu-int8)"] = timed([*jk, "compress", str(tmp / "r.yaml"), "-o",
                                                           str(tmp / "out"), "-q"])
        for name, r in runs.items():
            rows.append({"command": name, "samples": n, **r})
    return rows


def print_commands(rows: list[dict]) -> None:
    print("\nwhole commands, MobileNetV2-like 224x224 (start-up included, fresh process each):")
    ort = {(r["samples"], r["command"]): r.get("seconds") for r in rows}
    for r in rows:
        if "error" in r:
            print(f"  {r['command']:<40}{r['samples']:>4} samples: failed: {r['error']}")
            continue
        ratio = ""
        if r["command"].startswith("jetsonkit calibrate"):
            ent, mm = ort.get((r["samples"], "ORT Entropy")), ort.get((r["samples"], "ORT MinMax"))
            ratio = (f"   {ent / r['seconds']:.1f}x faster than ORT Entropy, {mm / r['seconds']:.1f}x than MinMax"
                     if ent and mm else "")
        print(f"  {r['command']:<40}{r['samples']:>4} samples: {r['seconds']:7.2f} s, peak RSS "
              f"{r['peak_rss_mb']:7.0f} MB{ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats-224", type=int, default=1, help="best of N runs on the 224x224 net (default 1)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--modelopt", metavar="DIR", help="ModelOpt installed by scripts/bench/modelopt_cpu.sh DIR: add it")
    ap.add_argument("--commands-only", action="store_true", help="only the whole-command runs (7)")
    ap.add_argument("--memory-child", nargs=3, metavar=("TOOL", "MODEL", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--ort-command", nargs=4, metavar=("METHOD", "MODEL", "DATA", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_command:
        method, model, data, batch = args.ort_command
        ort_command(method, model, data, int(batch))
        return
    if args.memory_child:
        tool, model, n = args.memory_child
        print(json.dumps(memory_child(tool, model, int(n))))
        return
    import calibrators
    import logging

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    now = datetime.datetime.now(datetime.timezone.utc)
    results: dict = {"machine": machine(), "date": now.isoformat(timespec="minutes"),
                      "load_average_start": os.getloadavg(), "scan": calibrators.scan_status()}
    # (model, samples, batch, ORT images per collect_data call, repeats: best of); ORT needs equal batch sizes
    cases = [] if args.commands_only else [("mnist", 1000, 100, None, 3)]
    if not args.quick and not args.commands_only:
        # batch 8 for every tool on the 224x224 net: jetsonkit 0.5-0.9 s faster than at 32 (its pipeline fills and
        # drains in smaller steps, and ONNX Runtime's arena grows by 173 MB steps, not 692 MB); measured on the same
        # quiet machine, ORT Entropy 40.7 s at 8 vs 41.4 s at 32, plain inference 3.8 vs 4.1 s: no tool loses
        cases.append(("resnet", 256, 8, 32, max(1, args.repeats_224)))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        paths = export_models(tmp, not args.quick and not args.commands_only)
        rows = []
        for kind, n, batch, chunk, repeats in cases:
            x = load_data(kind, n)
            infer = best_of(repeats, lambda: run_inference(paths[kind], x, batch))
            jk = best_of(repeats, lambda: run_jetsonkit(paths[kind], x, "entropy", batch))
            jk_mm = best_of(repeats, lambda: run_jetsonkit(paths[kind], x, "minmax", batch))
            jk_np = best_of(repeats, lambda: with_numpy_scan(lambda: run_jetsonkit(paths[kind], x, "entropy", batch)))
            ort_mm = best_of(repeats, lambda: run_ort(paths[kind], x, "MinMax", batch, chunk, tmp))
            ort_ent = best_of(repeats, lambda: run_ort(paths[kind], x, "Entropy", batch, chunk, tmp))
            rows.append({"model": kind, "samples": n, "peak_rss_mb": {
                             "inference": infer[2], "jetsonkit_entropy": jk[2], "jetsonkit_minmax": jk_mm[2],
                             "jetsonkit_entropy_numpy_scan": jk_np[2], "ort_minmax": ort_mm[2],
                             "ort_entropy": ort_ent[2]},
                         "jetsonkit_entropy_s": jk[0], "jetsonkit_minmax_s": jk_mm[0],
                         "jetsonkit_entropy_numpy_scan_s": jk_np[0], "jetsonkit_tensors": jk[1],
                         "ort_minmax_s": ort_mm[0], "ort_entropy_s": ort_ent[0],
                         "ort_tensors": ort_ent[1], "speedup_vs_ort_entropy": ort_ent[0] / jk[0],
                         "speedup_numpy_scan_vs_ort_entropy": ort_ent[0] / jk_np[0], "inference_s": infer[0],
                         "beyond_inference_s": {"jetsonkit_entropy": jk[0] - infer[0],
                                                "ort_minmax": ort_mm[0] - infer[0],
                                                "ort_entropy": ort_ent[0] - infer[0]},
                         "overhead_ratio": (ort_ent[0] - infer[0]) / max(jk[0] - infer[0], 1e-3)})
        if rows:
            results["wall"] = rows
        if args.modelopt:
            sys.path.insert(0, args.modelopt)
            results["modelopt"] = []
            for kind, n, batch, _chunk, repeats in cases:
                x = load_data(kind, n)
                jk_path, mo_path = tmp / f"{kind}.jk.qdq.onnx", tmp / f"{kind}.mo.qdq.onnx"
                jk = best_of(repeats, lambda: run_jetsonkit_qdq(paths[kind], x, batch, jk_path))
                mo = best_of(repeats, lambda: run_modelopt(paths[kind], x, batch, mo_path))
                row = {"model": kind, "samples": n, "jetsonkit_s": jk[0], "modelopt_s": mo[0],
                       "jetsonkit_peak_rss_mb": jk[2], "modelopt_peak_rss_mb": mo[2],
                       "speedup": mo[0] / jk[0], "modelopt_quantize_nodes": mo[1]}
                if kind == "mnist":
                    row.update(fp32_top1=mnist_top1(paths[kind]), jetsonkit_top1=mnist_top1(jk_path),
                               modelopt_top1=mnist_top1(mo_path))
                results["modelopt"].append(row)
        if not args.quick:
            results["commands"] = whole_commands(tmp)
        if not args.quick and not args.commands_only:
            mem = []
            for tool in ("jetsonkit", "ort"):
                for n in (256, 1024):
                    cmd = [sys.executable, __file__, "--memory-child", tool, str(paths["mnist"]), str(n)]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                    mem.append(json.loads(out.stdout.strip().splitlines()[-1]))
            results["memory"] = mem
    if not args.commands_only:
        results["entropy_amax_ms_2048_bins"] = amax_time_ms()
        results["scan_ns_per_value"] = scan_ns_per_value()
    results["load_average_end"] = os.getloadavg()
    print(f"machine: {results['machine']}\ndate: {results['date']}\nload average (1/5/15 min) at start "
          f"{'/'.join(f'{v:.2f}' for v in results['load_average_start'])}, at end "
          f"{'/'.join(f'{v:.2f}' for v in results['load_average_end'])}\nhistogram scan: {results['scan']}\n")
    if results.get("wall"):
        print(f"{'model':<8}{'samples':>8}{'jetsonkit entropy':>19}{'jetsonkit minmax':>18}{'ORT MinMax':>12}"
              f"{'ORT Entropy':>13}{'speed-up':>10}{'tensors (jk/ORT)':>18}")
    for r in results.get("wall", []):
        print(f"{r['model']:<8}{r['samples']:>8}{r['jetsonkit_entropy_s']:>18.2f}s{r['jetsonkit_minmax_s']:>17.2f}s"
              f"{r['ort_minmax_s']:>11.2f}s{r['ort_entropy_s']:>12.2f}s{r['speedup_vs_ort_entropy']:>9.1f}x"
              f"{r['jetsonkit_tensors']:>10}/{r['ort_tensors']}")
        m = r["peak_rss_mb"]
        print(f"{'':<8}{'peak RSS':>8}{m['jetsonkit_entropy']:>17.0f}MB{m['jetsonkit_minmax']:>16.0f}MB"
              f"{m['ort_minmax']:>10.0f}MB{m['ort_entropy']:>11.0f}MB")
    for r in results.get("wall", []):
        b, m = r["beyond_inference_s"], r["peak_rss_mb"]
        print(f"{r['model']}: plain inference {r['inference_s']:.2f}s ({m['inference']:.0f} MB); time beyond it: jetsonkit entropy "
              f"{b['jetsonkit_entropy']:.2f}s, ORT MinMax {b['ort_minmax']:.2f}s, ORT Entropy {b['ort_entropy']:.2f}s "
              f"(ORT Entropy / jetsonkit: {r['overhead_ratio']:.1f}x)")
        print(f"{r['model']}: jetsonkit entropy with the numpy scan (no C compiler): "
              f"{r['jetsonkit_entropy_numpy_scan_s']:.2f}s, {m['jetsonkit_entropy_numpy_scan']:.0f} MB "
              f"({r['speedup_numpy_scan_vs_ort_entropy']:.1f}x faster than ORT Entropy)")
    for r in results.get("modelopt", []):
        acc = (f"; MNIST top-1 FP32 {r['fp32_top1']:.2f} %, jetsonkit {r['jetsonkit_top1']:.2f} %, ModelOpt "
               f"{r['modelopt_top1']:.2f} %" if "fp32_top1" in r else "")
        print(f"{r['model']}: INT8 Q/DQ model with entropy ranges (calibration + Q/DQ), jetsonkit "
              f"{r['jetsonkit_s']:.2f}s ({r['jetsonkit_peak_rss_mb']:.0f} MB) vs ModelOpt {r['modelopt_s']:.2f}s "
              f"({r['modelopt_peak_rss_mb']:.0f} MB) ({r['speedup']:.1f}x){acc}")
    for m in results.get("memory", []):
        print(f"RSS growth above the process before calibration (not peak RSS), {m['tool']:<9} entropy, MNIST "
              f"{m['samples']:>5} samples: {m['growth_mb']:8.1f} MB")
    if "scan_ns_per_value" in results:
        scan = results["scan_ns_per_value"]
        print("histogram scan alone, 4M ReLU-like values: " + ", ".join(f"{k} {v:.2f} ns/value"
                                                                        for k, v in scan.items()))
        print(f"entropy amax, one 2048-bin histogram: {results['entropy_amax_ms_2048_bins']:.2f} ms (best of 7)")
    print_commands(results.get("commands", []))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
