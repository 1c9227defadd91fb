"""Benchmark any Runtime the way trtexec reports an engine, and compare several model files in one table: the bench
stage (:class:`BenchSettings`, :func:`run_bench`).

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
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import BackendError, InputSpecError
from ..settings import SettingError, check, option
from .base import Runtime
from .tensors import TensorInfo

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class BenchSettings:
    """What to run, per model: ``jetsonkit bench``'s flags and a recipe's ``bench`` section (warmup, iterations,
    batch, threads) are read off these fields (:mod:`jetsonkit.settings`), so their defaults and checks are these."""

    warmup: int = option(10, "untimed requests first", minimum=0)
    iterations: int | None = option(None, "timed requests per model (default 200; with --duration, none unless "
                                          "given)", minimum=1)
    duration: float | None = option(None, "run each model this long instead of a fixed count", metavar="SECONDS",
                                    recipe=False)
    batch: int = option(1, "batch size for a dynamic first axis", minimum=1)
    threads: int | None = option(None, "compute threads of ONNX Runtime / LiteRT (default: the backend's own)",
                                 minimum=1)
    streams: int = option(1, "requests in flight at once: caller threads (CPU) or execution contexts (TensorRT)",
                          minimum=1, recipe=False)
    no_energy: bool = option(False, "do not sample the Jetson power rails", recipe=False)
    idle: float | None = option(None, "on a Jetson, sample idle board power this long first to report energy "
                                      "above idle too (default 1)", minimum=0, metavar="SECONDS", recipe=False)
    backend: str | None = option(None, "force a backend (default: from each file's suffix)",
                                 choices=("tensorrt", "onnxruntime", "litert"), recipe=False)
    isolate: bool = option(False, "benchmark each model in its own process, so peak memory is per model",
                           recipe=False)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict, metadata={"recipe": False})  # --shape
    power_root: str = option("/sys", "where the power monitors are read (tests: a fake hwmon tree)", cli=False,
                             recipe=False)
    seed: int = option(0, "seed of the random inputs", cli=False, recipe=False)

    def validate(self) -> None:
        if self.duration is not None and not self.duration > 0:
            raise SettingError("duration", f"duration {self.duration} must be > 0 seconds", hint="e.g. --duration 10")
        if self.no_energy and self.idle is not None:
            raise SettingError("idle", "--idle samples idle power for the energy figures, which --no-energy turns off",
                               hint="drop one of them")

    @property
    def timed_iterations(self) -> int | None:
        """Timed requests per model: ``iterations``, else 200 (none with a ``duration``)."""
        return self.iterations if self.iterations is not None else (None if self.duration else 200)

    @property
    def idle_s(self) -> float:
        return 1.0 if self.idle is None else self.idle

    def recipe_dict(self) -> dict:
        """The recipe section's values as they ran (the report's ``bench`` and the measurement's stage key)."""
        return {"iterations": self.timed_iterations, "warmup": self.warmup, "batch": self.batch,
                "threads": self.threads}

    def argv(self) -> list[str]:
        """The ``jetsonkit bench`` flags that ask for these settings (one model per process with ``--isolate``)."""
        out = ["--warmup", str(self.warmup), "--batch", str(self.batch), "--streams", str(self.streams)]
        for name, value in (("--iterations", self.iterations), ("--duration", self.duration),
                            ("--threads", self.threads), ("--backend", self.backend), ("--idle", self.idle)):
            out += [name, str(value)] if value is not None else []
        out += [x for name, dims in self.shapes.items() for x in ("--shape", f"{name}:{'x'.join(map(str, dims))}")]
        return out + (["--no-energy"] if self.no_energy else [])


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


def _input_shape(info: TensorInfo, cfg: BenchSettings, model: str) -> tuple[int, ...]:
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


def random_inputs(rt: Runtime, cfg: BenchSettings) -> dict[str, np.ndarray]:
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


