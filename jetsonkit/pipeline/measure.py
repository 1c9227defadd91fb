"""Measure one artifact: accuracy on the recipe's evaluation data and latency, through one and the same Runner.

Every artifact (ONNX, Q/DQ ONNX, .tflite, TensorRT engine) is opened once with :meth:`jetsonkit.runtime.Runtime.open`;
the same open Runtime predicts the whole evaluation set (in batches of 500) and is then benchmarked with
:func:`jetsonkit.runtime.benchmark.bench_runtime` (batch, warm-up and iterations from the recipe's ``bench``).
Each latency figure carries the machine it was measured on, when, and the 1-minute load average just before and
just after the benchmark: a p99 far above p50 on a loaded machine is the other processes, not the model.
Accuracy is top-1 on the labels, top-1 agreement with the FP32 reference's outputs, a user function, or for a
detection recipe mAP (with mAP@0.5, mAP@0.5:0.95 and box agreement beside it; :mod:`.detection`).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._progress import progress
from ..errors import ConfigError, DataError, InputError, JetsonkitError
from ..modelspec import import_function
from .recipe import Recipe

__all__ = ["metric_function", "predict_with", "measure_artifact"]


def metric_function(recipe: Recipe) -> Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], float]:
    """``f(outputs, labels, reference_outputs) -> float`` for the recipe's metric."""
    metric = recipe.evaluation.metric
    if metric == "top1":
        def top1(out, y, ref):
            if y is None:
                raise DataError(f"{recipe.where('evaluation', 'metric')}: metric top1 needs labels, "
                                f"and {recipe.evaluation.data!r} has none", hint="use metric: agreement")
            return float((out.reshape(len(out), -1).argmax(1) == y.reshape(-1)).mean())
        return top1
    if metric == "agreement":
        def agree(out, y, ref):
            return float((out.reshape(len(out), -1).argmax(1) == ref.reshape(len(ref), -1).argmax(1)).mean())
        return agree
    try:
        fn = import_function(metric)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{recipe.where('evaluation', 'metric')}: cannot load metric {metric!r}: {exc}",
                          hint="give module:function importable from the current folder or PYTHONPATH") from exc
    return lambda out, y, ref: fn(out, y)


def _feed_layout(runtime: Any, x: np.ndarray) -> np.ndarray:
    """NCHW evaluation data for a model that takes NHWC (a .tflite converted with input_layout nhwc)."""
    shape = tuple(runtime.inputs[0].shape)
    if x.ndim == 4 and len(shape) == 4 and shape[1:] != x.shape[1:] and shape[1:] == (x.shape[2], x.shape[3], x.shape[1]):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return x


def predict_with(runtime: Any, x: np.ndarray, batch: int = 500) -> np.ndarray:
    """The first output of ``runtime`` for every sample of ``x``."""
    x = _feed_layout(runtime, x)
    name = runtime.inputs[0].name
    starts = range(0, len(x), batch)
    outs = [next(iter(runtime.infer({name: x[i:i + batch]}).values()))
            for i in progress(starts, f"evaluate {runtime.path.name}", total=len(starts))]
    return np.concatenate([np.asarray(o, dtype=np.float32) for o in outs], axis=0)


def _score(recipe: Recipe, label: str, out: np.ndarray, y, ref) -> float:
    try:
        value = metric_function(recipe)(out, y, ref)
    except JetsonkitError:
        raise
    except Exception as exc:  # the user's metric failed: say on which artifact, keep the traceback for --debug
        raise InputError(f"evaluation metric {recipe.evaluation.metric!r} raised {type(exc).__name__} on artifact "
                         f"{label}: {exc}", hint="fix the metric function (rerun with --debug for the traceback)"
                         ) from exc
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"evaluation metric {recipe.evaluation.metric!r} returned {value!r} on artifact {label}, "
                         "not a number", hint="return a float (a fraction in [0, 1])") from exc


def measure_artifact(recipe: Recipe, path: Path, x: np.ndarray, y: np.ndarray | None,
                     reference: np.ndarray | None, task: Any = None) -> tuple[dict, np.ndarray]:
    """(figures, outputs) of ``path``: accuracy, latency, throughput, size; one Runtime for all of them.
    ``task``: a :class:`~.detection.DetectionEval` for a detection recipe (``x`` is then its frames)."""
    from ..runtime import Runtime
    from ..runtime.benchmark import bench_runtime

    b = recipe.bench
    threads = {"threads": b.threads} if Path(path).suffix in (".onnx", ".tflite") and b.threads else {}
    with Runtime.open(path, **threads) as rt:
        out = predict_with(rt, x)
        if task is not None:
            quality = task.score(out, reference)
        else:
            quality = {"accuracy": _score(recipe, Path(path).name, out, y,
                                          reference if reference is not None else out)}
        load_before = _load_1m()
        bench = bench_runtime(rt, replace(b, no_energy=True))
        load_after = _load_1m()
    lat = bench["latency_ms"]
    return {**quality, "samples": int(len(x)), "latency_p50_ms": lat["median"],
            "latency_p99_ms": lat["p99"], "latency_mean_ms": lat["mean"],
            "throughput_ips": bench["throughput_ips"], "bench_batch": b.batch, "bench_iterations": bench["queries"],
            "backend": bench["backend"], "size_bytes": os.path.getsize(path), "machine": _machine(),
            "load_avg_1m": [load_before, load_after],
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}, out


def _load_1m() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _machine() -> dict:
    from ..runtime.benchmark import machine_summary

    m = machine_summary()
    return {"cpu": m["cpu"], "cores": m["cores"], "board": m["board"], "platform": m["platform"]}
