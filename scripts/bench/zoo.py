#!/usr/bin/env python3
"""Zoo benchmark: every zoo model through export -> calibrate -> quantize -> evaluate, INT8 fidelity against peers.

For each model of ``jetsonkit.examples.zoo`` (trained on MNIST), in one run on this machine:
- each stage's success and wall time (export with parity check, calibration, Q/DQ insertion, evaluation);
- output SQNR against FP32 (``10 log10(sum ref^2 / sum (ref - q)^2)`` over every output value of the first
  ``--sqnr`` test images) and top-1 on the 10k MNIST test split, for jetsonkit's Q/DQ with each calibration
  method, and for ONNX Runtime ``quantize_static`` (QDQ format, per-channel symmetric int8 weights, symmetric int8
  activations, its default op set) with ``CalibrationMethod.MinMax`` and ``Entropy``;
- with ``--modelopt DIR`` (installed by scripts/bench/modelopt_cpu.sh): NVIDIA ModelOpt's ONNX INT8 quantization
  (its default entropy calibration, on the CPU).
Every tool calibrates on the same images: the first ``--calib`` images of the MNIST train split (the zoo was
trained on that split; the test split is only scored). Results print as a markdown table and go to ``--json``.

    PYTHONPATH=. python scripts/bench/zoo.py [--models resnet,vit] [--calib 512] [--methods default,entropy,...]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jetsonkit.doctor import machine_summary as machine  # noqa: E402


def sqnr_db(ref: np.ndarray, q: np.ndarray) -> float:
    ref, q = np.asarray(ref, np.float64), np.asarray(q, np.float64)
    noise = float(((ref - q) ** 2).sum())
    return float("inf") if noise == 0 else 10 * np.log10(float((ref ** 2).sum()) / noise)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def export(name: str, folder: Path) -> Path:
    from jetsonkit.examples import zoo
    from jetsonkit.export import export_onnx

    path = folder / f"{name}.onnx"
    export_onnx(zoo.build(name), np.zeros((1, 1, 28, 28), np.float32), path, input_names=["input"],
                output_names=["output"], dynamic=True)
    return path


def ours(path: Path, xc: np.ndarray, method: str | None, out: Path, plan=None) -> tuple[Path, dict]:
    from jetsonkit.calibrate import calibrate
    from jetsonkit.quantize.qdq import quantize_qdq

    kw = {} if method is None else {"method": method}
    table, t_cal = timed(lambda: calibrate(path, xc, batch_size=128, **kw))
    _, t_q = timed(lambda: quantize_qdq(path, table, out, plan=plan))
    return out, {"calibrate_s": t_cal, "quantize_s": t_q}


def transformer_variants(path: Path) -> dict:
    """Precision plans for the transformer Q/DQ variants: the MatMuls of two activations (attention scores and
    attention x V) kept out of INT8, the residual Adds kept out, both. Empty for a model with neither."""
    import onnx

    from jetsonkit.quantize.placement import node_names, quantizable_nodes
    from jetsonkit.quantize.plan import PrecisionPlan, Rule

    model = onnx.load(str(path))
    consts = {t.name for t in model.graph.initializer}
    attention = [n for n, node in zip(node_names(model), model.graph.node)
                 if node.op_type == "MatMul" and not any(i in consts for i in node.input)]
    adds = [n for n, op in quantizable_nodes(model).items() if op == "Add"]
    if not attention:
        return {}
    plans = {"attention MatMul fp32": [Rule("fp32", match=n) for n in attention]}
    if adds:
        plans["residual Add fp32"] = [Rule("fp32", match=n) for n in adds]
        plans["both fp32"] = plans["attention MatMul fp32"] + plans["residual Add fp32"]
    return {label: PrecisionPlan(rules) for label, rules in plans.items()}


def ort_static(path: Path, xc: np.ndarray, method: str, out: Path) -> tuple[Path, dict]:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": xc[i:i + 128]} for i in range(0, len(xc), 128)])

        def get_next(self):
            return next(self.batches, None)

    _, seconds = timed(lambda: quantize_static(
        str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        calibrate_method=getattr(CalibrationMethod, method),
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True}))
    return out, {"calibrate_s": seconds}


def modelopt(path: Path, calib: int, out: Path, folder: str) -> tuple[Path, dict]:
    """ModelOpt's ONNX INT8 (its default entropy calibration, CPU) in a child process: importing ModelOpt patches
    ONNX Runtime's calibrators, which would change every ORT run after it in this process."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([folder, str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, __file__, "--modelopt-child", str(path), str(out), str(calib)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return out, {"calibrate_s": float(done.stdout.strip().splitlines()[-1])}


def modelopt_child(path: str, out: str, calib: int) -> None:
    import logging

    from jetsonkit.examples import mnist
    from modelopt.onnx.quantization import quantize

    xc, _ = mnist.load_split("train", limit=calib)
    _, seconds = timed(lambda: quantize(path, "int8", calibration_data={"input": xc}, calibration_eps=["cpu"],
                                        output_path=out, log_level="ERROR"))
    logging.getLogger().handlers.clear()
    print(seconds)


