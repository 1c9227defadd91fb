"""``jetsonkit doctor``: what this machine can do (never fails on a machine without a GPU)."""

from __future__ import annotations

NAME = "doctor"
HELP = "show Python, packages, TensorRT, CUDA driver / GPU / compute capability, sparse tensor cores, DLA"


def add_arguments(parser) -> None:
    parser.set_defaults()


def run(args):
    from ...doctor import as_dicts, diagnose, format_checks
    from .. import CommandResult

    checks = diagnose()
    return CommandResult(data={"checks": as_dicts(checks)}, text=format_checks(checks))
