"""``jetsonkit check out/report.json --max-accuracy-drop 0.5 ...``: CI gates; exit 1 with the failing rows."""

from __future__ import annotations

from ..args import input_path

NAME = "check"
HELP = "gate a compress report in CI: accuracy / mAP drop, p99 latency, size ratio; exit 1 with the failing rows"
DESCRIPTION = (HELP + ". Every measured target row is gated (or only --target ones); a row not built on this "
               "machine is listed as not gated unless --require-built. Exit 0 all pass, 1 a gate failed, 2 bad input.")


def add_arguments(parser) -> None:
    input_path(parser, "report", help="report.json written by jetsonkit compress (or its folder)")
    parser.add_argument("--max-accuracy-drop", type=float, metavar="POINTS",
                        help="largest allowed drop vs FP32, in percentage points (e.g. 0.5)")
    parser.add_argument("--max-map-drop", type=float, metavar="POINTS",
                        help="detection reports: largest allowed drop of the recipe's mAP (map50 or map50_95) vs "
                        "FP32, in points (e.g. 1)")
    parser.add_argument("--max-latency-p99-ms", type=float, metavar="MS", help="largest allowed p99 latency")
    parser.add_argument("--min-size-ratio", type=float, metavar="X",
                        help="smallest allowed FP32-size / artifact-size ratio (e.g. 3.5 for INT8)")
    parser.add_argument("--target", action="append", metavar="NAME", help="gate only this target (repeatable)")
    parser.add_argument("--require-built", action="store_true",
                        help="fail for a target that was not built / measured (e.g. on the Jetson runner)")


def run(args):
    from ...errors import CheckFailed, UsageError
    from ...pipeline.gates import BUDGET_EXAMPLES, Budget, budget_problem, gate_rows, load_report, verdict_table
    from .. import CommandResult

    for key in BUDGET_EXAMPLES:
        problem = budget_problem(key, getattr(args, key))
        if problem:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {getattr(args, key)} is not a usable gate ({problem})",
                             hint=f"e.g. {flag} {BUDGET_EXAMPLES[key]}")
    budget = Budget(args.max_accuracy_drop, args.max_latency_p99_ms, args.min_size_ratio, args.require_built,
                    max_map_drop=args.max_map_drop)
    if budget.empty and not args.require_built:
        raise UsageError("no gate given", hint="pass --max-accuracy-drop, --max-map-drop, --max-latency-p99-ms and/or "
                         "--min-size-ratio")
    report = load_report(args.report)
    verdicts = gate_rows(report["rows"], budget, args.target)
    table = verdict_table(verdicts)
    data = {"budget": budget.describe(), "rows": [v.__dict__ for v in verdicts]}
    failed = [v for v in verdicts if v.failures]
    if failed:
        raise CheckFailed(f"{len(failed)} of {len(verdicts)} target(s) fail the gates ({budget.describe()}): "
                          f"{', '.join(v.target for v in failed)}", hint="see the table", details=table)
    if not any(v.gated for v in verdicts):
        raise CheckFailed("no measured target to gate in this report (all were not built here)",
                          hint="run the check where the targets are built, or gate CPU targets", details=table)
    return CommandResult(data=data, text=table + f"\nall gated targets pass ({budget.describe()})")