def score(name: str, model: Path, x: np.ndarray, y: np.ndarray, ref: np.ndarray, n_sqnr: int) -> dict:
    from jetsonkit.evaluate import predict
    from jetsonkit.examples import zoo

    out, seconds = timed(lambda: predict(model, x))
    top1 = float((zoo.class_scores(name, out).argmax(1) == y).mean())
    return {"sqnr_db": sqnr_db(ref[:n_sqnr], out[:n_sqnr]), "top1": top1, "evaluate_s": seconds}


def run_model(name: str, args, folder: Path, xc, x, y) -> dict:
    from jetsonkit.evaluate import predict
    from jetsonkit.examples import zoo

    row: dict = {"model": name}
    try:
        path, row["export_s"] = timed(lambda: export(name, folder))
    except Exception as exc:  # noqa: BLE001 - a failed stage is a result of the benchmark
        row["export_error"] = f"{type(exc).__name__}: {exc}"
        return row
    ref = predict(path, x)
    row["fp32_top1"] = float((zoo.class_scores(name, ref).argmax(1) == y).mean())
    tools = [(f"jetsonkit {m or 'default'}", lambda m=m, o=folder / f"{name}.{m}.onnx": ours(path, xc, m, o))
             for m in args.methods]
    for label, plan in transformer_variants(path).items():
        tools.append((f"jetsonkit default, {label}", lambda p=plan, o=folder / f"{name}.{label[:9]}.onnx":
                      ours(path, xc, None, o, p)))
    tools += [(f"ORT {m}", lambda m=m, o=folder / f"{name}.ort-{m}.onnx": ort_static(path, xc, m, o))
              for m in ("MinMax", "Entropy")]
    if args.modelopt:
        tools.append(("ModelOpt entropy", lambda o=folder / f"{name}.modelopt.onnx":
                      modelopt(path, len(xc), o, args.modelopt)))
    row["tools"] = {}
    for label, fn in tools:
        try:
            qpath, times = fn()
            row["tools"][label] = {**times, **score(name, qpath, x, y, ref, args.sqnr)}
        except Exception as exc:  # noqa: BLE001 - report the failing stage, keep going
            row["tools"][label] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        print(f"  {name:13s} {label:22s} {row['tools'][label]}", file=sys.stderr, flush=True)
    return row


def table(rows: list[dict]) -> list[str]:
    labels = list(dict.fromkeys(k for r in rows for k in r.get("tools", {})))
    head = "| model | FP32 top-1 | " + " | ".join(labels) + " |"
    lines = ["Output SQNR vs FP32 (dB) / top-1 change (points) on the 10k MNIST test split", "", head,
             "|---" * (2 + len(labels)) + "|"]
    for r in rows:
        if "export_error" in r:
            lines.append(f"| {r['model']} | export failed: {r['export_error']} |")
            continue
        cells = []
        for label in labels:
            t = r["tools"].get(label)
            cells.append("–" if t is None else "error" if "error" in t else
                         f"{t['sqnr_db']:.1f} / {100 * (t['top1'] - r['fp32_top1']):+.2f}")
        lines.append(f"| {r['model']} | {100 * r['fp32_top1']:.2f} % | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    from jetsonkit.examples import zoo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(zoo.NAMES))
    ap.add_argument("--methods", default="default,entropy,mse,minmax,percentile",
                    help="jetsonkit calibration methods to run ('default' = calibrate's default)")
    ap.add_argument("--calib", type=int, default=512, help="calibration images (MNIST train split)")
    ap.add_argument("--test", type=int, default=10000, help="scored images (MNIST test split)")
    ap.add_argument("--sqnr", type=int, default=1000, help="test images whose outputs enter the SQNR")
    ap.add_argument("--modelopt", metavar="DIR", help="ModelOpt installed by scripts/bench/modelopt_cpu.sh DIR")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--modelopt-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.modelopt_child:
        path, out, calib = args.modelopt_child
        return modelopt_child(path, out, int(calib))
    args.methods = [None if m == "default" else m for m in args.methods.split(",")]
    import logging

    from jetsonkit.examples import mnist

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    now = datetime.datetime.now(datetime.timezone.utc)
    xc, _ = mnist.load_split("train", limit=args.calib)
    x, y = mnist.load_split("test", limit=args.test)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.append(run_model(name, args, Path(tmp), xc, x, y))
    print(f"# jetsonkit zoo benchmark — {now:%Y-%m-%d %H:%M} UTC\nmachine: {machine()}\n")
    print("\n".join(table(rows)))
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the whole run: {peak_mb:.0f} MB; calibration images: {args.calib}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "date": now.isoformat(timespec="minutes"),
                                               "calib_images": args.calib, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
