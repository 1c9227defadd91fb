"""``jetsonkit build``: ONNX -> TensorRT engine (+ sidecar + build report), or ``--dry-run`` the build spec."""

from __future__ import annotations

import argparse

from ...engine.options import BuildSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import input_path, output_path
from ..build_args import add_build_flags, build_flag_values

NAME = "build"
HELP = "build a TensorRT engine (or print the build spec for a TensorRT version with --dry-run)"
DESCRIPTION = ("Build a TensorRT engine from an ONNX file, with a sidecar <engine>.json and a build report. "
               "--dry-run --trt-version 8.6|10.3|11.4 prints the exact settings that version needs, on any machine. "
               "trtexec spellings are accepted as aliases: --saveEngine, --minShapes/--optShapes/--maxShapes, --fp16, "
               "--int8, --best, --useDLACore, --allowGPUFallback, --timingCacheFile.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    input_path(p, "onnx", help="the ONNX model (a Q/DQ graph from `jetsonkit quantize` for INT8)")
    output_path(p, "-o", "--output", "--saveEngine", help="engine path (default: <onnx stem>.engine)")
    add_settings_arguments(p, BuildSettings)
    add_build_flags(p)
    p.add_argument("--force", action="store_true", help="rebuild even when the engine cache says it is up to date")
    p.add_argument("--dry-run", action="store_true", help="print the build spec; needs no TensorRT with --trt-version")


def run(args: argparse.Namespace) -> CommandResult:
    from ...engine.engine import run_build

    settings = from_args(BuildSettings, args, **build_flag_values(args))
    result = run_build(args.onnx, settings, args.output, dry_run=args.dry_run, force=args.force)
    return CommandResult(data=result.to_dict(), text=result.summary())
