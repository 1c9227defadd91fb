#!/usr/bin/env python3
"""Q/DQ benchmark: jetsonkit.quantize_qdq beside ONNX Runtime's QDQ quantizer, accuracy, sizes, sensitivity cost.

In one run on this machine:
1. Q/DQ insertion time on the ResNet-50-style 224x224 test net (``tests/support/testnets.py: resnet50_like``,
   50 weighted layers) and on the MNIST CNN, median of ``--repeat``: jetsonkit (placement + int8 weights + checker)
   beside ONNX Runtime's ``QDQQuantizer`` given the same activation ranges (insertion only, no calibration;
   per-channel weights, symmetric int8) — its internal class, so the peer column says n/a if its API moves;
2. MNIST accuracy on the real 10k test split in ONNX Runtime: FP32 and the Q/DQ model with each calibration
   method (``jetsonkit.calibrate`` on 1,000 real training images), with the sizes of weights and model files;
3. sensitivity cost as a multiple of one FP32 evaluation pass: the sensitive MNIST net (full MNIST test split,
   accuracy budget 0.3 points) in both modes: one-at-a-time ranked on all
   10k images, all-but-one ranked on one batch of 256, and the ResNet-50-style net in the fast mode (all-but-one, one
   batch of 8 synthetic images, output-error budget) unless --quick.

    python scripts/bench/quantize.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from jetsonkit.doctor import machine_summary as machine  # noqa: E402


def export(module, shape, path: Path) -> Path:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros(*shape),), str(path), input_names=["input"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ort_qdq_insert(path: Path, ranges: dict[str, float], out: Path) -> None:
    """ONNX Runtime's QDQ quantizer fed ready-made ranges (what quantize_static does after calibration)."""
    import onnx
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer

    model = onnx.load(str(path))
    data = {k: TensorData(lowest=np.array(-v, np.float32), highest=np.array(v, np.float32)) for k, v in ranges.items()}
    quantizer = QDQQuantizer(model, True, False, QuantType.QInt8, QuantType.QInt8, TensorsData(CalibrationMethod.MinMax, data),
                             [], [], ["Conv", "Gemm", "MatMul", "Add", "GlobalAveragePool"],
                             {"ActivationSymmetric": True, "WeightSymmetric": True})
    onnx.save(quantizer.quantize_model(), str(out))


