"""Accuracy noise and the Pareto front that respects it.

An accuracy measured on ``n`` test samples is a binomial proportion: its 95 % interval (Wilson score interval,
E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22, 1927) is about
+-0.2 points for 99 % top-1 on 10,000 images. Two artifacts whose accuracies differ by less than that are not
distinguishable by the test, so the Pareto front treats such a difference as a tie: going along the cost axis
(cheapest first), a point joins the front only when it is more accurate than every cheaper front point by more than
the larger of the two intervals' half-widths.
"""

from __future__ import annotations

import math

__all__ = ["wilson_interval", "half_width", "pareto_front"]

Z95 = 1.959963984540054  # two-sided 95 % standard-normal quantile


def wilson_interval(p: float, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) of the Wilson score interval for a proportion ``p`` measured on ``n`` samples."""
    if n <= 0:
        return 0.0, 1.0
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    spread = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - spread), min(1.0, centre + spread)


def half_width(p: float, n: int) -> float:
    """Half the width of the 95 % Wilson interval (same unit as ``p``)."""
    low, high = wilson_interval(p, n)
    return (high - low) / 2.0


def pareto_front(points: list[tuple[float, float]], margins: list[float] | None = None) -> list[int]:
    """Indices of the front among ``(cost, accuracy)`` pairs: lower cost and higher accuracy win.

    ``margins[i]`` is the accuracy noise of point ``i`` (e.g. :func:`half_width`); accuracy differences within the
    larger margin of two points are ties. Without margins this is the usual non-dominated set (exact comparisons).
    """
    margins = margins if margins is not None else [0.0] * len(points)
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    for i in order:
        cost, acc = points[i]
        beaten = False
        for j in front:
            c2, a2 = points[j]
            tie = max(margins[i], margins[j])
            if tie == 0.0 and (c2, a2) == (cost, acc):
                continue  # identical points: both stay on the front
            if acc <= a2 + tie:
                beaten = True
                break
        if not beaten:
            front.append(i)
    return sorted(front)
