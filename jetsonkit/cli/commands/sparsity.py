"""``jetsonkit sparsity``: 2:4 report of an ONNX / Q/DQ ONNX model or a pruned checkpoint; ONNX pruning for speed tests."""

from __future__ import annotations

import argparse

from .. import EXIT_CHECK_FAILED, CommandResult
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
    from ...errors import CheckFailed, UsageError

    other = {"report": (("--include", args.include), ("--exclude", args.exclude), ("-o/--output", args.output)),
             "prune-onnx": (("--expect-all", args.expect_all), ("--expect", args.expect))}[args.action]
    unused = [flag for flag, value in other if value]
    if unused:
        owner = "prune-onnx" if args.action == "report" else "report"
        raise UsageError(f"{', '.join(unused)} belong(s) to `sparsity {owner}`, not `sparsity {args.action}`",
                         hint="drop them, or run the other action")
    if args.action == "prune-onnx":
        if not args.output:
            raise UsageError("sparsity prune-onnx needs -o OUT.onnx")
        from ..._io import check_output_path, check_output_suffix

        check_output_suffix(args.output, (".onnx",), "an ONNX model")
        check_output_path(args.output, inputs=(args.model,))
        from ...sparsity.onnx_report import SPEED_ONLY_LABEL, prune_onnx_initializers

        report = prune_onnx_initializers(args.model, args.output, include=args.include, exclude=args.exclude)
        return CommandResult(data={**report.as_dict(), "label": SPEED_ONLY_LABEL},
                             text=f"{report.table()}\nwrote {args.output}: {SPEED_ONLY_LABEL}")
    if args.model.endswith((".pt", ".pth")):
        return _report_checkpoint(args.model)
    from ...sparsity import report_onnx

    report = report_onnx(args.model)
    data, text = report.as_dict(), report.table()
    if args.expect_all or args.expect:
        try:
            report.require_sparse(args.expect)
        except CheckFailed as exc:
            data.update(error=str(exc))
            return CommandResult(data=data, text=f"{text}\nFAILED: {exc}", exit_code=EXIT_CHECK_FAILED)
    return CommandResult(data=data, text=text)


def _report_checkpoint(path: str) -> CommandResult:
    from ...sparsity.checkpoint import load_pruned, lost_mask_layers
    from ...sparsity.masks import zero_fraction

    payload = load_pruned(path, verify=False)
    bad = lost_mask_layers(payload)
    rows, lines = [], [f"{'layer':<30} {'2:4':<4} {'zeros':>6}"]
    for layer in payload["sparse_layers"]:
        w = payload["state_dict"].get(f"{layer}.weight")
        zeros = zero_fraction(w.float().numpy()) if w is not None else 0.0
        rows.append({"layer": layer, "pattern_holds": layer not in bad, "zero_fraction": zeros})
        lines.append(f"{layer:<30} {'yes' if layer not in bad else 'NO':<4} {zeros:>6.3f}")
    data = {"path": path, "pattern": payload.get("pattern"), "layers": rows, "meta": payload.get("meta", {})}
    if bad:
        msg = f"masks lost in {', '.join(bad)}"
        lines.append(f"FAILED: 2:4 verification of {path}: {msg}")
        return CommandResult(data={**data, "error": msg}, text="\n".join(lines), exit_code=EXIT_CHECK_FAILED)
    lines.append(f"{len(rows)} layers hold 2:4 in {path}")
    return CommandResult(data=data, text="\n".join(lines))
