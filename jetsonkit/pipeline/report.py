"""The trade-off report's content: report.json's figures (:func:`build_report`), the Markdown of report.md, the
plots and the text pieces report.html shares (:mod:`.report_html`); :mod:`.report_files` writes the files.

Time stamps are those of the artifacts, not of the rendering: each stage carries when its outputs were made
(``made``, also for a stage reused from an earlier run) and each measured row when it was measured, on which
machine and under which load; a re-render or a resumed run with nothing re-run shows the old times.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import __version__
from .plots import row_margin, sensitivity_svg, tradeoff_svg
from .pareto import pareto_front

__all__ = ["build_report", "write_report", "render_report", "markdown_table", "table_cells", "columns", "COLUMNS",
           "DETECT_COLUMNS", "FORMAT"]

FORMAT = "jetsonkit-report/1"
PLOTS = ("accuracy_vs_latency.svg", "accuracy_vs_size.svg")


def _row(t: Any, path: Path | None, result: dict, m: dict | None, ref: dict) -> dict:
    row = {"target": t.name, "label": t.name, "backend": t.backend, "precision": t.precision,
           "sparsity": "2:4" if t.sparsity else "dense", "qat": bool(getattr(t, "qat", False)), "reference": False}
    if m is None:
        return {**row, "artifact": result.get("onnx", ""), "status": result.get("status", "not built here"),
                "size_bytes": None, "size_ratio": None, "accuracy": None, "delta_points": None,
                "latency_p50_ms": None, "latency_p99_ms": None, "throughput_ips": None, "runtime": None,
                "note": result.get("reason", ""), "finish": result.get("finish"), "build_spec_file": build_spec_file(result)}
    return {**row, "artifact": path.name, "status": "measured", **_figures(m, ref), "note": "", "finish": None}


def _figures(m: dict, ref: dict) -> dict:
    delta = 100.0 * (m["accuracy"] - ref["accuracy"])
    return {"size_bytes": m["size_bytes"], "size_ratio": ref["size_bytes"] / m["size_bytes"],
            "accuracy": m["accuracy"], "delta_points": delta,
            "latency_p50_ms": m["latency_p50_ms"], "latency_p99_ms": m["latency_p99_ms"],
            "throughput_ips": m["throughput_ips"], "runtime": m["backend"], "samples": m["samples"],
            "machine": m.get("machine"), "load_avg_1m": m.get("load_avg_1m"), "measured_at": m.get("measured_at"),
            **(_detection_figures(m, ref, delta) if "map50" in m else {})}


def _detection_figures(m: dict, ref: dict, delta: float) -> dict:
    """mAP@0.5, mAP@0.5:0.95, their drops and box agreement of a detection row; the interval is the reference's
    bootstrap over the same images (:mod:`.detection`)."""
    return {"map50": m["map50"], "map50_95": m["map50_95"], "map_delta_points": delta,
            "map50_delta_points": 100.0 * (m["map50"] - ref["map50"]),
            "map50_95_delta_points": 100.0 * (m["map50_95"] - ref["map50_95"]),
            "box_agreement": m["box_agreement"], "agreement_boxes": m.get("agreement_boxes"),
            "accuracy_margin": ref[f"{m['map_metric']}_half_width"],
            "map50_half_width": ref["map50_half_width"], "map50_95_half_width": ref["map50_95_half_width"]}


def mark_pareto(rows: list[dict]) -> None:
    """Pareto flags; accuracy differences inside the 95 % binomial interval count as ties."""
    measured = [r for r in rows if r["status"] == "measured"]
    margins = [row_margin(r) for r in measured]
    for key, flag in (("latency_p50_ms", "pareto_latency"), ("size_bytes", "pareto_size")):
        front = set(pareto_front([(r[key], r["accuracy"]) for r in measured], margins))
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
    mark_pareto(rows)
    sensitivity = {k.split(":", 1)[1]: v["sensitivity"] for k, v in results.items()
                   if k.startswith("quantize:") and v.get("sensitivity")}
    calibrated = [k.split(":", 1)[1] for k in results if k.startswith("calibrate:")]
    calibration = {model: _calibration(out / f"{model}.calib.json") for model in calibrated}
    return {"format": FORMAT, "jetsonkit": __version__, "recipe": recipe.path, "name": recipe.name,
            "created": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "machine": machine_summary(),
            "out_dir": str(out), "metric": recipe.evaluation.metric, "evaluation_data": recipe.evaluation.data,
            "task": "detect" if "map50" in ref else "classify",
            "bench": recipe.bench.recipe_dict(), "reference": {"artifact": ref_path.name, **ref},
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

# (header, numeric?) per column: text columns are left-aligned, numbers right-aligned
COLUMNS = (("target", False), ("artifact", False), ("backend", False), ("precision", False), ("size KiB", True), ("smaller", True), ("accuracy %", True), ("Δ vs FP32", True), ("±95%", True),
           ("p50 ms", True), ("p99 ms", True), ("load 1 min", True), ("throughput/s", True), ("status", False))
# a detection report: both mAPs, the gated metric's difference to FP32 and box agreement with FP32 in place of accuracy
DETECT_COLUMNS = (*COLUMNS[:6], ("mAP@0.5 %", True), ("mAP@.5:.95 %", True), ("Δ mAP vs FP32", True), ("±95%", True),
                  ("boxes as FP32 %", True), *COLUMNS[9:])


def is_detect(report: dict) -> bool:
    return report.get("task") == "detect"


def columns(report: dict) -> tuple:
    """The trade-off table's (header, numeric?) columns for this report."""
    return DETECT_COLUMNS if is_detect(report) else COLUMNS