def all_activation_ranges(path: Path, x: np.ndarray) -> dict[str, float]:
    """max |x| of every float tensor (ORT's quantizer asks for ranges of more tensors than jetsonkit needs)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    names = [o for n in model.graph.node for o in n.output]
    del model.graph.output[:]
    model.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"input": x})
    ranges = {n: float(np.abs(o).max()) for n, o in zip(names, outs) if o.dtype == np.float32}
    ranges["input"] = float(np.abs(x).max())
    return ranges


def insertion_rows(models: dict[str, tuple[Path, np.ndarray]], folder: Path, repeat: int) -> list[str]:
    from jetsonkit.quantize.placement import quantizable_nodes
    from jetsonkit.quantize.qdq import quantize_qdq

    import onnx

    rows = ["| model | quantizable layers | jetsonkit quantize_qdq (s) | ORT QDQQuantizer (s) |", "|---|---|---|---|"]
    for name, (path, x) in models.items():
        ranges = all_activation_ranges(path, x)
        layers = len(quantizable_nodes(onnx.load(str(path))))
        ours = median_time(lambda: quantize_qdq(path, ranges, folder / f"{name}.qdq.onnx"), repeat)
        try:
            peer = f"{median_time(lambda: ort_qdq_insert(path, ranges, folder / f'{name}.ort.onnx'), repeat):.3f}"
        except Exception as exc:  # noqa: BLE001 - internal peer API: report, do not fail the benchmark
            peer = f"n/a ({type(exc).__name__})"
        rows.append(f"| {name} | {layers} | {ours:.3f} | {peer} |")
    return rows


def accuracy_rows(mnist_path: Path, folder: Path, limit: int | None) -> list[str]:
    from jetsonkit.calibrate import calibrate
    from jetsonkit.evaluate import top1
    from jetsonkit.examples import mnist
    from jetsonkit.quantize.qdq import quantize_qdq

    xc, _ = mnist.load_split("train", limit=1000)
    x, y = mnist.load_split("test", limit=limit)
    fp32 = top1(mnist_path, x, y)
    rows = [f"MNIST test split, {len(y)} images; FP32 model {mnist_path.stat().st_size / 1e6:.3f} MB",
            "| model | top-1 | drop (points) | weights fp32 -> int8 (MB) | model file (MB) |", "|---|---|---|---|---|",
            f"| FP32 | {100 * fp32:.2f} % | 0 | {0:.3f} | {mnist_path.stat().st_size / 1e6:.3f} |"]
    for method in ("entropy", "percentile", "mse", "minmax"):
        table = calibrate(mnist_path, xc, method)
        r = quantize_qdq(mnist_path, table, folder / f"mnist.{method}.qdq.onnx")
        acc = top1(r.path, x, y)
        rows.append(f"| Q/DQ {method} | {100 * acc:.2f} % | {100 * (fp32 - acc):+.2f} | "
                    f"{r.weights_fp32_bytes / 1e6:.3f} -> {r.weights_int8_bytes / 1e6:.3f} | {r.output_bytes / 1e6:.3f} |")
    rows[3] = rows[3].replace(f"| {0:.3f} |", f"| {r.weights_fp32_bytes / 1e6:.3f} (fp32) |", 1)
    return rows


def sensitivity_rows(sens_path: Path, resnet: tuple[Path, np.ndarray] | None) -> list[str]:
    from jetsonkit.calibrate import calibrate
    from jetsonkit.examples import mnist
    from jetsonkit.quantize.sensitivity import search_mixed_precision

    xc, _ = mnist.load_split("train", limit=1000)
    x, y = mnist.load_split("test")
    table = calibrate(sens_path, xc, "entropy")
    rows = ["| model | mode | budget | full INT8 | plan | kept | evaluations | time (s) | x FP32 pass |",
            "|---|---|---|---|---|---|---|---|---|"]
    for mode, batch in (("one_at_a_time", None), ("all_but_one", 256)):
        r = search_mixed_precision(sens_path, table, x, y, budget=0.3, mode=mode, batch=batch)
        ranked = "all 10k" if batch is None else f"1 batch of {batch}"
        rows.append(f"| sensitive MNIST (ranked on {ranked}) | {mode} | 0.3 points | {r.full_int8:.2f} | {r.final:.2f} | "
                    f"{', '.join(r.kept)} | {r.evaluations} | {r.seconds:.2f} | {r.cost_in_fp32_passes:.1f} |")
    if resnet is not None:
        path, xr = resnet
        ranges = calibrate(path, xr, "minmax")
        r = search_mixed_precision(path, ranges, xr, budget=0.02, mode="all_but_one", batch=None)
        rows.append(f"| resnet50_like (8 imgs) | all_but_one | 0.02 rel. error | {r.full_int8:.4f} | {r.final:.4f} | "
                    f"{len(r.kept)} layer(s) | {r.evaluations} | {r.seconds:.1f} | {r.cost_in_fp32_passes:.1f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 test images, no ResNet sensitivity, 1 repeat")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    import logging
    from jetsonkit.examples import mnist, sensitive
    from tests.support import testnets

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    print(f"# jetsonkit quantize benchmark — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mnist_path = export(mnist.build_model(), (1, 1, 28, 28), folder / "mnist.onnx")
        resnet_path = export(testnets.resnet50_like(), (1, 3, 224, 224), folder / "resnet.onnx")
        xr = np.random.default_rng(0).standard_normal((8, 3, 224, 224)).astype(np.float32)
        xm = mnist.load_split("train", limit=256)[0]
        print("## Q/DQ insertion (median of", repeat, "runs; ranges given)")
        print("\n".join(insertion_rows({"mnist_cnn": (mnist_path, xm), "resnet50_like_224": (resnet_path, xr)},
                                       folder, repeat)))
        print("\n## Accuracy and size (ONNX Runtime, CPU)")
        print("\n".join(accuracy_rows(mnist_path, folder, 2000 if args.quick else None)))
        sens_path = export(sensitive.build_model(), (1, 1, 28, 28), folder / "sensitive.onnx")
        print("\n## Sensitivity search cost")
        print("\n".join(sensitivity_rows(sens_path, None if args.quick else (resnet_path, xr))))


if __name__ == "__main__":
    main()