def _timed_loop(rt: Runtime, feed: dict[str, np.ndarray], cfg: BenchSettings) -> tuple[list[float], float]:
    """Run the measured loop on ``cfg.streams`` threads; return (per-request latencies, wall seconds)."""
    count = cfg.timed_iterations
    per_stream = None if count is None else -(-count // cfg.streams)
    deadline: list[float] = [0.0]

    def stop(i: int) -> bool:
        if cfg.duration:
            return time.perf_counter() >= deadline[0] and (per_stream is None or i >= per_stream)
        return i >= per_stream  # type: ignore[operator]

    samples: list[list[float]] = [[] for _ in range(cfg.streams)]
    call = lambda: rt.infer(feed)  # noqa: E731 - the request being timed
    start = time.perf_counter()
    deadline[0] = start + (cfg.duration or 0.0)
    if cfg.streams == 1:
        _run_stream(call, stop, samples[0])
    else:
        threads = [threading.Thread(target=_run_stream, args=(call, stop, s)) for s in samples]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return [x for s in samples for x in s], time.perf_counter() - start


def bench_runtime(rt: Runtime, cfg: BenchSettings) -> dict[str, Any]:
    """Benchmark one open Runtime; returns a plain dict (the row of the table and the --json record)."""
    check(cfg)
    feed = random_inputs(rt, cfg)
    for _ in range(cfg.warmup):
        rt.infer(feed)
    gpu = getattr(rt, "timing", None)
    if gpu is not None:
        gpu.reset()
    from .power import EnergyMeter

    meter = EnergyMeter.detect(cfg.power_root) if not cfg.no_energy else None
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

        result["energy"] = {"skipped": energy_unavailable_reason(cfg.power_root) if not cfg.no_energy
                            else "not requested"}
    return result


def bench_files(paths: list[str | os.PathLike], cfg: BenchSettings,
                on_start: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Open each file in turn (on ``cfg.backend`` or its suffix's; ``cfg.threads`` compute threads, ``cfg.streams``
    TensorRT execution contexts), benchmark it, close it; the results in the same order."""
    options: dict[str, Any] = {"threads": cfg.threads} if cfg.threads is not None else {}
    if cfg.streams > 1:
        options["contexts"] = cfg.streams  # TensorRT: one execution context per stream
    results = []
    for path in paths:
        if on_start is not None:
            on_start(str(path))
        with Runtime.open(path, backend=cfg.backend, **_options_for(path, cfg.backend, options)) as rt:
            results.append(bench_runtime(rt, cfg))
    return results


def _isolated(paths: list[str | os.PathLike], cfg: BenchSettings) -> list[dict[str, Any]]:
    """Run ``jetsonkit bench MODEL --json`` once per model in a fresh interpreter; collect its result."""
    import json
    import subprocess
    import sys

    from .._progress import info

    results = []
    for path in paths:
        info(f"bench: {path} (own process)")
        proc = subprocess.run([sys.executable, "-m", "jetsonkit", "bench", str(path), "--json", *cfg.argv()],
                              capture_output=True, text=True)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise BackendError(f"bench of {path} in its own process failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no output'}")
        if not data.get("ok"):
            raise BackendError(f"bench of {path}: {data.get('error')}")
        results.append(data["results"][0])
    return results


@dataclass
class BenchResult:
    """What the bench stage hands back: one result per model (in order) and the machine they ran on."""

    results: list[dict[str, Any]]
    machine: dict[str, Any]
    isolated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "results": self.results}

    def summary(self) -> str:
        m = self.machine
        return format_table(self.results, isolated=self.isolated) + f"\nmachine: {m['cpu']}, {m['cores']} cores" + \
            (f", {m['board']}" if m["board"] else "") + f"; {m['date']}"


def run_bench(paths: list[str | os.PathLike], settings: BenchSettings = BenchSettings()) -> BenchResult:
    """The bench stage: benchmark every model file with ``settings``, side by side (each in its own process with
    ``settings.isolate``, so peak memory is per model)."""
    from .._progress import info

    check(settings)
    isolated = settings.isolate and len(paths) > 1
    results = _isolated(paths, settings) if isolated else \
        bench_files(paths, settings, on_start=lambda p: info(f"bench: {p}"))
    return BenchResult(results, machine_summary(), isolated=settings.isolate or len(paths) == 1)


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
