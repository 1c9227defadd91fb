"""``jetsonkit demo --task detect``: the bundled MNIST detector through every target, each measured the same way.

Targets: FP32 ONNX; Q/DQ INT8 (the placement keeps the box decode out of INT8, no plan needed); 2:4 sparse + fine-tuned (detection loss, masks held) +
Q/DQ INT8; TFLite fp32 / fp16 / int8 (where jetsonkit's lowering covers the graph; otherwise the row says why);
the Jetson Orin TensorRT target (built where TensorRT and a GPU exist, elsewhere its build spec). Every artifact
is evaluated on the same held-back frames (``mnist_det:test``, seed 0) through the same pre-processing and numpy
NMS: mAP@0.5, mAP@0.5:0.95, the mAP@0.5 drop against FP32, box agreement with FP32 (IoU >= 0.8 on confident
boxes), size, and p50 latency at batch 1 on one thread.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .._deps import available
from .._io import write_json_atomic, write_text_atomic
from .._progress import info
from ..errors import JetsonkitError
from .evaluate import DetectionData, calibration_batch, evaluate_detection, load_detection_data

TRT_VERSION = "10.3"


def _export(model, path: Path) -> Path:
    from ..examples import detector
    from ..export import export_onnx

    export_onnx(model, detector.example_input(), path, input_names=[detector.INPUT_NAME],
                output_names=[detector.OUTPUT_NAME], dynamic=True, random_trials=1)
    return path


def _int8(onnx_path: Path, calib: np.ndarray, out: Path) -> tuple[Path, Path]:
    from ..calibrate import calibrate
    from ..quantize import quantize_qdq

    table = out.with_suffix(".calib.json")
    calibrate(onnx_path, calib, "entropy", output=table, batch_size=32)
    quantize_qdq(onnx_path, table, out)  # the placement keeps the detection decode out of INT8 by itself
    return out, table


def finetune_2to4(model, steps: int, seed: int = 0, log: Callable[[str], None] = info):
    """2:4-prune ``model`` in place and fine-tune it ``steps`` batches of 64 on fresh training frames with the
    detection loss (the masks held by the optimizer hook); returns the model in eval mode."""
    import torch

    from ..examples import detector_loss, mnist_det
    from ..sparsity import prune_2to4

    pruned = prune_2to4(model)
    data = mnist_det.generate("train", 64 * min(steps, 40), seed=seed + 100)
    x = torch.from_numpy(data.nchw())
    tb, tl = (torch.from_numpy(a) for a in detector_loss.build_targets(data.boxes, data.labels, mnist_det.SIZE))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / steps))
    handle = pruned.masks.attach(opt)
    rng = np.random.default_rng(seed)
    model.train()
    try:
        for step in range(steps):
            idx = rng.choice(len(x), 64, replace=False)
            loss, _ = detector_loss.detection_loss(model(x[idx]), tb[idx], tl[idx], mnist_det.NUM_CLASSES)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if (step + 1) % 25 == 0:
                log(f"2:4 fine-tune step {step + 1}/{steps}: loss {float(loss.detach()):.3f}")
    finally:
        handle.remove()
        model.eval()
    pruned.masks.verify()
    return model, len(pruned.pruned_layers)


def _latency(path: Path) -> float:
    from ..runtime import Runtime
    from ..runtime.benchmark import BenchConfig, bench_runtime

    with Runtime.open(path, threads=1) as rt:
        return bench_runtime(rt, BenchConfig(warmup=5, iterations=50, batch=1, energy=False))["latency_ms"]["median"]


def _row(name: str, path: Path, data: DetectionData, reference: Path | None) -> dict:
    t0 = time.perf_counter()
    res = evaluate_detection(path, data, reference)
    row = {"target": name, "artifact": path.name, "map50": res["map50"], "map": res["map"],
           "size_bytes": path.stat().st_size, "latency_p50_ms": _latency(path)}
    if reference is not None:
        row["map50_drop_points"] = res["map50_drop_points"]
        row["agreement"] = res["agreement"]["agreement"]
    info(f"demo: {name}: mAP@0.5 {100 * res['map50']:.2f} % ({time.perf_counter() - t0:.0f} s)")
    return row


def _skipped(name: str, why: str) -> dict:
    return {"target": name, "status": "not built", "reason": why}


def _tflite_rows(fp32: Path, calib_x: np.ndarray, table: Path, data: DetectionData, out: Path) -> list[dict]:
    if not available("ai_edge_litert"):
        return [_skipped(f"pi5-{p}", "ai-edge-litert is not installed") for p in ("fp32", "fp16", "int8")]
    from ..convert import convert_tflite

    rows = []
    for precision in ("fp32", "fp16", "int8"):
        path = out / f"detector.{precision}.tflite"
        try:
            convert_tflite(fp32, path, precision=precision, data=calib_x if precision == "int8" else None,
                           calib=str(table) if precision == "int8" else None)
        except JetsonkitError as exc:
            rows.append(_skipped(f"pi5-{precision}", str(exc).splitlines()[0][:200]))
            continue
        rows.append(_row(f"pi5-{precision}", path, data, fp32))
    return rows


def _jetson_row(qdq: Path, out: Path) -> dict:
    from ..engine import BuildSettings, InputRange, build_engine, build_spec_for
    from ..examples import detector
    from ..pipeline.steps import tensorrt_buildable

    rest = (3, 96, 96)
    options = BuildSettings(precision="int8", sparsity=True, profiles=[
        {detector.INPUT_NAME: InputRange(detector.INPUT_NAME, (1, *rest), (1, *rest), (8, *rest))}])
    reason = tensorrt_buildable()
    if reason is None:
        built = build_engine(qdq, out / "jetson-orin.engine", options)
        return {"target": "jetson-orin", "status": "built", "artifact": Path(built.engine_path).name}
    spec = build_spec_for(qdq, options, TRT_VERSION)
    nms = ("NMS: numpy after the engine (same as every row); with the NonMaxSuppression tail "
           "(jetsonkit.detect.onnx_nms) TensorRT >= 8.6 parses it as INMSLayer, older versions need "
           "EfficientNMS_TRT")
    write_text_atomic(out / "jetson-orin.build-spec.txt", spec.to_text() + f"\n{nms}\n")
    return {"target": "jetson-orin", "status": "build spec only", "reason": reason,
            "build_spec_file": "jetson-orin.build-spec.txt", "trt_version": TRT_VERSION}


def run_detect_demo(out_dir: str | Path, *, eval_count: int = 500, calib_count: int = 256,
                    finetune_steps: int = 150) -> dict:
    """Build and measure every target (see the module docstring); writes ``detect-report.json`` and returns it."""
    from ..examples import detector, mnist_det

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_detection_data(f"mnist_det:test:{eval_count}")
    calib = mnist_det.generate("train", calib_count, seed=7)
    calib_x = calibration_batch(DetectionData(list(calib.images), calib.coco(), "calibration"), (96, 96))
    model = detector.build_model()
    fp32 = _export(model, out / "detector.onnx")
    rows = [_row("cpu-fp32", fp32, data, None)]
    qdq, table = _int8(fp32, calib_x, out / "detector.qdq.onnx")
    rows.append(_row("cpu-int8", qdq, data, fp32))
    if available("torch"):
        sparse_model, layers = finetune_2to4(copy.deepcopy(model), finetune_steps)
        sparse = _export(sparse_model, out / "detector.2to4.onnx")
        sparse_qdq, _ = _int8(sparse, calib_x, out / "detector.2to4.qdq.onnx")
        rows.append({**_row("cpu-int8-2to4", sparse_qdq, data, fp32), "pruned_layers": layers,
                     "finetune_steps": finetune_steps})
    rows += _tflite_rows(fp32, calib_x, table, data, out)
    rows.append(_jetson_row(qdq, out))
    report = {"model": "jetsonkit.examples.detector", "data": data.name, "images": len(data), "rows": rows}
    write_json_atomic(out / "detect-report.json", report)
    return report


def table_text(report: dict) -> str:
    """The report as a plain-text table."""
    lines = [f"{'target':<15}{'mAP@0.5':>9}{'mAP@.5:.95':>11}{'drop pts':>9}{'agree':>7}{'size KB':>9}{'p50 ms':>8}"]
    for r in report["rows"]:
        if "map50" not in r:
            lines.append(f"{r['target']:<15}{r['status']}: {r.get('reason', '')}")
            continue
        drop = f"{r['map50_drop_points']:+.2f}" if "map50_drop_points" in r else "-"
        agree = f"{100 * r['agreement']:.0f}%" if "agreement" in r else "-"
        lines.append(f"{r['target']:<15}{100 * r['map50']:>8.2f}%{100 * r['map']:>10.2f}%{drop:>9}{agree:>7}"
                     f"{r['size_bytes'] / 1024:>9.0f}{r['latency_p50_ms']:>8.2f}")
    return "\n".join(lines)
