"""The trade-off report: report.json (every figure), report.md, and a self-contained report.html with the plots
embedded as base64 PNG. ``render_report(out_dir)`` (``jetsonkit report out/``) rebuilds md / html / plots from
report.json alone.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

from .. import __version__
from .._io import write_bytes_atomic, write_json_atomic, write_text_atomic
from .gates import load_report
from .plots import pareto_front, sensitivity_png, tradeoff_png

__all__ = ["build_report", "write_report", "render_report", "markdown_table", "FORMAT"]

FORMAT = "jetsonkit-report/1"
PLOTS = ("accuracy_vs_latency.png", "accuracy_vs_size.png")


def _row(t: Any, path: Path | None, result: dict, m: dict | None, ref: dict) -> dict:
    row = {"target": t.name, "label": t.name, "backend": t.backend, "precision": t.precision,
           "sparsity": "2:4" if t.sparsity else "dense", "qat": bool(getattr(t, "qat", False)), "reference": False}
    if m is None:
        return {**row, "artifact": result.get("onnx", ""), "status": result.get("status", "not built here"),
                "size_bytes": None, "size_ratio": None, "accuracy": None, "delta_points": None,
                "latency_p50_ms": None, "latency_p99_ms": None, "throughput_ips": None, "runtime": None,
                "note": result.get("reason", ""), "finish": result.get("finish"), "plan_file": result.get("plan_file")}
    return {**row, "artifact": path.name, "status": "measured", **_figures(m, ref), "note": "", "finish": None}


def _figures(m: dict, ref: dict) -> dict:
    return {"size_bytes": m["size_bytes"], "size_ratio": ref["size_bytes"] / m["size_bytes"],
            "accuracy": m["accuracy"], "delta_points": 100.0 * (m["accuracy"] - ref["accuracy"]),
            "latency_p50_ms": m["latency_p50_ms"], "latency_p99_ms": m["latency_p99_ms"],
            "throughput_ips": m["throughput_ips"], "runtime": m["backend"], "samples": m["samples"]}


def _mark_pareto(rows: list[dict]) -> None:
    measured = [r for r in rows if r["status"] == "measured"]
    for key, flag in (("latency_p50_ms", "pareto_latency"), ("size_bytes", "pareto_size")):
        front = set(pareto_front([(r[key], r["accuracy"]) for r in measured]))
        for i, r in enumerate(measured):
            r[flag] = i in front


def build_report(recipe: Any, out: Path, made: list, measured: dict, ref_path: Path, results: dict,
                 log: list, seconds: float) -> dict:
    """The report as plain data (what report.json holds)."""
    from ..runtime.benchmark import machine_summary

    ref = measured[ref_path]
    rows = []
    is_ref_target = [t for t, p, _ in made if p == ref_path and t.backend == "onnxruntime"]
    if not is_ref_target:
        rows.append({"target": "", "label": "fp32 (reference)", "backend": "onnxruntime", "precision": "fp32",
                     "sparsity": "dense", "reference": True, "artifact": ref_path.name, "status": "measured",
                     **_figures(ref, ref), "note": "FP32 reference (not a recipe target)", "finish": None})
    for t, path, result in made:
        row = _row(t, path, result, measured.get(path) if path is not None else None, ref)
        row["reference"] = path == ref_path
        rows.append(row)
    _mark_pareto(rows)
    sensitivity = {k.split(":", 1)[1]: v["sensitivity"] for k, v in results.items()
                   if k.startswith("quantize:") and v.get("sensitivity")}
    calibrated = [k.split(":", 1)[1] for k in results if k.startswith("calibrate:")]
    calibration = {model: _calibration(out / f"{model}.calib.json") for model in calibrated}
    return {"format": FORMAT, "jetsonkit": __version__, "recipe": recipe.path, "name": recipe.name,
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "machine": machine_summary(),
            "out_dir": str(out), "metric": recipe.evaluation.metric, "evaluation_data": recipe.evaluation.data,
            "bench": recipe.bench.__dict__, "reference": {"artifact": ref_path.name, **ref},
            "budgets": recipe.budgets.__dict__, "rows": rows, "sensitivity": sensitivity, "calibration": calibration,
            "stages": [s.as_dict() for s in log], "stage_results": results, "seconds": round(seconds, 2)}


def _calibration(path: Path) -> dict:
    """The shared calibration table of one model, as the report shows it (read back from the file written)."""
    from ..artifacts import read_table
    from ..calibrate import range_rows

    table = read_table(path)
    return {"file": path.name, "method": table.method, "samples": table.samples, "ranges": range_rows(table)}


def calibration_text(report: dict) -> list[str]:
    """The calibration tables as text lines (the demo and compress print them)."""
    from ..calibrate import format_ranges

    lines = []
    for model, c in report.get("calibration", {}).items():
        lines += [f"calibration of {model}.onnx: {c['method']} ranges for {len(c['ranges'])} tensors from "
                  f"{c['samples']} samples -> {c['file']}", *format_ranges(c["ranges"])]
    return lines


# ---- rendering ------------------------------------------------------------------------------------------------

_COLUMNS = ("target", "artifact", "backend", "precision", "sparsity", "size", "accuracy", "Δ vs FP32",
            "p50 ms", "p99 ms", "throughput/s", "status")


def _cells(r: dict) -> list[str]:
    def num(key, fmt):
        return fmt.format(r[key]) if r.get(key) is not None else "–"

    size = f"{r['size_bytes'] / 1024:,.1f} KiB ({r['size_ratio']:.2f}x)" if r.get("size_bytes") else "–"
    acc = f"{100 * r['accuracy']:.2f}%" if r.get("accuracy") is not None else "–"
    star = " ★" if r.get("pareto_latency") else ""
    precision = r["precision"] + (" QAT" if r.get("qat") else "")
    return [r["label"] + star, r["artifact"], r["backend"], precision, r["sparsity"], size, acc,
            num("delta_points", "{:+.2f}"), num("latency_p50_ms", "{:.3f}"), num("latency_p99_ms", "{:.3f}"),
            num("throughput_ips", "{:,.0f}"), r["status"]]


def markdown_table(report: dict) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in report["rows"]]
    return "\n".join(lines)


def _header_lines(report: dict) -> list[str]:
    m, b = report["machine"], report["bench"]
    ref = report["reference"]
    return [f"Recipe `{report['recipe']}`, metric **{report['metric']}** on `{report['evaluation_data']}` "
            f"({ref['samples']} samples); FP32 reference `{ref['artifact']}`: {100 * ref['accuracy']:.2f}%.",
            f"Latency: batch {b['batch']}, {b['iterations']} iterations after {b['warmup']} warm-up, "
            f"{b['threads']} thread(s), each artifact through the same jetsonkit Runtime.",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}; {report['created']}.",
            "★ = on the accuracy-vs-latency Pareto front; size ratio = FP32 ONNX size / artifact size."]


def _not_built(report: dict) -> list[str]:
    return [f"- **{r['target']}** ({r['backend']} {r['precision']}, {r['sparsity']}): not built here — {r['note']}. "
            f"Build plan: `{r.get('plan_file')}`. Finish on the device: `{r['finish']}`"
            for r in report["rows"] if r["status"] != "measured"]


def _markdown(report: dict) -> str:
    parts = [f"# jetsonkit compress: {report['name']}", "", *_header_lines(report), "", markdown_table(report), ""]
    nb = _not_built(report)
    if nb:
        parts += ["## Not built here", "", *nb, ""]
    parts += [f"![accuracy vs latency](plots/{PLOTS[0]})", "", f"![accuracy vs size](plots/{PLOTS[1]})", ""]
    for model, scores in report.get("sensitivity", {}).items():
        parts += [f"## Per-layer INT8 sensitivity: {model}", "", "| layer | op | sensitivity | decision |",
                  "|---|---|---|---|"]
        parts += [f"| {s['layer']} | {s['op']} | {s['sensitivity']:.4g} | {s['decision']} |" for s in scores]
        parts += ["", f"![sensitivity](plots/sensitivity_{model}.png)", ""]
    from ..calibrate import RANGE_COLUMNS, range_cells

    for model, c in report.get("calibration", {}).items():
        parts += [f"## Calibration: {model}.onnx ({c['method']}, {c['samples']} samples, `{c['file']}`)", "",
                  "| " + " | ".join(h.replace("|", "\\|") for h in RANGE_COLUMNS) + " |", "|---|---|---|---|---|"]
        for r in c["ranges"]:
            name, *rest = range_cells(r)
            parts.append(f"| `{name}` | " + " | ".join(rest) + " |")
        parts += [""]
    parts += ["## Stages", "", "| stage | status | seconds |", "|---|---|---|"]
    parts += [f"| {s['name']} | {s['status']} | {s['seconds']:.2f} |" for s in report["stages"]]
    return "\n".join(parts) + "\n"


def _html_table(report: dict) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>"
                   for r in report["rows"])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(report: dict, images: dict[str, bytes]) -> str:
    def img(name: str) -> str:
        data = base64.b64encode(images[name]).decode("ascii")
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'

    parts = [f"<h1>jetsonkit compress: {html.escape(report['name'])}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in _header_lines(report)]
    parts.append(_html_table(report))
    nb = _not_built(report)
    if nb:
        parts.append("<h2>Not built here</h2><ul>" + "".join(f"<li>{html.escape(n[2:])}</li>" for n in nb) + "</ul>")
    parts += [img(PLOTS[0]), img(PLOTS[1])]
    for model in report.get("sensitivity", {}):
        parts += [f"<h2>Per-layer INT8 sensitivity: {html.escape(model)}</h2>", img(f"sensitivity_{model}.png")]
    from ..calibrate import RANGE_COLUMNS, range_cells

    for model, c in report.get("calibration", {}).items():
        head = "".join(f"<th>{html.escape(h)}</th>" for h in RANGE_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in range_cells(r)) + "</tr>"
                       for r in c["ranges"])
        parts += [f"<h2>Calibration: {html.escape(model)}.onnx ({html.escape(c['method'])}, {c['samples']} samples, "
                  f"{html.escape(c['file'])})</h2>",
                  f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>jetsonkit report: "
            f"{html.escape(report['name'])}</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _plots(report: dict) -> dict[str, bytes]:
    metric = "top-1" if report["metric"] == "top1" else report["metric"]
    b = report["bench"]
    images = {
        PLOTS[0]: tradeoff_png(report["rows"], "latency_p50_ms", f"latency p50 (ms, batch {b['batch']})", metric,
                               f"{report['name']}: accuracy vs latency"),
        PLOTS[1]: tradeoff_png([{**r, "size_kib": r["size_bytes"] / 1024 if r.get("size_bytes") else None}
                                for r in report["rows"]], "size_kib", "file size (KiB)", metric,
                               f"{report['name']}: accuracy vs size"),
    }
    for model, scores in report.get("sensitivity", {}).items():
        images[f"sensitivity_{model}.png"] = sensitivity_png(model, scores)
    return images


def write_report(out: Path, report: dict) -> None:
    """report.json, then the rendered files (each written atomically)."""
    write_json_atomic(Path(out) / "report.json", report)
    _render(Path(out), report)


def _render(out: Path, report: dict) -> list[Path]:
    images = _plots(report)
    (out / "plots").mkdir(exist_ok=True)
    written = [write_bytes_atomic(out / "plots" / name, data) for name, data in images.items()]
    written.append(write_text_atomic(out / "report.md", _markdown(report)))
    written.append(write_text_atomic(out / "report.html", _html(report, images)))
    return written


def render_report(out_dir: str | Path) -> list[Path]:
    """Re-render report.md, report.html and the plots from ``out_dir/report.json``."""
    p = Path(out_dir)
    report = load_report(p)
    return _render(p if p.is_dir() else p.parent, report)
