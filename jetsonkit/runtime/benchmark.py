"""Benchmark any Runtime the way trtexec reports an engine, and compare several model files in one table.

Per model: warm-up, then a fixed number of iterations or a duration; ``streams`` requests in flight at once
(caller threads on CPU backends, execution contexts / CUDA streams on TensorRT). Reported: throughput (queries/s
and inferences/s = queries x batch), host latency min / mean / median / p90 / p95 / p99 / max (wall clock around
each request), on TensorRT also enqueue time and the GPU's H2D / compute / D2H from CUDA events, the process's peak
resident memory, and on a Jetson the energy per inference from the board's power rails (``jetsonkit.runtime.power``).
"""

from __future__ import annotations

import os
import platform
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import InputSpecError, UsageError
from .base import Runtime
from .tensors import TensorInfo

PERCENTILES = (50, 90, 95, 99)


@dataclass
class BenchConfig:
    """What to run: counts are per model."""

    warmup: int = 10
    iterations: int | None = 200
    duration_s: float | None = None  # when set, run until this many seconds passed (at least `iterations` if set)
    batch: int = 1
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # explicit input shapes by name
    streams: int = 1
    energy: bool = True
    idle_s: float = 1.0  # board power sampled this long before the run, to report energy above idle too
    power_root: str = "/sys"
    seed: int = 0

    def check(self) -> None:
        if self.warmup < 0 or self.batch < 1 or self.streams < 1:
            raise UsageError("bench: --warmup must be >= 0, --batch and --streams >= 1")
        if (self.iterations is None or self.iterations < 1) and not self.duration_s:
            raise UsageError("bench: give --iterations >= 1 or --duration > 0")
        if self.duration_s is not None and not self.duration_s > 0:
            raise UsageError(f"bench: --duration {self.duration_s} must be > 0 seconds", hint="e.g. --duration 10")
        if self.iterations is not None and self.iterations < 1:
            raise UsageError(f"bench: --iterations {self.iterations} must be >= 1", hint="e.g. --iterations 200")


def latency_stats_ms(samples_s: list[float] | np.ndarray) -> dict[str, float]:
    """min / mean / median / p90 / p95 / p99 / max in milliseconds (numpy's linear-interpolated percentiles)."""
    a = np.asarray(samples_s, dtype=np.float64) * 1e3
    if a.size == 0:
        return {}
    p50, p90, p95, p99 = np.percentile(a, PERCENTILES)
    return {"min": float(a.min()), "mean": float(a.mean()), "median": float(p50), "p90": float(p90),
            "p95": float(p95), "p99": float(p99), "max": float(a.max())}


