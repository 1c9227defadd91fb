"""Flags on a chosen range: degenerate tensors and ranges that clip most of what calibration saw.

- ``all-zero``: every calibration value was 0, so there is no range (amax 0): the tensor stays in higher precision
  (the Q/DQ stage keeps the layers reading it out of INT8 and says so), and the data or the model deserves a look
  (a dead branch, an input the calibration data never excites).
- ``constant``: every value was the same non-zero number: the range holds it exactly, but nothing about the
  tensor's spread was measured.
- ``low-kept``: amax keeps less than ``LOW_KEPT`` of the largest |x| seen. Clipping outliers is what entropy,
  percentile and mse calibration are for, but a range that drops more than 90 % of the span usually means that a
  few values carry meaning (box coordinates after a detector's decode, a softmax's confident peaks) and the chosen
  method cannot see it from a histogram; minmax or higher precision for that tensor is the usual fix.
"""

from __future__ import annotations

__all__ = ["LOW_KEPT", "range_flags", "is_degenerate"]

LOW_KEPT = 0.1


def is_degenerate(amax: float) -> bool:
    """True when a range cannot define an INT8 scale (amax 0: an all-zero tensor)."""
    return not amax > 0


def range_flags(amax: float, stats: dict, low_kept: float = LOW_KEPT) -> list[str]:
    """Human-readable flags for one tensor's range (empty when nothing is unusual)."""
    absmax = float(stats.get("absmax", 0.0))
    if absmax == 0.0:
        return ["all-zero: every calibration value was 0; kept in higher precision"]
    flags = []
    if stats.get("min") == stats.get("max"):
        flags.append(f"constant: every calibration value was {stats.get('min'):.6g}")
    if amax < low_kept * absmax:
        flags.append(f"low-kept: amax {amax:.5g} keeps {amax / absmax:.1%} of max |x| {absmax:.5g} "
                     f"(threshold {low_kept:.0%}); consider minmax or higher precision for it")
    return flags
