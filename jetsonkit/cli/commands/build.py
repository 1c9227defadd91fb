"""``jetsonkit build``: ONNX -> TensorRT engine (+ sidecar + build report), or ``--dry-run`` the build spec for a version."""

from __future__ import annotations

import argparse

from ...engine.nms import NMS_CHOICES
from ...engine.options import INT8_MODES, PRECISIONS
from ..args import input_path, output_path

NAME = "build"
HELP = "build a TensorRT engine (or print the build spec for a TensorRT version with --dry-run)"
DESCRIPTION = ("Build a TensorRT engine from an ONNX file, with a sidecar <engine>.json and a build report. "
               "--dry-run --trt-version 8.6|10.3|11.4 prints the exact settings that version needs, on any machine. "
               "trtexec spellings are accepted as aliases: --saveEngine, --minShapes/--optShapes/--maxShapes, --fp16, "
               "--int8, --best, --useDLACore, --allowGPUFallback, --timingCacheFile.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    input_path(p, "onnx", help="the ONNX model (a Q/DQ graph from `jetsonkit quantize` for INT8)")
    output_path(p, "-o", "--output", "--saveEngine", help="engine path (default: <onnx stem>.engine)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="best = INT8 + FP16 (layers without INT8 fall back to FP16, not FP32)")
    p.add_argument("--int8-mode", choices=INT8_MODES, default="qdq",
                   help="qdq (all versions) or legacy implicit INT8 from --calib (TensorRT <= 10.x)")
    input_path(p, "--calib", help="jetsonkit calibration table (JSON) for the implicit INT8 modes")
    p.add_argument("--calib-shape", action="append", default=[], metavar="NAME:SHAPE",
                   help="input shape calibration used (checked against the profiles), e.g. input:32x1x28x28")
    input_path(p, "--plan", dest="precision_plan", help="precision plan file (per-layer precisions)")
    p.add_argument("--sparsity", action="store_true", help="enable 2:4 sparse kernels (SPARSE_WEIGHTS)")
    p.add_argument("--profile", action="append", default=[], metavar="NAME:MIN,OPT,MAX",
                   help="optimization profile shapes for one input; repeat an input name for another profile")
    p.add_argument("--workspace", help="workspace memory pool, e.g. 1GiB (default: min(1 GiB, RAM/4) on Jetson)")
    p.add_argument("--dla", "--useDLACore", type=int, metavar="CORE",
                   help="run on this DLA core (GPU fallback unless --no-gpu-fallback)")
    p.add_argument("--no-gpu-fallback", action="store_true")
    input_path(p, "--timing-cache", "--timingCacheFile", help="timing cache file to load (if present) and save")
    t = p.add_argument_group("trtexec aliases", "trtexec's spellings of the options above")
    for flag, value in (("--fp16", "fp16"), ("--int8", "int8"), ("--best", "best")):
        t.add_argument(flag, dest="precision", action="store_const", const=value, help=f"= --precision {value}")
    t.add_argument("--allowGPUFallback", action="store_true", help="= the default GPU fallback of --dla")
    for flag in ("--minShapes", "--optShapes", "--maxShapes"):
        t.add_argument(flag, metavar="NAME:SHAPE[,NAME:SHAPE]", help="= --profile NAME:MIN,OPT,MAX, per input")
    p.add_argument("--version-compatible", action="store_true", help="engine loads on later TensorRT of the same major")
    p.add_argument("--hardware-compat", action="store_true", help="engine runs on any Ampere or later GPU")
    p.add_argument("--opt-level", type=int, help="builder optimisation level 0..5 (TensorRT >= 8.6)")
    p.add_argument("--nms", choices=NMS_CHOICES, default="auto",
                   help="where a NonMaxSuppression op runs: auto = INMSLayer on TensorRT 10+, EfficientNMS_TRT on 8.x")
    p.add_argument("--force", action="store_true", help="rebuild even when the engine cache says it is up to date")
    p.add_argument("--dry-run", action="store_true", help="print the build spec; needs no TensorRT with --trt-version")
    p.add_argument("--trt-version", help="the build spec for this TensorRT version (8.6, 10.3, 11.4, ...) instead of the installed one")


def _options(args):
    from ...engine.options import BuildSettings, parse_profiles, parse_shape, parse_size
    from ...errors import UsageError

    shapes = {}
    for spec in args.calib_shape:
        name, sep, shape = spec.rpartition(":")
        if not sep or not name:
            raise UsageError(f"--calib-shape {spec!r} does not parse", hint="write NAME:SHAPE, e.g. input:32x1x28x28")
        shapes[name] = parse_shape(shape)
    return BuildSettings(
        precision=args.precision, int8_mode=args.int8_mode, calibration=args.calib, calibration_shapes=shapes,
        precision_plan=args.precision_plan, sparsity=args.sparsity,
        profiles=parse_profiles(args.profile + trtexec_profiles(args.minShapes, args.optShapes, args.maxShapes)),
        workspace=parse_size(args.workspace) if args.workspace else None, dla_core=args.dla,
        gpu_fallback=not args.no_gpu_fallback, timing_cache=args.timing_cache, version_compatible=args.version_compatible,
        hardware_compatibility="ampere+" if args.hardware_compat else None, optimization_level=args.opt_level,
        nms=args.nms)


def trtexec_profiles(low: str | None, opt: str | None, high: str | None) -> list[str]:
    """trtexec's ``--minShapes=in:1x3x224x224,mask:1x1 --optShapes=... --maxShapes=...`` as ``--profile`` specs."""
    from ...errors import UsageError

    given = [s for s in (low, opt, high) if s]
    if not given:
        return []
    if len(given) != 3:
        raise UsageError("--minShapes, --optShapes and --maxShapes go together",
                         hint="give all three, e.g. --minShapes input:1x1x28x28 --optShapes input:8x1x28x28 "
                         "--maxShapes input:64x1x28x28")

    def table(text: str, flag: str) -> dict[str, str]:
        out = {}
        for part in text.split(","):
            name, sep, shape = part.strip().rpartition(":")
            if not sep or not name:
                raise UsageError(f"{flag} {text!r} does not parse", hint="write NAME:SHAPE[,NAME:SHAPE], e.g. input:1x3x224x224")
            out[name.strip("'\"")] = shape
        return out

    lo, mid, hi = table(low, "--minShapes"), table(opt, "--optShapes"), table(high, "--maxShapes")
    if not set(lo) == set(mid) == set(hi):
        raise UsageError(f"--minShapes / --optShapes / --maxShapes name different inputs ({sorted(lo)}, {sorted(mid)}, "
                         f"{sorted(hi)})", hint="name the same inputs in all three")
    return [f"{name}:{lo[name]},{mid[name]},{hi[name]}" for name in lo]


def run(args):
    from pathlib import Path

    from .. import CommandResult
    from ..._deps import available
    from ...errors import UsageError

    _check_combination(args)
    options = _options(args)
    output = args.output or str(Path(args.onnx).with_suffix(".engine"))
    if args.dry_run:
        from ...engine.engine import build_spec_for

        version = args.trt_version
        if version is None:
            if not available("tensorrt"):
                raise UsageError("--dry-run needs --trt-version on a machine without TensorRT", hint="add e.g. --trt-version 10.3")
            import tensorrt

            version = tensorrt.__version__
        spec = build_spec_for(args.onnx, options, version)
        return CommandResult(data={"build_spec": spec.to_dict(), "engine": output}, text=spec.to_text())
    from ..._io import check_output_path, check_output_suffix
    from ...engine.engine import build_engine

    check_output_suffix(output, (".engine", ".plan"), "a TensorRT engine")
    check_output_path(output, inputs=(args.onnx, args.calib, args.precision_plan, args.timing_cache))
    if args.trt_version:
        raise UsageError("--trt-version only prints a build spec (--dry-run); a real build uses the installed TensorRT",
                         hint="add --dry-run, or drop --trt-version")
    argv = ["build", args.onnx, "-o", output] + _passthrough(args)
    result = build_engine(args.onnx, output, options, force=args.force, argv=argv)
    text = f"{'up to date' if result.cached else 'built'}: {result.engine_path}"
    if result.report:
        text += "\n" + result.report.to_text()
    return CommandResult(data={"engine": result.engine_path, "cached": result.cached, "sidecar": result.sidecar}, text=text)


def _check_combination(args) -> None:
    """UsageError for options that the other options make do nothing (never ignore a flag silently)."""
    from pathlib import Path

    from ...errors import UsageError

    implicit = args.int8_mode != "qdq"
    if implicit and args.precision not in ("int8", "best"):
        raise UsageError(f"--int8-mode {args.int8_mode} applies to --precision int8, not {args.precision}",
                         hint="add --precision int8, or drop --int8-mode")
    if (args.calib or args.calib_shape) and not implicit:
        raise UsageError("--calib / --calib-shape feed the implicit INT8 modes (--int8-mode calibrator|cache|"
                         "dynamic-range); a Q/DQ build takes its scales from the graph",
                         hint="drop them, or add --precision int8 --int8-mode cache (TensorRT <= 10.x)")
    if args.allowGPUFallback and (args.no_gpu_fallback or args.dla is None):
        raise UsageError("--allowGPUFallback applies to a DLA build and contradicts --no-gpu-fallback",
                         hint="add --useDLACore N (GPU fallback is then on by default), or drop --allowGPUFallback")
    if args.no_gpu_fallback and args.dla is None:
        raise UsageError("--no-gpu-fallback applies to a DLA build", hint="add --dla 0, or drop --no-gpu-fallback")
    if args.timing_cache and Path(args.timing_cache).is_dir():
        raise UsageError(f"--timing-cache {args.timing_cache!r} is a folder", hint="name a file, e.g. build.timing")
    if args.force and args.dry_run:
        raise UsageError("--force rebuilds an engine, and --dry-run builds nothing", hint="drop one of them")


def _passthrough(args) -> list[str]:
    out = ["--precision", args.precision]
    if args.precision in ("int8", "best"):
        out += ["--int8-mode", args.int8_mode]
    for flag, value in (("--calib", args.calib), ("--plan", args.precision_plan), ("--workspace", args.workspace),
                        ("--dla", args.dla), ("--timing-cache", args.timing_cache), ("--opt-level", args.opt_level)):
        if value is not None:
            out += [flag, str(value)]
    for spec in args.profile + trtexec_profiles(args.minShapes, args.optShapes, args.maxShapes):
        out += ["--profile", spec]
    out += ["--sparsity"] if args.sparsity else []
    out += ["--version-compatible"] if args.version_compatible else []
    out += ["--hardware-compat"] if args.hardware_compat else []
    return out
