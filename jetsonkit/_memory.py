"""A memory budget for calibration: how many samples per ONNX Runtime run, and how many exposed tensors per run.

The budget is the memory calibration's activations may take on top of what the process already holds (Python,
ONNX Runtime, the model, the data: about 200 MB for a 224x224 classifier in a fresh ``jetsonkit calibrate``), so
the same budget means the same thing in a small command and inside a long ``compress`` run.

Calibration exposes every quantized activation as an extra graph output, so one run of ``b`` samples holds about
``b * S`` bytes of outputs (``S``: the exposed bytes of one sample, measured on one probe sample), plus what ONNX
Runtime allocates for the same activations inside the run, plus, while the histograms of the previous batch are
still filling, that batch's outputs: ``COPIES = 3`` copies at the peak. The batch is the largest that keeps
``b * (COPIES * S + input bytes)`` within the budget; when even one sample does not fit, the tensors are split into
groups and each run exposes one group (the model then runs once per group and batch).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import UsageError

__all__ = ["parse_size", "current_rss", "MemorySplit", "split_memory", "DEFAULT_MAX_MEMORY", "COPIES"]

# a 224x224 MobileNetV2-like classifier: 26.6 MiB of activations a sample -> batch 6, under 1 GB peak RSS in all
DEFAULT_MAX_MEMORY = 512 << 20
COPIES = 3
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str | int | float, what: str = "--max-memory") -> int:
    """``"512M"``, ``"1.5G"``, ``"2GiB"``, ``1073741824`` -> bytes; UsageError for anything else or below 16 MiB."""
    if isinstance(text, bool):
        raise UsageError(f"{what} {text!r} is not a size", hint="e.g. 512M or 1G")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise UsageError(f"{what} {text!r} is not a size", hint="e.g. 512M or 1G (K, M, G, T: powers of 1024)")
        value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not value >= 16 << 20:
        raise UsageError(f"{what} {text!r} is below 16 MiB", hint="e.g. 512M or 1G")
    return int(value)


def current_rss() -> int:
    """This process's resident set size now, in bytes (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class MemorySplit:
    batch: int
    groups: tuple[tuple[str, ...], ...]  # tensors exposed per ONNX Runtime run
    sample_bytes: int  # exposed bytes of one sample, all tensors
    budget: int

    requested: int = 0

    @property
    def limited(self) -> bool:
        """True when the budget made the batch smaller than asked or split the tensors."""
        return self.batch < self.requested or len(self.groups) > 1

    def describe(self) -> str:
        runs = f", {len(self.groups)} runs per batch" if len(self.groups) > 1 else ""
        return (f"memory budget {self.budget / 2**20:.0f} MiB: batch {self.batch}{runs} "
                f"({self.sample_bytes / 2**20:.3g} MiB of activations a sample)")


def split_memory(tensor_bytes: dict[str, int], input_bytes: int, requested_batch: int, budget: int) -> MemorySplit:
    """The batch (at most ``requested_batch``) and tensor groups whose activations fit in ``budget`` bytes;
    ``tensor_bytes``: exposed bytes per sample of each tensor, in graph order."""
    room = max(budget, 0)
    sample = sum(tensor_bytes.values())
    per_sample = COPIES * sample + input_bytes
    batch = max(1, min(requested_batch, room // max(per_sample, 1)))
    if COPIES * sample + input_bytes <= room or not tensor_bytes:
        return MemorySplit(int(batch), (tuple(tensor_bytes),), sample, budget, requested_batch)
    groups: list[list[str]] = [[]]  # one sample per run does not fit: expose fewer tensors per run
    size = 0
    limit = max((room - input_bytes) // COPIES, 1)
    for name, n in tensor_bytes.items():
        if groups[-1] and size + n > limit:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += n
    return MemorySplit(1, tuple(tuple(g) for g in groups), sample, budget, requested_batch)