def _load_text(r: dict) -> str:
    """``before–after / cores`` of the 1-minute load average around the row's benchmark."""
    load, machine = r.get("load_avg_1m"), r.get("machine") or {}
    if not load or load[0] is None:
        return "–"
    cores = f" / {machine['cores']}" if machine.get("cores") else ""
    before, after = f"{load[0]:.1f}", f"{load[1]:.1f}"
    return f"{before}{cores}" if before == after else f"{before}–{after}{cores}"


def table_cells(r: dict, detect: bool = False) -> list[str]:
    """One row of the trade-off table as the text of :data:`COLUMNS` (``detect``: of :data:`DETECT_COLUMNS`)."""
    def num(key, fmt):
        return fmt.format(r[key]) if r.get(key) is not None else "–"

    measured = r.get("accuracy") is not None
    star = " ★" if r.get("pareto_latency") else ""
    precision = r["precision"] + (" 2:4" if r["sparsity"] == "2:4" else "") + (" QAT" if r.get("qat") else "")
    size = f"{r['size_bytes'] / 1024:,.1f}" if r.get("size_bytes") else "–"
    ratio = f"{r['size_ratio']:.2f}x" if r.get("size_ratio") else "–"
    ci = f"{100 * row_margin(r):.2f}" if measured and r.get("samples") else "–"
    quality = [num("accuracy", "{:.2%}").rstrip("%"), num("delta_points", "{:+.2f}"), ci]
    if detect:
        quality = [num("map50", "{:.2%}").rstrip("%"), num("map50_95", "{:.2%}").rstrip("%"),
                   num("map_delta_points", "{:+.2f}"), ci, num("box_agreement", "{:.1%}").rstrip("%")]
    return [r["label"] + star, r["artifact"], r["backend"], precision, size, ratio, *quality,
            num("latency_p50_ms", "{:.3f}"), num("latency_p99_ms", "{:.3f}"), _load_text(r),
            num("throughput_ips", "{:,.0f}"), r["status"]]


def markdown_table(report: dict) -> str:
    cols, detect = columns(report), is_detect(report)
    lines = ["| " + " | ".join(h for h, _ in cols) + " |",
             "|" + "".join("---:|" if numeric else "---|" for _, numeric in cols)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in table_cells(r, detect)) + " |" for r in report["rows"]]
    return "\n".join(lines)


def machines(report: dict) -> list[str]:
    """The machines the latency figures were measured on (one line each; the run's machine for old reports)."""
    seen = []
    for r in report["rows"]:
        m = r.get("machine")
        if m and (line := describe_machine(m)) not in seen:
            seen.append(line)
    return seen or [describe_machine(report["machine"])]


def describe_machine(m: dict) -> str:
    board = f"{m['board']}, " if m.get("board") else ""
    return f"{board}{m['cpu']}, {m['cores']} cores, {m['platform']}"


def stage_times(report: dict) -> tuple[int, int, str | None, str | None]:
    """(stages ran, stages reused, earliest made, latest made) of the run that wrote report.json."""
    stages = report.get("stages", [])
    made = sorted(s["made"] for s in stages if s.get("made"))
    ran = sum(s["status"] == "ran" for s in stages)
    return ran, len(stages) - ran, (made[0] if made else None), (made[-1] if made else None)


def build_spec_file(row: dict) -> str | None:
    """A not-built target's build-spec file; stage results and reports from before the rename call it
    ``plan_file``."""
    return row.get("build_spec_file", row.get("plan_file"))


def _threads(n: int | None) -> str:
    return f"{n} thread(s)" if n else "the backend's default threads"


def summary(report: dict) -> dict[str, str]:
    """The header facts as plain text (report.md adds Markdown around them, report.html HTML)."""
    b, ref = report["bench"], report["reference"]
    ran, reused, first, last = stage_times(report)
    made = f"artifacts made {first} to {last}" if first else "artifact times not recorded (an older report)"
    return {
        "accuracy": _quality_text(report),
        "latency": (f"Latency: batch {b['batch']}, {b['iterations']} iterations after {b['warmup']} warm-up, "
                    f"{_threads(b['threads'])}, each artifact through the same jetsonkit Runtime. Load = 1-minute load "
                    "average before–after each benchmark / cores: at or above the core count other work shares the "
                    "CPU, and p99 shows it first."),
        "machine": "Measured on: " + "; ".join(machines(report)) + ".",
        "run": (f"The run that wrote report.json ({report['created']}): {ran} stage(s) ran, {reused} reused from "
                f"earlier runs; {made}."),
        "size": "smaller = FP32 ONNX size / artifact size.",
    }


