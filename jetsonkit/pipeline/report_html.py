"""report.html: one self-contained page (no scripts, no external files), built as HTML directly.

Every text from report.json is escaped; paths and commands are set in ``<code>``, text columns are left-aligned and
number columns right-aligned (tabular figures), the plots are inline SVG at the page's full width. Element ids of
each SVG are prefixed with the plot's name so that two plots never share an id on the page.
"""

from __future__ import annotations

import html
import re

from .report import PLOTS, build_spec_file, columns, describe_machine, is_detect, stage_times, summary, table_cells

__all__ = ["report_html"]

_CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1b1b1b;
     max-width:1400px;margin:1.5em auto;padding:0 1.5em}
h1{font-size:1.7em;margin:.2em 0 .4em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}
p{margin:.35em 0}code{font:.88em/1.4 ui-monospace,"DejaVu Sans Mono",monospace;background:#f3f3f3;
     padding:.05em .3em;border-radius:3px;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:13px;margin:.8em 0}
.wide{overflow-x:auto}td code,td:first-child{white-space:nowrap}
th,td{border-bottom:1px solid #e2e2e2;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.front td:first-child{font-weight:600}
figure{margin:1em 0}figure svg{width:100%;height:auto;display:block}figure.bars{max-width:900px}
.facts p{color:#333}.muted{color:#666}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _code(text: object) -> str:
    return f"<code>{_e(text)}</code>"


def _table(headers: list[tuple[str, bool]], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    """``rows`` hold HTML already escaped; ``headers`` are (text, numeric?)."""
    head = "".join(f'<th class="num">{_e(h)}</th>' if n else f"<th>{_e(h)}</th>" for h, n in headers)
    body = []
    for k, cells in enumerate(rows):
        cls = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        tds = "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, (_, n) in zip(cells, headers))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _svg_inline(name: str, svg: str, cls: str = "plot") -> str:
    """The SVG without its XML prolog, every id (and reference to it) prefixed with the plot's name."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", name.rsplit(".", 1)[0])
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="', f'id="{prefix}--', svg)
    svg = svg.replace("url(#", f"url(#{prefix}--").replace('xlink:href="#', f'xlink:href="#{prefix}--')
    return f'<figure id="plot-{prefix}" class="{cls}" role="img" aria-label="{_e(name)}">{svg}</figure>'


def _trade_off_table(report: dict) -> str:
    rows, classes = [], []
    for r in report["rows"]:
        cells = [_e(c) for c in table_cells(r, is_detect(report))]
        cells[1] = _code(r["artifact"]) if r.get("artifact") else "–"
        rows.append(cells)
        classes.append("front" if r.get("pareto_latency") else "")
    return _table(list(columns(report)), rows, classes)


def _not_built(report: dict) -> str:
    items = [f"<li><strong>{_e(r['target'])}</strong> ({_e(r['backend'])} {_e(r['precision'])}, "
             f"{_e(r['sparsity'])}): {_e(r['note'])}. Build spec: {_code(build_spec_file(r))}. "
             f"Finish on the device: {_code(r['finish'])}</li>"
             for r in report["rows"] if r["status"] != "measured"]
    return f"<h2>Not built here</h2><ul>{''.join(items)}</ul>" if items else ""


def _sensitivity(report: dict, images: dict[str, str]) -> str:
    parts = []
    for model, scores in report.get("sensitivity", {}).items():
        rows = [[_code(s["layer"]), _e(s["op"]), f"{s['sensitivity']:.3g}", _e(s["decision"])] for s in scores]
        parts += [f"<h2>Per-layer INT8 sensitivity: {_e(model)}</h2>",
                  _svg_inline(f"sensitivity_{model}.svg", images[f"sensitivity_{model}.svg"], "bars"),
                  _table([("layer", False), ("op", False), ("sensitivity", True), ("decision", False)], rows)]
    return "".join(parts)


def _calibration(report: dict) -> str:
    from ..calibrate import RANGE_COLUMNS, range_cells

    parts = []
    for model, c in report.get("calibration", {}).items():
        rows = []
        for r in c["ranges"]:
            name, *rest = range_cells(r)
            rows.append([_code(name), *(_e(v) for v in rest)])
        headers = [(h, k > 0) for k, h in enumerate(RANGE_COLUMNS)]
        parts += [f"<h2>Calibration: {_e(model)}.onnx</h2><p>{_e(c['method'])} ranges from {c['samples']:,} samples, "
                  f"table {_code(c['file'])}.</p>", _table(headers, rows)]
    return "".join(parts)


def _stages(report: dict) -> str:
    ran, reused, _, _ = stage_times(report)
    rows = [[_e(s["name"]), _e(s["status"]), _e(s.get("made") or "–"), f"{s['seconds']:.2f}"]
            for s in report.get("stages", [])]
    return (f"<h2>Stages</h2><p>{ran} ran in this run, {reused} reused from earlier runs; <em>made</em> is when each "
            "stage's outputs were written.</p>"
            + _table([("stage", False), ("status", False), ("made", False), ("seconds", True)], rows))


def report_html(report: dict, images: dict[str, str]) -> str:
    """The whole page for ``report`` (report.json's data) with ``images`` (plot file name -> SVG text)."""
    facts = summary(report)
    intro = (f"Recipe {_code(report['recipe'])}, metric <strong>{_e(report['metric'])}</strong> on "
             f"{_code(report['evaluation_data'])}.")
    body = [f"<h1>jetsonkit compress: {_e(report['name'])}</h1>",
            '<div class="facts">', f"<p>{intro}</p>",
            *(f"<p>{_e(facts[k])}</p>" for k in ("accuracy", "latency", "machine", "run", "size")), "</div>",
            _trade_off_table(report), _not_built(report),
            "<h2>Trade-offs</h2>",
            *(_svg_inline(name, images[name]) for name in PLOTS),
            _sensitivity(report, images), _calibration(report), _stages(report),
            f'<p class="muted">jetsonkit {_e(report.get("jetsonkit", ""))}; report format {_e(report["format"])}; '
            f"written on {_e(describe_machine(report['machine']))}.</p>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>jetsonkit report: {_e(report['name'])}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")
