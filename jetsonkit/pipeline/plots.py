"""The report's plots as SVG text (matplotlib, Agg backend, text kept as text): accuracy difference vs latency and
vs size with the Pareto front, and per-layer sensitivity bars when the sensitivity search ran.

The accuracy axis is the difference to the FP32 reference in percentage points, each point with its 95 % binomial
interval from the test-set size (:mod:`jetsonkit.pipeline.pareto`; a detection row: the bootstrap half-width of its
mAP, ``accuracy_margin``), and the reference's own interval shaded around 0,
so a difference the test cannot resolve looks as small as it is. Labels are placed by
:func:`jetsonkit.pipeline.labels.place_labels` (never over another label or a marker); every label's SVG group has
the id ``<plot>-label-<i>`` so a browser test can measure the boxes as drawn.
"""

from __future__ import annotations

import io
import math
from typing import Any

from .._deps import require
from .labels import place_labels
from .pareto import half_width, pareto_front, wilson_interval

__all__ = ["pareto_front", "tradeoff_svg", "sensitivity_svg", "row_margin"]

_STYLE = {"onnxruntime": ("tab:blue", "o"), "tflite": ("tab:green", "s"), "tensorrt": ("tab:red", "D")}
_MARKER_S = 64  # scatter area in pt^2: a marker about 8 pt across


