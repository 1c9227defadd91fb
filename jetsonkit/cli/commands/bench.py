"""``jetsonkit bench model.{engine,onnx,tflite} [more ...]``: latency, throughput, memory (and energy on a Jetson)."""

from __future__ import annotations

import argparse

from ...runtime.benchmark import BenchSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import input_path

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
    add_settings_arguments(parser, BenchSettings)
    parser.add_argument("--shape", type=_shape, action="append", default=[], metavar="NAME:DxD...",
                        help="explicit input shape (repeatable), e.g. input:8x1x28x28")


def run(args: argparse.Namespace) -> CommandResult:
    from ...runtime.benchmark import run_bench

    result = run_bench(args.models, from_args(BenchSettings, args, shapes=dict(args.shape)))
    return CommandResult(data=result.to_dict(), text=result.summary())
