"""``jetsonkit report out/``: re-render report.md, report.html and the plots from out/report.json."""

from __future__ import annotations

NAME = "report"
HELP = "re-render report.md / report.html / plots of a compress output folder from its report.json"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="the output folder of jetsonkit compress (or its report.json)")


def run(args):
    from ...pipeline import render_report
    from .. import CommandResult

    written = render_report(args.folder)
    return CommandResult(data={"written": [str(p) for p in written]},
                         text="\n".join(f"wrote {p}" for p in written))
