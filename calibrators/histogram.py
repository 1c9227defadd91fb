"""Streaming histograms of |x|, one per tensor, in constant memory and one pass over the data.

Exact growth scheme: each histogram has a fixed number of bins (2048) of width ``w``, and ``w`` is always a power of
two. The first non-zero batch picks the smallest power of two with ``max|x| <= num_bins * w``. When a later batch
holds a larger value, ``w`` doubles and neighbouring bins are summed in pairs until the value fits: bin ``k`` of
width ``2w`` covers exactly bins ``2k`` and ``2k + 1`` of width ``w``, so the merged histogram equals the one that
width would have given from the start -- nothing is re-read and nothing is approximated. Because ``w`` is a power of
two, ``|x| * (1/w)`` is exact in float32, so bin edges carry no rounding either. After any growth the data's maximum
lies in the upper half of the bins, so at least ``num_bins / 2`` bins are in use (TensorRT's calibrator instead
reads the data twice: once for the range, once for the histogram).
"""

from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from . import _native
from .errors import NonFiniteError

__all__ = ["Histogram", "HistogramCollector", "ChannelRange", "DEFAULT_BINS"]

DEFAULT_BINS = 2048


def _where(tensor: str | None, batch: int | None) -> str:
    parts = [f"tensor {tensor!r}" if tensor else "tensor", f"batch {batch}" if batch is not None else None]
    return " in ".join(p for p in parts if p)


