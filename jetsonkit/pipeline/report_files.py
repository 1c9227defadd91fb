"""Writing the trade-off report's files: report.json, report.md, report.html and plots/*.svg (each atomically).

The figures and the Markdown come from :mod:`.report`, the HTML from :mod:`.report_html`; this module only puts
them on disk. ``render_report(out_dir)`` (``jetsonkit report out/``) rebuilds md / html / plots from report.json.
"""

from __future__ import annotations

from pathlib import Path

from .._io import write_json_atomic, write_text_atomic
from .gates import load_report
from .report import mark_pareto, plots, report_markdown
from .report_html import report_html

__all__ = ["write_report", "render_report"]


def write_report(out: Path, report: dict) -> None:
    """report.json, then the rendered files (each written atomically)."""
    write_json_atomic(Path(out) / "report.json", report)
    _render(Path(out), report)


def _render(out: Path, report: dict) -> list[Path]:
    mark_pareto(report["rows"])  # from the figures, by the current rule (a report.json may be older)
    images = plots(report)
    (out / "plots").mkdir(exist_ok=True)
    written = [write_text_atomic(out / "plots" / name, svg) for name, svg in images.items()]
    written.append(write_text_atomic(out / "report.md", report_markdown(report)))
    written.append(write_text_atomic(out / "report.html", report_html(report, images)))
    return written


def render_report(out_dir: str | Path) -> list[Path]:
    """Re-render report.md, report.html and the plots from ``out_dir/report.json``."""
    p = Path(out_dir)
    report = load_report(p)
    return _render(p if p.is_dir() else p.parent, report)