def _pyplot():
    matplotlib = require("matplotlib", purpose="the report's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any, salt: str) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def row_margin(row: dict) -> float:
    """The 95 % half-width of a measured row's accuracy: its own ``accuracy_margin`` (detection: the mAP bootstrap),
    else the binomial one from the sample count (0 when that is unknown)."""
    if row.get("accuracy_margin") is not None:
        return float(row["accuracy_margin"])
    n = row.get("samples") or 0
    return half_width(row["accuracy"], n) if n else 0.0


def tradeoff_svg(rows: list[dict], cost_key: str, cost_label: str, metric_label: str, title: str,
                 plot_id: str) -> str:
    """Accuracy difference to FP32 (points, with 95 % intervals) against ``cost_key`` for the measured rows."""
    plt = _pyplot()
    pts = [r for r in rows if r.get("status") == "measured" and r.get(cost_key) is not None]
    ref = next((r for r in rows if r.get("reference")), pts[0] if pts else None)
    fig, ax = plt.subplots(figsize=(10.0, 4.8))
    costs = [r[cost_key] for r in pts]
    deltas = [r["delta_points"] for r in pts]
    front = set(pareto_front(list(zip(costs, [r["accuracy"] for r in pts])), [row_margin(r) for r in pts]))
    lows, highs = [], []
    for r, d in zip(pts, deltas):
        if r.get("accuracy_margin") is not None:
            lo, hi = r["accuracy"] - r["accuracy_margin"], r["accuracy"] + r["accuracy_margin"]
        elif r.get("samples"):
            lo, hi = wilson_interval(r["accuracy"], r["samples"])
        else:
            lo, hi = (r["accuracy"],) * 2
        lows.append(d - 100 * (r["accuracy"] - lo))
        highs.append(d + 100 * (hi - r["accuracy"]))
    if ref is not None and ref.get("samples"):
        band = 100 * row_margin(ref)
        ax.axhspan(-band, band, color="0.9", zorder=0,
                   label=f"FP32's 95% interval (±{band:.2f} points, n={ref['samples']:,})")
    ax.axhline(0.0, color="0.5", lw=0.8, zorder=1)
    spread = max([abs(v) for v in lows + highs] + [0.05])
    ax.set_ylim(-1.5 * spread, 1.5 * spread)
    if costs:
        lo_c, hi_c = min(costs), max(costs)
        pad = 0.12 * ((hi_c - lo_c) or abs(hi_c) or 1.0)
        ax.set_xlim(max(0.0, lo_c - pad), hi_c + pad)
    scale = _nesting(ax, costs, deltas, fig.dpi)
    for i, r in enumerate(pts):
        color, marker = _STYLE.get(r["backend"], ("tab:gray", "^"))
        ax.errorbar(costs[i], deltas[i], yerr=[[deltas[i] - lows[i]], [highs[i] - deltas[i]]], fmt="none",
                    ecolor=color, elinewidth=0.9, capsize=3, alpha=0.7, zorder=2)
        ax.scatter(costs[i], deltas[i], s=_MARKER_S * (1.6 if i in front else 1.0) * scale[i], marker=marker,
                   facecolors=color if i in front else "white", edgecolors="black" if i in front else color,
                   linewidths=1.4, zorder=4, gid=f"{plot_id}-marker-{i}")
    if front:
        order = sorted(front, key=lambda i: costs[i])
        ax.step([costs[i] for i in order], [deltas[i] for i in order], where="post", color="black", lw=1, ls="--",
                label="Pareto front (filled markers)", zorder=3)
    for backend, (color, marker) in _STYLE.items():
        if any(r["backend"] == backend for r in pts):
            ax.scatter([], [], marker=marker, facecolors="white", edgecolors=color, linewidths=1.4, label=backend)
    ax.set_xlabel(cost_label)
    ax.set_ylabel(f"{metric_label}: difference to FP32 (points)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    marker_px = math.sqrt(_MARKER_S * 1.6) / 2 * fig.dpi / 72 + 2
    place_labels(ax, costs, deltas, [r["label"] for r in pts], marker_px=marker_px, gid_prefix=plot_id)
    return _svg(fig, plot_id)


def _nesting(ax: Any, xs: list[float], ys: list[float], dpi: float) -> list[float]:
    """Marker area factors: a point drawn on top of earlier ones gets a smaller marker, so the rings nest and every
    marker stays visible (same-latency, same-accuracy artifacts are common: fp32 ONNX vs fp32 .tflite)."""
    if not xs:
        return []
    centres = ax.transData.transform(list(zip(xs, ys)))
    near = math.sqrt(_MARKER_S * 1.6) * dpi / 72  # one large marker's width in pixels
    factors = []
    for i, c in enumerate(centres):
        covered = sum(math.dist(c, centres[j]) < 0.6 * near for j in range(i))
        factors.append(max(0.12, 0.45 ** covered))
    return factors


def _scale(values: list[float]) -> tuple[float, str]:
    """A power of ten that brings the largest value into [1, 1000), and its axis-label text."""
    top = max((abs(v) for v in values), default=0.0)
    if top == 0.0 or 1.0 <= top < 1000.0:
        return 1.0, ""
    exp = 3 * math.floor(math.log10(top) / 3)
    superscript = str(exp).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return 10.0 ** exp, f" (×10{superscript})"


def sensitivity_svg(model: str, scores: list[dict], plot_id: str) -> str:
    """Horizontal bars: each quantizable layer's sensitivity; the legend lists only the decisions present."""
    plt = _pyplot()
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    scores = sorted(scores, key=lambda s: s["sensitivity"])
    fig, ax = plt.subplots(figsize=(10.0, 0.42 * len(scores) + 1.3))
    factor, unit = _scale([s["sensitivity"] for s in scores])
    kept = [s["decision"] != "int8" for s in scores]
    ax.barh([s["layer"] for s in scores], [s["sensitivity"] / factor for s in scores],
            color=["tab:orange" if k else "tab:blue" for k in kept])
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    handles = [Patch(color="tab:blue", label="INT8")] if not all(kept) else []
    decisions = sorted({s["decision"] for s in scores if s["decision"] != "int8"})
    handles += [Patch(color="tab:orange", label=f"kept out of INT8 ({', '.join(decisions)})")] if decisions else []
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    ax.set_xlabel(f"sensitivity (relative output error){unit}")
    ax.set_title(f"per-layer INT8 sensitivity: {model}")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)  # grid lines behind the bars, not across them
    return _svg(fig, plot_id)