def check_finite(x: np.ndarray, tensor: str | None = None, batch: int | None = None) -> None:
    """Raise NonFiniteError naming the tensor and batch index when ``x`` holds NaN or Inf."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        n_nan = int(np.isnan(x).sum())
        n_inf = int(np.isinf(x).sum())
        raise NonFiniteError(
            f"{_where(tensor, batch)} holds {n_nan} NaN and {n_inf} Inf values; calibration needs finite data "
            "(check the input data and the model's pre-processing)", tensor=tensor, batch=batch)


_CHUNK = 1 << 16  # values per chunk: the chunk and its bin indices stay in cache between the passes over it
_F32_SUMS = (1e-15, 1e15)  # |x| range in which float32 chunk sums of x and x**2 neither overflow nor underflow


def _fit_width(absmax: float, num_bins: int) -> float:
    """The smallest power of two ``w`` with ``absmax <= num_bins * w``."""
    width = math.ldexp(1.0, math.ceil(math.log2(absmax / num_bins)))
    if absmax > num_bins * width:  # log2 rounding at an exact power of two
        width *= 2
    return width


def _widen(raw: np.ndarray, factor: int) -> np.ndarray:
    """Raw counts at ``factor`` (a power of two) times the bin width, by summing bins in groups of ``factor``.

    ``raw`` has ``num_bins + 1`` entries: the bins ``[j w, (j + 1) w)`` and, last, the values exactly on the top
    edge ``num_bins * w``. At the wider width that edge is the left edge of bin ``num_bins // factor``.
    """
    nb = raw.size - 1
    out = np.zeros_like(raw)
    if factor >= nb:
        out[0] = raw[:nb].sum()
    else:
        out[: nb // factor] = raw[:nb].reshape(-1, factor).sum(axis=1)
    out[nb // factor] += raw[nb]
    return out


_LANES = 4  # interleaved sub-histograms: neighbouring equal bin indices (ReLU zeros) no longer chain increments


@functools.lru_cache(maxsize=8)
def _lane_offsets(n: int, num_bins: int) -> np.ndarray:
    """``(i % _LANES) * (num_bins + 1)`` for i < n: value i is counted in sub-histogram i % _LANES."""
    offsets = ((np.arange(n) % _LANES) * (num_bins + 1)).astype(np.int32)
    offsets.setflags(write=False)
    return offsets


class _BatchScan:
    """Raw counts and statistics of one batch, kept apart from the running histogram (merged in at the end)."""

    __slots__ = ("num_bins", "width", "raw", "lo", "hi", "zeros", "total", "total_sq")

    def __init__(self, num_bins: int, width: float | None):
        self.num_bins, self.width = num_bins, width
        self.raw: np.ndarray | None = None  # the batch's raw counts (see :func:`_widen`); None: no width yet
        self.lo, self.hi, self.zeros, self.total, self.total_sq = math.inf, -math.inf, 0, 0.0, 0.0

    def scan(self, v: np.ndarray, tensor: str | None, batch: int | None) -> None:
        """Scan the float32 vector ``v``: natively (``_scan.c``) when it is built, else with numpy."""
        fn = _native.scan_function()
        if fn is None:
            self.scan_numpy(v, tensor, batch)
        else:
            self.scan_native(fn, v, tensor, batch)

    def scan_native(self, fn, v: np.ndarray, tensor: str | None, batch: int | None) -> None:
        """The same counts as :meth:`scan_numpy`, in one read of ``v`` (sums in double rather than float32)."""
        raw = np.zeros(self.num_bins + 1, dtype=np.int64)
        exponent = ctypes.c_int32(_native.NO_WIDTH if self.width is None else math.frexp(self.width)[1] - 1)
        stats = np.array([math.inf, -math.inf, 0.0, 0.0])
        zeros = ctypes.c_int64(0)
        if v.ctypes.data % v.itemsize:  # a view at an odd byte offset: C wants aligned floats
            v = v.copy()
        rc = fn(v, v.size, self.num_bins, ctypes.byref(exponent), raw, stats, ctypes.byref(zeros))
        if rc == _native.NONFINITE:
            check_finite(v, tensor, batch)  # raises, with the counts of NaN and Inf
        if rc != _native.OK:
            raise MemoryError(f"native histogram scan of {_where(tensor, batch)} failed (code {rc})")
        self.lo, self.hi, self.total, self.total_sq = (float(s) for s in stats)
        self.lo, self.hi = self.lo + 0.0, self.hi + 0.0  # -0.0 -> 0.0, as in the numpy scan
        self.zeros = zeros.value
        if exponent.value != _native.NO_WIDTH:
            self.width = math.ldexp(1.0, exponent.value)
            self.raw = raw

    def scan_numpy(self, v: np.ndarray, tensor: str | None, batch: int | None) -> None:
        """The reference scan: one pass over the float32 vector ``v``, chunk by chunk, each chunk read from memory
        once.

        Per chunk: min / max (NaN and Inf surface there), the exact-zero count, float32 pairwise sums of x and
        x**2 (accumulated in float64 across chunks), and the bin counts: ``trunc(|x| * (1/w))`` (exact: ``w`` is
        a power of two; the ``abs`` is skipped for a chunk of one sign, such as ReLU outputs) straight into int32,
        offset into one of four interleaved sub-histograms, counted by one ``np.bincount``. A chunk beyond the
        current range first widens the counts exactly.
        """
        nb = self.num_bins
        chunk = _CHUNK
        lanes = None if self.width is None else np.zeros(_LANES * (nb + 1), dtype=np.int64)
        n0 = min(chunk, v.size)
        buf = np.empty(n0, dtype=np.float32)
        is_zero = np.empty(n0, dtype=np.bool_)
        idx = np.empty(n0, dtype=np.int32)
        offsets = _lane_offsets(n0, nb)
        inv = None
        pending = 0  # exact zeros seen before the first non-zero value fixed the width
        for start in range(0, v.size, chunk):
            part = v[start:start + chunk]
            n = part.size
            lo, hi = float(part.min()) + 0.0, float(part.max()) + 0.0  # + 0.0: a zero extreme is +0.0 on both paths
            if not (math.isfinite(lo) and math.isfinite(hi)):  # NaN and Inf both surface in min / max
                check_finite(v, tensor, batch)
            if lo < self.lo:
                self.lo = lo
            if hi > self.hi:
                self.hi = hi
            absmax = max(-lo, hi)
            if absmax == 0.0:
                self.zeros += n
                if lanes is None:
                    pending += n
                else:
                    lanes[0] += n
                continue
            self.zeros += int(np.count_nonzero(np.equal(part, 0, out=is_zero[:n])))
            if _F32_SUMS[0] < absmax < _F32_SUMS[1]:
                self.total += float(part.sum())
                self.total_sq += float(np.square(part, out=buf[:n]).sum())
            else:
                self.total += float(part.sum(dtype=np.float64))
                self.total_sq += float(np.einsum("i,i->", part, part, dtype=np.float64))
            if lanes is None:
                self.width = _fit_width(absmax, nb)
                lanes = np.zeros(_LANES * (nb + 1), dtype=np.int64)
                lanes[0] = pending
            elif absmax > nb * self.width:
                wider = _fit_width(absmax, nb)
                raw = _widen(lanes.reshape(_LANES, -1).sum(axis=0), int(wider / self.width))
                lanes[:] = 0
                lanes[: nb + 1] = raw
                self.width, inv = wider, None
            if inv is None:
                exact = -120 < math.frexp(self.width)[1] - 1 < 120  # 1/w is an exact float32 power of two
                inv = np.float32(1.0 / self.width) if exact else False
            if inv is False:  # a width beyond float32's exponent range: divide in float64
                idx[:n] = np.floor(np.abs(part).astype(np.float64) / self.width)
            elif lo >= 0:
                np.multiply(part, inv, out=idx[:n], casting="unsafe")  # the float32 product, truncated
            elif hi <= 0:
                np.multiply(part, -inv, out=idx[:n], casting="unsafe")
            else:
                np.multiply(np.abs(part, out=buf[:n]), inv, out=idx[:n], casting="unsafe")
            np.add(idx[:n], offsets[:n], out=idx[:n])
            lanes += np.bincount(idx[:n], minlength=_LANES * (nb + 1))
        if lanes is not None:
            self.raw = lanes.reshape(_LANES, -1).sum(axis=0)  # the sub-histograms summed


@dataclass
class Histogram:
    """Histogram of |x| over ``[0, num_bins * bin_width]`` plus running statistics of x."""

    num_bins: int = DEFAULT_BINS
    counts: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    bin_width: float | None = None  # None until a non-zero value arrives
    count: int = 0
    samples: int = 0
    batches: int = 0
    zeros: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    total_sq: float = 0.0
    edge: int = field(default=0, repr=False)  # values exactly on the top edge num_bins * bin_width (in the last bin)

    def __post_init__(self) -> None:
        if self.num_bins < 2 or self.num_bins & (self.num_bins - 1):
            raise ValueError(f"num_bins must be a power of two >= 2, got {self.num_bins}")
        if self.bin_width is not None and not (self.bin_width > 0 and math.frexp(self.bin_width)[0] == 0.5):
            raise ValueError(f"bin_width must be a power of two (exact growth rests on it), got {self.bin_width!r}")
        if self.counts is None:
            self.counts = np.zeros(self.num_bins, dtype=np.int64)

    @property
    def absmax(self) -> float:
        """Largest |x| seen (exact, not binned); 0.0 before any data."""
        return max(abs(self.minimum), abs(self.maximum)) if self.count else 0.0

    @property
    def used_bins(self) -> int:
        """Number of bins up to and including the last non-empty one."""
        nz = np.flatnonzero(self.counts)
        return int(nz[-1]) + 1 if nz.size else 0

    def edges(self) -> np.ndarray:
        """Bin edges (num_bins + 1 values); all zeros before the first non-zero value."""
        return np.arange(self.num_bins + 1, dtype=np.float64) * (self.bin_width or 0.0)

    def _raw(self) -> np.ndarray:
        raw = np.append(self.counts, self.edge)
        raw[self.num_bins - 1] -= self.edge
        return raw

    def _set_raw(self, raw: np.ndarray) -> None:
        self.counts = raw[: self.num_bins].copy()
        self.counts[self.num_bins - 1] += raw[self.num_bins]  # |x| == num_bins * w belongs to the last bin
        self.edge = int(raw[self.num_bins])

    def _grow_to(self, absmax: float) -> None:
        """Widen the bins (exactly, by summing neighbours) until ``absmax`` fits; set the first width."""
        if self.bin_width is None:
            self.bin_width = _fit_width(absmax, self.num_bins)
        elif absmax > self.num_bins * self.bin_width:
            wider = _fit_width(absmax, self.num_bins)
            self._set_raw(_widen(self._raw(), int(wider / self.bin_width)))
            self.bin_width = wider

    def update(self, x, *, tensor: str | None = None, batch: int | None = None, samples: int | None = None) -> None:
        """Add the values of ``x`` (any shape); ``samples`` defaults to ``x.shape[0]`` (the batch size).

        A batch holding NaN or Inf raises :class:`NonFiniteError` and leaves the histogram unchanged.
        """
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{_where(tensor, batch)} has dtype {x.dtype}, expected a numeric array")
        n_samples = samples if samples is not None else (int(x.shape[0]) if x.ndim else 1)
        if x.size == 0:
            self.batches += 1
            self.samples += n_samples
            return
        v = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        scan = _BatchScan(self.num_bins, self.bin_width)
        scan.scan(v, tensor, batch)  # raises before anything below changes
        self.batches += 1
        self.samples += n_samples
        self.count += v.size
        self.minimum, self.maximum = min(self.minimum, scan.lo), max(self.maximum, scan.hi)
        self.total += scan.total
        self.total_sq += scan.total_sq
        if scan.width is not None:
            first = self.bin_width is None
            self._grow_to(scan.width * self.num_bins)  # the batch's width: at least the current one
            if first:
                self.counts[0] += self.zeros  # zeros of earlier all-zero batches, seen before the width was known
            raw = self._raw()
            raw += scan.raw
            self._set_raw(raw)
        self.zeros += scan.zeros

    def stats(self) -> dict:
        """Summary statistics of x (signed) and of the histogram, JSON-ready."""
        n = self.count
        mean = self.total / n if n else 0.0
        var = max(self.total_sq / n - mean * mean, 0.0) if n else 0.0
        return {
            "min": self.minimum if n else 0.0, "max": self.maximum if n else 0.0, "absmax": self.absmax,
            "mean": mean, "std": math.sqrt(var), "values": n, "zero_fraction": (self.zeros / n) if n else 0.0,
            "bins": self.num_bins, "bin_width": self.bin_width or 0.0, "used_bins": self.used_bins,
        }

    @classmethod
    def of(cls, x, num_bins: int = DEFAULT_BINS, bin_width: float | None = None) -> "Histogram":
        """A histogram of one array, optionally with a given (power-of-two) starting bin width."""
        h = cls(num_bins=num_bins, bin_width=bin_width)
        h.update(x)
        return h


class HistogramCollector:
    """One streaming :class:`Histogram` per tensor name."""

    def __init__(self, num_bins: int = DEFAULT_BINS):
        self.num_bins = num_bins
        self.histograms: dict[str, Histogram] = {}

    def update(self, name: str, x, *, batch: int | None = None, samples: int | None = None) -> None:
        """Add one batch of tensor ``name``; NaN / Inf raise NonFiniteError naming ``name`` and ``batch``."""
        hist = self.histograms.get(name)
        if hist is None:
            hist = self.histograms[name] = Histogram(num_bins=self.num_bins)
        hist.update(x, tensor=name, batch=batch, samples=samples)

    def update_all(self, tensors: dict, *, batch: int | None = None, samples: int | None = None) -> None:
        for name, x in tensors.items():
            self.update(name, x, batch=batch, samples=samples)

    def __getitem__(self, name: str) -> Histogram:
        return self.histograms[name]

    def __contains__(self, name: object) -> bool:
        return name in self.histograms

    def __len__(self) -> int:
        return len(self.histograms)

    @property
    def names(self) -> list[str]:
        return list(self.histograms)

    def nbytes(self) -> int:
        """Memory held by the histograms (constant in the number of samples)."""
        return sum(h.counts.nbytes for h in self.histograms.values())


class ChannelRange:
    """Streaming per-channel min / max along one axis (for weights, or per-channel activation ranges)."""

    def __init__(self, axis: int = 0):
        self.axis = axis
        self.minimum: np.ndarray | None = None
        self.maximum: np.ndarray | None = None

    def update(self, x, *, tensor: str | None = None, batch: int | None = None) -> None:
        x = np.asarray(x)
        check_finite(x, tensor, batch)
        axis = self.axis % x.ndim
        other = tuple(i for i in range(x.ndim) if i != axis)
        lo, hi = x.min(axis=other).astype(np.float64), x.max(axis=other).astype(np.float64)
        if self.minimum is None:
            self.minimum, self.maximum = lo, hi
            return
        if lo.shape != self.minimum.shape:
            raise ValueError(f"{_where(tensor, batch)} has {lo.size} channels on axis {axis}, "
                             f"earlier batches had {self.minimum.size}")
        self.minimum = np.minimum(self.minimum, lo)
        self.maximum = np.maximum(self.maximum, hi)

    def amax(self) -> np.ndarray:
        """Per-channel max |x|."""
        if self.minimum is None:
            raise ValueError("ChannelRange has seen no data")
        return np.maximum(np.abs(self.minimum), np.abs(self.maximum))
