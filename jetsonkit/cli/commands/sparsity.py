"""``jetsonkit sparsity``: 2:4 report of an ONNX / Q/DQ ONNX model or a pruned checkpoint; ONNX pruning for speed tests."""

from __future__ import annotations

import argparse

from .. import EXIT_CHECK_FAILED, EXIT_OK, CommandResult
from ..args import input_path, output_path

NAME = "sparsity"
HELP = "2:4 per-layer report (ONNX, Q/DQ ONNX, pruned .pt) or prune ONNX weights for speed experiments"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("report", "prune-onnx"),
                        help="report: per-layer eligibility and 2:4 check; prune-onnx: 2:4 the weights of an ONNX "
                             "model by magnitude, FOR SPEED EXPERIMENTS ONLY (no fine-tune, accuracy drops)")
    input_path(parser, "model", help=".onnx (plain or Q/DQ) or a pruned checkpoint .pt from jetsonkit prune")
    parser.add_argument("--expect-all", action="store_true",
                        help="report: fail (exit 1) unless every eligible layer holds 2:4")
    parser.add_argument("--expect", action="append", metavar="PATTERN",
                        help="report: fail (exit 1) unless eligible layers matching PATTERN hold 2:4 (repeatable)")
    parser.add_argument("--include", action="append", metavar="PATTERN", help="prune-onnx: only these layers")
    parser.add_argument("--exclude", action="append", metavar="PATTERN", help="prune-onnx: never these layers")
    output_path(parser, "-o", "--output", help="prune-onnx: the pruned copy (.onnx)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...sparsity.stage import run_sparsity

    outcome = run_sparsity(args.action, args.model, expect_all=args.expect_all, expect=args.expect,
                           include=args.include, exclude=args.exclude, output=args.output)
    return CommandResult(data=outcome.data, text=outcome.text,
                         exit_code=EXIT_CHECK_FAILED if outcome.failed else EXIT_OK)
