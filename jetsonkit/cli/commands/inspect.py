"""``jetsonkit inspect model.engine``: I/O, profiles, per-layer precision and tactic, sidecar, runs-here verdict."""

from __future__ import annotations

from ..args import input_path

import argparse

NAME = "inspect"
HELP = "show what a TensorRT engine holds and whether it runs on this machine"
DESCRIPTION = ("Show a TensorRT engine's build facts (sidecar), whether it can run here (TensorRT version, GPU, "
               "platform), and, where TensorRT and a GPU exist, its I/O tensors, optimization profiles and per-layer "
               "precision and tactic (engine inspector) - what `polygraphy inspect model` / trtexec logs show.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    input_path(p, "engine", help="a .engine / .plan built by `jetsonkit build` (its <engine>.json sidecar is read too)")


def run(args):
    from .. import CommandResult
    from ...runtime.trt_inspect import inspect_engine, inspection_text

    info = inspect_engine(args.engine)
    return CommandResult(data=info, text=inspection_text(info))
