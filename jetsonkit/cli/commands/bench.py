"""``jetsonkit bench model.{engine,onnx,tflite} [more ...]``: latency, throughput, memory (and energy on a Jetson)."""

from __future__ import annotations

from ..args import input_path

import argparse

NAME = "bench"
HELP = "benchmark model files (TensorRT / ONNX Runtime / LiteRT) side by side, like trtexec"
DESCRIPTION = (
    "Benchmark one or more model files in one run and print them side by side: throughput, latency min / mean / "
    "median / p90 / p95 / p99 / max, on TensorRT the GPU's H2D / compute / D2H and enqueue times, the process's "
    "peak memory, and on a Jetson the energy per inference from its INA3221 power monitors."
)


def _shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition(":")
    try:
        if not sep or not name:
            raise ValueError
        return name, tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected NAME:DxDxD, e.g. input:8x1x28x28") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "models", nargs="+", metavar="MODEL", help=".engine/.plan, .onnx or .tflite files")
    parser.add_argument("--backend", choices=["tensorrt", "onnxruntime", "litert"],
                        help="force a backend (default: from each file's suffix)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests first (default 10)")
    parser.add_argument("--iterations", type=int, default=None, help="timed requests per model (default 200)")
    parser.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="run each model this long instead of a fixed count")
    parser.add_argument("--batch", type=int, default=1, help="batch size for a dynamic first axis (default 1)")
    parser.add_argument("--shape", type=_shape, action="append", default=[], metavar="NAME:DxD...",
                        help="explicit input shape (repeatable), e.g. input:8x1x28x28")
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads of ONNX Runtime / LiteRT (default: the backend's own)")
    parser.add_argument("--streams", type=int, default=1,
                        help="requests in flight at once: caller threads (CPU) or execution contexts (TensorRT)")
    parser.add_argument("--no-energy", action="store_true", help="do not sample the Jetson power rails")
    parser.add_argument("--idle", type=float, metavar="SECONDS",
                        help="on a Jetson, sample idle board power this long first to report energy above idle too "
                             "(default 1)")
    parser.add_argument("--isolate", action="store_true",
                        help="benchmark each model in its own process, so peak memory is per model")


def _isolated(args: argparse.Namespace) -> list[dict]:
    """Run ``jetsonkit bench MODEL --json`` once per model in a fresh interpreter; collect its result."""
    import json
    import subprocess
    import sys

    from ...errors import BackendError
    from ..._progress import info

    passed = ["--warmup", str(args.warmup), "--batch", str(args.batch), "--streams", str(args.streams)]
    for flag, value in (("--iterations", args.iterations), ("--duration", args.duration), ("--threads", args.threads),
                        ("--backend", args.backend)):
        if value is not None:
            passed += [flag, str(value)]
    for name, dims in args.shape:
        passed += ["--shape", f"{name}:{'x'.join(map(str, dims))}"]
    passed += ["--no-energy"] if args.no_energy else ["--idle", str(1.0 if args.idle is None else args.idle)]
    results = []
    for model in args.models:
        info(f"bench: {model} (own process)")
        proc = subprocess.run([sys.executable, "-m", "jetsonkit", "bench", model, "--json", *passed],
                              capture_output=True, text=True)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise BackendError(f"bench of {model} in its own process failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no output'}")
        if not data.get("ok"):
            raise BackendError(f"bench of {model}: {data.get('error')}")
        results.append(data["results"][0])
    return results


def run(args: argparse.Namespace):
    from ...runtime.benchmark import BenchConfig, bench_files, format_table, machine_summary
    from .. import CommandResult
    from ..._progress import info
    from ...errors import UsageError

    if args.no_energy and args.idle is not None:
        raise UsageError("--idle samples idle power for the energy figures, which --no-energy turns off",
                         hint="drop one of them")
    if args.idle is not None and args.idle < 0:
        raise UsageError(f"--idle {args.idle} must be >= 0")
    iterations = args.iterations if args.iterations is not None else (None if args.duration else 200)
    cfg = BenchConfig(warmup=args.warmup, iterations=iterations, duration_s=args.duration, batch=args.batch,
                      shapes=dict(args.shape), streams=args.streams, energy=not args.no_energy,
                      idle_s=1.0 if args.idle is None else args.idle)
    cfg.check()
    options = {}
    if args.threads is not None:
        options["threads"] = args.threads
    if args.streams > 1:
        options["contexts"] = args.streams  # TensorRT: one execution context per stream
    if args.isolate and len(args.models) > 1:
        results = _isolated(args)
    else:
        results = bench_files(args.models, cfg, backend=args.backend, options=options,
                              on_start=lambda p: info(f"bench: {p}"))
    machine = machine_summary()
    text = format_table(results, isolated=args.isolate or len(args.models) == 1)
    text += f"\nmachine: {machine['cpu']}, {machine['cores']} cores" + \
            (f", {machine['board']}" if machine["board"] else "") + f"; {machine['date']}"
    return CommandResult(data={"machine": machine, "results": results}, text=text)
