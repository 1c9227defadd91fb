"""Scatter labels that never overprint each other or a marker.

Each label is tried at candidate offsets around its point (near ones first, then rings further out, 16 directions
each); the first position whose text box, grown by a margin, stays inside the axes and clear of every marker and
every label placed so far is taken. A label placed away from its point gets a thin leader line. Boxes are measured
with the figure's renderer, so the test is on the text as drawn; the margin absorbs the small metric differences
of a browser drawing the same SVG text with its own font engine.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["place_labels"]

_MARGIN_PX = 3.0
_RINGS_PT = (7, 14, 24, 36, 50, 66, 84, 104, 126)
_LEADER_PT = 9  # farther than this from the point: draw a leader line


def _grow(box: Any, px: float) -> tuple[float, float, float, float]:
    return box.x0 - px, box.y0 - px, box.x1 + px, box.y1 + px


def _hits(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _candidates() -> list[tuple[float, float, str, str]]:
    """(dx, dy in points, ha, va): right / left / above / below first, then rings in 16 directions."""
    out = []
    for r in _RINGS_PT:
        for k in range(16):
            angle = 2 * math.pi * k / 16
            dx, dy = r * math.cos(angle), r * math.sin(angle)
            ha = "left" if dx > 1e-6 else "right" if dx < -1e-6 else "center"
            va = "bottom" if dy > 1e-6 else "top" if dy < -1e-6 else "center"
            out.append((dx, dy, ha, va))
    return out


def place_labels(ax: Any, xs: list[float], ys: list[float], labels: list[str], *, marker_px: float,
                 gid_prefix: str, fontsize: float = 8.5) -> list[Any]:
    """Annotate point ``i`` with ``labels[i]`` without overlaps; each text gets gid ``{gid_prefix}-label-{i}``.

    ``marker_px`` is the marker's half size in display pixels (obstacle boxes around every point).
    Returns the annotations (a label with no free place takes the one with fewest clashes; none is dropped).
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inside = _grow(ax.get_window_extent(renderer), -2.0)
    centres = ax.transData.transform(list(zip(xs, ys))) if xs else []
    obstacles = [(cx - marker_px, cy - marker_px, cx + marker_px, cy + marker_px) for cx, cy in centres]
    placed: list[tuple[float, float, float, float]] = []
    annotations = []
    # crowded points first: they have the fewest free places
    crowd = [sum(math.dist(c, d) < 40 for d in centres) for c in centres]
    for i in sorted(range(len(labels)), key=lambda i: (-crowd[i], ys[i], xs[i])):
        probe = ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points", xytext=(0, 0), fontsize=fontsize)
        best: tuple[int, tuple[float, float, str, str]] | None = None
        for cand in _candidates():
            dx, dy, ha, va = cand
            probe.xyann = (dx, dy)
            probe.set_horizontalalignment(ha)
            probe.set_verticalalignment(va)
            box = _grow(probe.get_window_extent(renderer), _MARGIN_PX)
            if not (inside[0] <= box[0] and box[2] <= inside[2] and inside[1] <= box[1] and box[3] <= inside[3]):
                continue
            clashes = sum(_hits(box, o) for o in obstacles) + sum(_hits(box, p) for p in placed)
            if best is None or clashes < best[0]:
                best = (clashes, cand)
            if clashes == 0:
                break
        dx, dy, ha, va = best[1] if best is not None else (_RINGS_PT[0], 0.0, "left", "center")
        probe.xyann = (dx, dy)
        probe.set_horizontalalignment(ha)
        probe.set_verticalalignment(va)
        placed.append(_grow(probe.get_window_extent(renderer), _MARGIN_PX))
        probe.remove()
        far = math.hypot(dx, dy) > _LEADER_PT
        leader = {"arrowstyle": "-", "color": "0.45", "lw": 0.7, "shrinkA": 1, "shrinkB": 4} if far else None
        ann = ax.annotate(labels[i], (xs[i], ys[i]), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize,
                          ha=ha, va=va, zorder=5, arrowprops=leader)
        ann.set_gid(f"{gid_prefix}-label-{i}")
        annotations.append(ann)
    return annotations
