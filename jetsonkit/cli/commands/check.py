"""``jetsonkit check out/report.json --max-accuracy-drop 0.5 ...``: CI gates; exit 1 with the failing rows."""

from __future__ import annotations

import argparse

from ...pipeline.gates import Budget
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import input_path

NAME = "check"
HELP = "gate a compress report in CI: accuracy / mAP drop, p99 latency, size ratio; exit 1 with the failing rows"
DESCRIPTION = (HELP + ". Every measured target row is gated (or only --target ones); a row not built on this "
               "machine is listed as not gated unless --require-built. Exit 0 all pass, 1 a gate failed, 2 bad input.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "report", help="report.json written by jetsonkit compress (or its folder)")
    add_settings_arguments(parser, Budget)
    parser.add_argument("--target", action="append", metavar="NAME", help="gate only this target (repeatable)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...pipeline.gates import run_check

    result = run_check(args.report, from_args(Budget, args), args.target)
    return CommandResult(data=result.to_dict(), text=result.summary())
