"""``jetsonkit build``'s flags that are not one field each of :class:`~jetsonkit.engine.options.BuildSettings`: the
repeatable shape flags, the negated / boolean spellings, and trtexec's aliases (``--fp16``, ``--minShapes`` ...)."""

from __future__ import annotations

import argparse

__all__ = ["add_build_flags", "build_flag_values"]


def add_build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib-shape", action="append", default=[], metavar="NAME:SHAPE",
                   help="input shape calibration used (checked against the profiles), e.g. input:32x1x28x28")
    p.add_argument("--profile", action="append", default=[], metavar="NAME:MIN,OPT,MAX",
                   help="optimization profile shapes for one input; repeat an input name for another profile")
    p.add_argument("--no-gpu-fallback", action="store_true", help="a --dla build fails for layers DLA cannot run")
    p.add_argument("--hardware-compat", action="store_true", help="engine runs on any Ampere or later GPU")
    t = p.add_argument_group("trtexec aliases", "trtexec's spellings of the options above")
    for name, value in (("--fp16", "fp16"), ("--int8", "int8"), ("--best", "best")):
        t.add_argument(name, dest="precision", action="store_const", const=value, help=f"= --precision {value}")
    t.add_argument("--allowGPUFallback", action="store_true", help="= the default GPU fallback of --dla")
    for name in ("--minShapes", "--optShapes", "--maxShapes"):
        t.add_argument(name, metavar="NAME:SHAPE[,NAME:SHAPE]", help="= --profile NAME:MIN,OPT,MAX, per input")


def build_flag_values(args: argparse.Namespace) -> dict:
    """The BuildSettings fields :func:`add_build_flags`' flags give (profiles, calibration shapes, GPU fallback,
    hardware compatibility); UsageError for a contradiction between them."""
    from ..engine.options import parse_calibration_shapes, parse_profiles, trtexec_profiles
    from ..errors import UsageError

    if args.allowGPUFallback and (args.no_gpu_fallback or args.dla_core is None):
        raise UsageError("--allowGPUFallback applies to a DLA build and contradicts --no-gpu-fallback",
                         hint="add --useDLACore N (GPU fallback is then on by default), or drop --allowGPUFallback")
    profiles = args.profile + trtexec_profiles(args.minShapes, args.optShapes, args.maxShapes)
    return {"profiles": parse_profiles(profiles), "calibration_shapes": parse_calibration_shapes(args.calib_shape),
            "gpu_fallback": not args.no_gpu_fallback, "hardware_compatibility": "ampere+" if args.hardware_compat else None}
