"""The report's plots (matplotlib, Agg backend, PNG bytes): accuracy vs latency and vs size with the Pareto front
marked, and per-layer sensitivity bars when the sensitivity search ran.

A row is on the Pareto front when no other measured row is at least as accurate and at least as fast (small),
and strictly better in one of the two (the usual definition of non-dominated points).
"""

from __future__ import annotations

import io
from typing import Any

from .._deps import require

__all__ = ["pareto_front", "tradeoff_png", "sensitivity_png"]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points among ``(cost, accuracy)`` pairs: lower cost and higher accuracy win."""
    front = []
    for i, (c, a) in enumerate(points):
        dominated = any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for j, (c2, a2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def _pyplot():
    matplotlib = require("matplotlib", purpose="the report's plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


_COLORS = {"onnxruntime": "tab:blue", "tflite": "tab:green", "tensorrt": "tab:red"}


def _label_offsets(xs: list[float], ys: list[float]) -> list[int]:
    """Vertical label offsets (points) that stack the labels of nearly coincident markers instead of overlapping."""
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    offsets = []
    for i in range(len(xs)):
        near = sum(abs(xs[j] - xs[i]) / span_x < 0.06 and abs(ys[j] - ys[i]) / span_y < 0.06 for j in range(i))
        offsets.append(4 - 11 * near)
    return offsets


def tradeoff_png(rows: list[dict], cost_key: str, cost_label: str, metric_label: str, title: str) -> bytes:
    """Accuracy (percent) against ``cost_key`` for the measured rows; the Pareto front is drawn as a step line."""
    plt = _pyplot()
    pts = [r for r in rows if r.get("status") == "measured" and r.get(cost_key) is not None]
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    costs = [r[cost_key] for r in pts]
    accs = [100.0 * r["accuracy"] for r in pts]
    front = set(pareto_front(list(zip(costs, accs))))
    offsets = _label_offsets(costs, accs)
    for i, r in enumerate(pts):
        on = i in front
        ax.scatter(costs[i], accs[i], s=110 if on else 45, color=_COLORS.get(r["backend"], "tab:gray"),
                   marker="*" if on else "o", edgecolors="black" if on else "none", zorder=3)
        ax.annotate(r["label"], (costs[i], accs[i]), textcoords="offset points", xytext=(6, offsets[i]), fontsize=8)
    if front:
        order = sorted(front, key=lambda i: costs[i])
        ax.step([costs[i] for i in order], [accs[i] for i in order], where="post", color="black", lw=1,
                ls="--", label="Pareto front", zorder=2)
    for backend, color in _COLORS.items():
        if any(r["backend"] == backend for r in pts):
            ax.scatter([], [], color=color, label=backend)
    ax.set_xlabel(cost_label)
    ax.set_ylabel(f"{metric_label} (%)")
    ax.set_title(title)
    ax.margins(x=0.08, y=0.15)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def sensitivity_png(model: str, scores: list[dict]) -> bytes:
    """Horizontal bars: each quantizable layer's sensitivity, kept-out-of-INT8 layers in orange."""
    plt = _pyplot()
    scores = sorted(scores, key=lambda s: s["sensitivity"])
    fig, ax = plt.subplots(figsize=(7.2, 0.45 * len(scores) + 1.2))
    colors = ["tab:orange" if s["decision"] != "int8" else "tab:blue" for s in scores]
    ax.barh([s["layer"] for s in scores], [s["sensitivity"] for s in scores], color=colors)
    ax.set_xlabel("sensitivity (relative output error; orange = kept out of INT8)")
    ax.set_title(f"per-layer INT8 sensitivity: {model}")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)