def _quality_text(report: dict) -> str:
    """The reference's quality and the interval the Pareto front counts as a tie."""
    ref = report["reference"]
    tie = "Differences inside an artifact's interval count as ties for the Pareto front (★)."
    if is_detect(report):
        return (f"FP32 reference {ref['artifact']}: mAP@0.5 {100 * ref['map50']:.2f}%, mAP@0.5:0.95 "
                f"{100 * ref['map50_95']:.2f}% on {ref['samples']:,} images (pycocotools COCOeval, numpy NMS); 95% "
                f"interval over the choice of images ±{100 * ref['map50_half_width']:.2f} / "
                f"±{100 * ref['map50_95_half_width']:.2f} points (bootstrap, {ref.get('bootstrap_rounds', '?')} "
                f"resamples). Gated metric: {report['metric']}. Boxes as FP32: the share of FP32's boxes scoring "
                f">= 0.5 that the artifact finds again (same class, IoU >= 0.8). {tie}")
    margin = 100 * row_margin({"accuracy": ref["accuracy"], "samples": ref.get("samples")})
    return (f"FP32 reference {ref['artifact']}: {100 * ref['accuracy']:.2f}% on {ref['samples']:,} samples; "
            f"95% binomial interval ±{margin:.2f} points (Wilson). {tie}")


def _not_built(report: dict) -> list[dict]:
    return [r for r in report["rows"] if r["status"] != "measured"]


def report_markdown(report: dict) -> str:
    """report.md's text."""
    facts = summary(report)
    parts = [f"# jetsonkit compress: {report['name']}", "",
             f"Recipe `{report['recipe']}`, metric **{report['metric']}** on `{report['evaluation_data']}`.", "",
             *(facts[k] for k in ("accuracy", "latency", "machine", "run", "size")), "", markdown_table(report), ""]
    nb = _not_built(report)
    if nb:
        parts += ["## Not built here", ""]
        parts += [f"- **{r['target']}** ({r['backend']} {r['precision']}, {r['sparsity']}): {r['note']}. "
                  f"Build spec: `{build_spec_file(r)}`. Finish on the device: `{r['finish']}`" for r in nb]
        parts += [""]
    parts += [f"![accuracy vs latency](plots/{PLOTS[0]})", "", f"![accuracy vs size](plots/{PLOTS[1]})", ""]
    for model, scores in report.get("sensitivity", {}).items():
        parts += [f"## Per-layer INT8 sensitivity: {model}", "", "| layer | op | sensitivity | decision |",
                  "|---|---|---:|---|"]
        parts += [f"| {s['layer']} | {s['op']} | {s['sensitivity']:.3g} | {s['decision']} |" for s in scores]
        parts += ["", f"![sensitivity](plots/sensitivity_{model}.svg)", ""]
    from ..calibrate import RANGE_COLUMNS, range_cells

    for model, c in report.get("calibration", {}).items():
        parts += [f"## Calibration: {model}.onnx ({c['method']}, {c['samples']} samples, `{c['file']}`)", "",
                  "| " + " | ".join(h.replace("|", "\\|") for h in RANGE_COLUMNS) + " |", "|---|---:|---:|---:|---:|"]
        for r in c["ranges"]:
            name, *rest = range_cells(r)
            parts.append(f"| `{name}` | " + " | ".join(rest) + " |")
        parts += [""]
    parts += ["## Stages", "", "| stage | status | made | seconds |", "|---|---|---|---:|"]
    parts += [f"| {s['name']} | {s['status']} | {s.get('made') or '–'} | {s['seconds']:.2f} |"
              for s in report["stages"]]
    return "\n".join(parts) + "\n"


def plots(report: dict) -> dict[str, str]:
    """The report's plots: file name -> SVG text."""
    metric = {"top1": "top-1", "map50": "mAP@0.5", "map50_95": "mAP@0.5:0.95"}.get(report["metric"], report["metric"])
    b = report["bench"]
    images = {
        PLOTS[0]: tradeoff_svg(report["rows"], "latency_p50_ms", f"latency p50 (ms, batch {b['batch']})", metric,
                               f"{report['name']}: accuracy vs latency", "latency"),
        PLOTS[1]: tradeoff_svg([{**r, "size_kib": r["size_bytes"] / 1024 if r.get("size_bytes") else None}
                                for r in report["rows"]], "size_kib", "file size (KiB)", metric,
                               f"{report['name']}: accuracy vs size", "size"),
    }
    for k, (model, scores) in enumerate(report.get("sensitivity", {}).items()):
        images[f"sensitivity_{model}.svg"] = sensitivity_svg(model, scores, f"sensitivity{k}")
    return images