def peak_rss_mb() -> float:
    """The process's peak resident set size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if platform.system() == "Darwin" else peak / 1024


def _input_shape(info: TensorInfo, cfg: BenchConfig, model: str) -> tuple[int, ...]:
    if info.name in cfg.shapes:
        shape = tuple(cfg.shapes[info.name])
        if cfg.batch != 1 and shape[:1] != (cfg.batch,):
            raise InputSpecError(f"{model}: --shape {info.name}:{'x'.join(map(str, shape))} and --batch {cfg.batch} "
                                 "disagree on the batch", hint="drop --batch, or make the shape's first axis match")
        return shape
    dims = []
    for axis, d in enumerate(info.shape):
        if isinstance(d, int):
            if axis == 0 and cfg.batch != 1 and d != cfg.batch:
                raise InputSpecError(f"{model}: input {info.name!r} has a fixed batch of {d}, --batch {cfg.batch} "
                                     "does not fit", hint="export the model with a dynamic batch or drop --batch")
            dims.append(d)
        elif axis == 0:
            dims.append(cfg.batch)
        else:
            raise InputSpecError(f"{model}: input {info.name!r} has a dynamic axis {axis} ({d})",
                                 hint=f"give its shape: --shape {info.name}:" + "x".join(
                                     str(cfg.batch) if i == 0 else (str(x) if isinstance(x, int) else "N")
                                     for i, x in enumerate(info.shape)))
    return tuple(dims)


def random_inputs(rt: Runtime, cfg: BenchConfig) -> dict[str, np.ndarray]:
    """Inputs of the right shapes and dtypes (normal noise for floats, small integers otherwise)."""
    rng = np.random.default_rng(cfg.seed)
    unknown = sorted(set(cfg.shapes) - {info.name for info in rt.inputs})
    if unknown:
        raise InputSpecError(f"{rt.label}: --shape names {', '.join(map(repr, unknown))}, which is not an input of "
                             f"the model (inputs: {', '.join(i.name for i in rt.inputs)})",
                             hint="use the model's input names")
    feed = {}
    for info in rt.inputs:
        shape = _input_shape(info, cfg, rt.label)
        if np.issubdtype(info.dtype, np.floating):
            feed[info.name] = rng.standard_normal(shape).astype(info.dtype)
        elif info.dtype == np.bool_:
            feed[info.name] = rng.integers(0, 2, shape).astype(np.bool_)
        else:
            feed[info.name] = rng.integers(0, 8, shape).astype(info.dtype)
    return feed


def _run_stream(call: Callable[[], Any], stop: Callable[[int], bool], out: list[float]) -> None:
    i = 0
    while not stop(i):
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
        i += 1


def _timed_loop(rt: Runtime, feed: dict[str, np.ndarray], cfg: BenchConfig) -> tuple[list[float], float]:
    """Run the measured loop on ``cfg.streams`` threads; return (per-request latencies, wall seconds)."""
    per_stream = None if cfg.iterations is None else -(-cfg.iterations // cfg.streams)
    deadline: list[float] = [0.0]

    def stop(i: int) -> bool:
        if cfg.duration_s:
            return time.perf_counter() >= deadline[0] and (per_stream is None or i >= per_stream)
        return i >= per_stream  # type: ignore[operator]

    samples: list[list[float]] = [[] for _ in range(cfg.streams)]
    call = lambda: rt.infer(feed)  # noqa: E731 - the request being timed
    start = time.perf_counter()
    deadline[0] = start + (cfg.duration_s or 0.0)
    if cfg.streams == 1:
        _run_stream(call, stop, samples[0])
    else:
        threads = [threading.Thread(target=_run_stream, args=(call, stop, s)) for s in samples]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [x for s in samples for x in s], time.perf_counter() - start


def bench_runtime(rt: Runtime, cfg: BenchConfig) -> dict[str, Any]:
    """Benchmark one open Runtime; returns a plain dict (the row of the table and the --json record)."""
    cfg.check()
    feed = random_inputs(rt, cfg)
    for _ in range(cfg.warmup):
        rt.infer(feed)
    gpu = getattr(rt, "timing", None)
    if gpu is not None:
        gpu.reset()
    from .power import EnergyMeter

    meter = EnergyMeter.detect(cfg.power_root) if cfg.energy else None
    idle_w = None
    if meter is not None and cfg.idle_s > 0:
        meter.start()
        time.sleep(cfg.idle_s)
        idle_w = meter.stop()["mean_power_w"]
    if meter is not None:
        meter.start()
    latencies, wall = _timed_loop(rt, feed, cfg)
    energy = meter.stop() if meter is not None else None
    queries = len(latencies)
    result: dict[str, Any] = {
        "model": str(rt.path), "backend": rt.backend, "batch": cfg.batch, "streams": cfg.streams,
        "inputs": {k: list(v.shape) for k, v in feed.items()}, "queries": queries, "wall_s": wall,
        "throughput_qps": queries / wall, "throughput_ips": queries * cfg.batch / wall,
        "latency_ms": latency_stats_ms(latencies), "peak_rss_mb": peak_rss_mb(),
    }
    if gpu is not None:
        result["gpu_ms"] = gpu.summary_ms()
    if energy is not None:
        inferences = queries * cfg.batch
        result["energy"] = {**energy, "mj_per_inference": energy["joules"] * 1e3 / inferences}
        if idle_w is not None:
            above = max(energy["joules"] - idle_w * energy["seconds"], 0.0)
            result["energy"].update(idle_power_w=idle_w, mj_per_inference_above_idle=above * 1e3 / inferences)
    else:
        from .power import energy_unavailable_reason

        result["energy"] = {"skipped": energy_unavailable_reason(cfg.power_root) if cfg.energy else "not requested"}
    return result


def bench_files(paths: list[str | os.PathLike], cfg: BenchConfig, backend: str | None = None,
                options: dict[str, Any] | None = None, on_start: Callable[[str], None] | None = None
                ) -> list[dict[str, Any]]:
    """Open each file in turn, benchmark it, close it; the results in the same order."""
    results = []
    for path in paths:
        if on_start is not None:
            on_start(str(path))
        opts = dict(options or {})
        with Runtime.open(path, backend=backend, **_options_for(path, backend, opts)) as rt:
            results.append(bench_runtime(rt, cfg))
    return results


def _options_for(path: str | os.PathLike, backend: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """Keep only the options the file's backend declares (``threads`` means something on each CPU backend)."""
    from .base import BACKENDS, backend_for
    import importlib

    module, cls = BACKENDS[backend_for(path, backend)]
    declared = getattr(importlib.import_module(module), cls).OPTIONS
    return {k: v for k, v in options.items() if k in declared}


