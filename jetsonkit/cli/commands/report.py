"""``jetsonkit report out/``: re-render report.md, report.html and the plots from out/report.json."""

from __future__ import annotations

from ..args import input_path

NAME = "report"
HELP = "re-render report.md / report.html / plots of a compress output folder from its report.json"


def add_arguments(parser) -> None:
    input_path(parser, "folder", help="the output folder of jetsonkit compress (or its report.json)")


def run(args):
    from ...pipeline import render_report
    from .. import CommandResult

    written = render_report(args.folder)
    return CommandResult(data={"written": [str(p) for p in written]},
                         text="\n".join(f"wrote {p}" for p in written))