def format_table(results: list[dict[str, Any]], isolated: bool = False) -> str:
    """Several models side by side: one column per model, one row per figure."""
    if not results:
        return ""
    rows: list[tuple[str, Callable[[dict], str]]] = [
        ("backend", lambda r: r["backend"]),
        ("input", lambda r: "; ".join(f"{k} {'x'.join(map(str, s))}" for k, s in r["inputs"].items())),
        ("queries", lambda r: str(r["queries"])),
        ("throughput (qps)", lambda r: f"{r['throughput_qps']:.1f}"),
        ("throughput (inf/s)", lambda r: f"{r['throughput_ips']:.1f}"),
    ]
    for key in ("min", "mean", "median", "p90", "p95", "p99", "max"):
        rows.append((f"latency {key} (ms)", lambda r, k=key: f"{r['latency_ms'][k]:.3f}"))
    for key in ("enqueue", "h2d", "compute", "d2h") if any("gpu_ms" in r for r in results) else ():
        rows.append((f"GPU {key} mean (ms)", lambda r, k=key: f"{r['gpu_ms'][k]['mean']:.3f}"
                     if k in r.get("gpu_ms", {}) else "-"))
    rows.append(("peak RSS (MB)", lambda r: f"{r['peak_rss_mb']:.0f}"))
    rows.append(("energy (mJ/inf)", lambda r: f"{r['energy']['mj_per_inference']:.2f}"
                 if "mj_per_inference" in r["energy"] else "-"))
    if any("mj_per_inference_above_idle" in r["energy"] for r in results):
        rows.append(("energy above idle (mJ/inf)", lambda r: f"{r['energy']['mj_per_inference_above_idle']:.2f}"
                     if "mj_per_inference_above_idle" in r["energy"] else "-"))
    header = ["", *(os.path.basename(r["model"]) for r in results)]
    body = [[name, *(fmt(r) for r in results)] for name, fmt in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    notes = sorted({r["energy"]["skipped"] for r in results if "skipped" in r["energy"]})
    out = [line(header), line(["-" * w for w in widths]), *map(line, body)]
    out += [f"energy: {n}" for n in notes]
    if not isolated:
        out.append("peak RSS: the process's high-water mark so far (models ran one after another in one process; "
                   "--isolate gives each its own)")
    return "\n".join(out)


def machine_summary() -> dict[str, Any]:
    """CPU model, core count, platform, date: printed with every benchmark."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    model = None
    try:
        with open("/proc/device-tree/model", "rb") as f:
            model = f.read().rstrip(b"\x00").decode(errors="replace")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "board": model, "platform": platform.platform(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
