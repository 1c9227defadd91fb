"""Range (amax) selection from a histogram of |x|: entropy, percentile, mse, minmax.

- ``entropy``: TensorRT's KL-divergence calibration (Szymon Migacz, "8-bit Inference with TensorRT", GTC 2017).
  For every candidate ``i`` in 128 ... nbins-1: the reference P is the first ``i`` bins with every count beyond
  them added to bin ``i - 1``; the candidate Q merges the first ``i`` bins (without the outliers) into 128 levels
  (bin ``j`` goes to level ``floor(j * 128 / i)``, as NVIDIA's pytorch-quantization / ModelOpt
  ``HistogramCalibrator`` assigns them) and spreads each level's count evenly over the bins where P is non-zero;
  the threshold minimises KL(P || Q) and is ``(i + 0.5) * bin_width`` (the slide's formula). Ties go to the
  largest threshold (the last arg-min, as pytorch-quantization / ModelOpt, so a constant tensor keeps its range).
  Exact zeros (ReLU outputs) are removed from bin 0 before the search (``drop_exact_zeros``): any symmetric scale
  represents 0 exactly, and the spike would otherwise dominate the divergence; ModelOpt instead sets bin 0 to
  bin 1's count, which also erases real small values when the whole bulk of a tensor sits in bin 0. Likewise any
  bin holding more than 5 % of the values is lowered to its neighbours' level (``spike_fraction``, see
  :func:`flatten_spikes`): a jetsonkit addition, measured necessary on the MNIST example, where the normalised
  background otherwise sets the input's range. The search is vectorised: KL splits into terms that all come from
  prefix sums, so all candidates cost O(nbins + candidates * 128) with no Python loop (see :func:`kl_divergences`).
- ``percentile``: the right edge of the bin where the cumulative count first reaches ``percentile`` % (default
  99.99, as pytorch-quantization / ModelOpt).
- ``mse``: the bin centre (from bin 128 up, as ModelOpt) that minimises the count-weighted squared error of
  fake-quantizing the bin centres with that amax.
- ``minmax``: the largest |x| seen, exactly (not binned).
- ``auto``: a choice per tensor (see :func:`auto_amax`): ``entropy`` for a tensor that was never negative in
  calibration (post-ReLU / post-sigmoid / pooled such outputs: a one-sided, peaked distribution, the case TensorRT's
  KL method was designed and published for), ``mse`` for a signed one (LayerNorm outputs, inputs of GELU / SiLU /
  HardSwish, attention scores, residual sums, a network input), whose range must bound the rounding error of the
  bulk and the clipping error of the tails together: the amax minimising that tensor's quantization MSE.
Every method returns 0.0 for a tensor that was all zeros; no method returns more than the largest |x| seen.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import UnknownMethodError
from .histogram import Histogram, HistogramCollector

__all__ = ["METHODS", "DEFAULT_METHOD", "REGISTRY", "OPTIONS", "Method", "MethodOption", "check_method", "markdown_table",
           "check_options", "compute_amax", "amax_from_histogram", "entropy_amax", "percentile_amax", "mse_amax",
           "minmax_amax", "auto_amax", "auto_choice", "merge_and_expand", "kl_divergences", "flatten_spikes"]

QUANT_LEVELS = 128
START_BIN = 128


def merge_and_expand(p, levels: int) -> np.ndarray:
    """Merge the bins of ``p`` into ``levels`` groups and spread each group's sum over its non-zero bins.

    The GTC 2017 slide's example: ``[1, 0, 2, 3, 5, 3, 1, 7]`` with 2 levels -> sums ``[6, 16]`` ->
    ``[2, 0, 2, 2, 4, 4, 4, 4]``.
    """
    p = np.asarray(p, dtype=np.float64)
    level = (np.arange(p.size) * levels) // p.size
    sums = np.bincount(level, weights=p, minlength=levels)
    nonzero = np.bincount(level, weights=(p != 0), minlength=levels)
    per_bin = np.divide(sums, nonzero, out=np.zeros_like(sums), where=nonzero > 0)
    return np.where(p != 0, per_bin[level], 0.0)


def kl_divergences(counts, start_bin: int = START_BIN, levels: int = QUANT_LEVELS) -> np.ndarray:
    """KL(P_i || Q_i) for every candidate ``i`` in ``start_bin ... len(counts) - 1`` (one vectorised pass).

    P_i: bins[:i] with the outliers added to bin i-1; Q_i: bins[:i] (without the outliers, as on the GTC slide)
    merged into ``levels`` levels and expanded over the bins where P_i is non-zero; both normalised. With
    N = sum(P), M = sum(Q), S_k the sum of level k, c_k the number of its bins where P is non-zero, t the outliers:
    KL = (sum_j P_j log P_j - sum_k S_k log(S_k / c_k) - t log(S_top / c_top)) / N + log(M / N).
    A candidate whose whole top level is empty while outliers exist has P > 0 where Q = 0: KL = inf (no smoothing,
    as in pytorch-quantization / ModelOpt, which take scipy's entropy).
    """
    b = np.asarray(counts, dtype=np.float64)
    n = b.size
    total = b.sum()
    cand = np.arange(start_bin, n)
    if cand.size == 0 or total == 0:
        return np.zeros(cand.size)
    c_sum = np.concatenate([[0.0], np.cumsum(b)])          # c_sum[j] = sum of b[:j]
    c_nz = np.concatenate([[0], np.cumsum(b > 0, dtype=np.int32)])
    c_blogb = np.concatenate([[0.0], np.cumsum(_xlogx(b))])
    tail = total - c_sum[cand]                              # outliers beyond candidate i
    p_logp = c_blogb[cand - 1] + _xlogx(b[cand - 1] + tail)
    bounds = _level_bounds(start_bin, n, levels)            # [candidates, levels + 1]
    at = c_sum[bounds]
    sums = at[:, 1:] - at[:, :-1]
    at_nz = c_nz[bounds]
    nz = at_nz[:, 1:] - at_nz[:, :-1]                       # 0 ... ceil(n / levels): a small-int log table
    nz[:, -1] += (b[cand - 1] == 0) & (tail > 0)            # P's bin i-1 is non-zero through the outliers
    log_nz = np.log(np.maximum(np.arange(nz.max() + 1), 1))
    # counts are integers, so max(sums, 1) only changes empty levels, whose term is 0 anyway
    log_q = np.log(np.maximum(sums, 1.0)) - log_nz[nz]      # log of each level's expanded Q value
    q_term = np.einsum("ij,ij->i", sums, log_q) + tail * log_q[:, -1]
    with np.errstate(divide="ignore"):
        kl = (p_logp - q_term) / total + np.log((total - tail) / total)
    kl = np.maximum(kl, 0.0)
    kl[(sums[:, -1] == 0) & (tail > 0)] = np.inf
    return kl


@functools.lru_cache(maxsize=64)
def _level_bounds(start_bin: int, n: int, levels: int) -> np.ndarray:
    """Level k of candidate i holds bins [ceil(k*i/levels), ceil((k+1)*i/levels)): [candidates, levels + 1]."""
    cand = np.arange(start_bin, n)
    k = np.arange(levels + 1)
    bounds = ((k[None, :] * cand[:, None] + levels - 1) // levels).astype(np.intp)
    bounds.setflags(write=False)
    return bounds


def _xlogx(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)


def entropy_amax(hist: Histogram, start_bin: int = START_BIN, levels: int = QUANT_LEVELS,
                 drop_exact_zeros: bool = True, spike_fraction: float | None = 0.05) -> float:
    """TensorRT's entropy (KL) threshold; see the module docstring."""
    if hist.bin_width is None:
        return 0.0
    b = hist.counts[: hist.used_bins].astype(np.float64)
    if drop_exact_zeros:
        b[0] -= hist.zeros
    if spike_fraction is not None:
        b = flatten_spikes(b, spike_fraction)
    if b.size <= start_bin:  # too few bins to clip anything: keep the whole range
        return minmax_amax(hist)
    kl = kl_divergences(b, start_bin, levels)
    best = start_bin + (kl.size - 1 - int(np.argmin(kl[::-1])))  # last arg-min
    return min((best + 0.5) * hist.bin_width, hist.absmax)


def flatten_spikes(b: np.ndarray, fraction: float) -> np.ndarray:
    """Counts with every bin holding more than ``fraction`` of all values lowered to its larger neighbour's count.

    A single value repeated across a tensor (a normalised image background, a ReLU of a constant response) forms
    one huge bin. KL(P || Q) then measures little but where that spike falls on the 128-level grid, and the
    search settles just above it, clipping everything else (measured on the MNIST example: the input's background
    at 0.424 pulled its range from 2.81 to 0.43 and top-1 from 99.05 % to 89.7 %). Lowering the spike to its
    neighbourhood's level is the treatment NVIDIA's pytorch-quantization gives the zero spike (bin 0 := bin 1),
    applied to any dominant bin.
    """
    total = b.sum()
    if total <= 0:
        return b
    spikes = np.flatnonzero(b > fraction * total)
    if spikes.size == 0:
        return b
    b = b.copy()
    padded = np.concatenate([[0.0], b, [0.0]])
    b[spikes] = np.maximum(padded[spikes], padded[spikes + 2])  # neighbours j-1 and j+1
    return b


def percentile_amax(hist: Histogram, percentile: float = 99.99) -> float:
    """Right edge of the first bin at which the cumulative count reaches ``percentile`` %."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    if hist.bin_width is None:
        return 0.0
    cdf = np.cumsum(hist.counts) / hist.counts.sum()
    idx = int(np.searchsorted(cdf, percentile / 100.0))
    return min((min(idx, hist.num_bins - 1) + 1) * hist.bin_width, hist.absmax)


def mse_amax(hist: Histogram, start_bin: int = START_BIN, chunk: int = 256) -> float:
    """Bin centre minimising the count-weighted squared fake-quantization error of the bin centres."""
    if hist.bin_width is None:
        return 0.0
    used = hist.used_bins
    counts = hist.counts[:used].astype(np.float64)
    centres = (np.arange(used) + 0.5) * hist.bin_width
    cand = centres[min(start_bin, used - 1):]
    errors = np.empty(cand.size)
    for s in range(0, cand.size, chunk):  # chunks bound the [candidates, bins] matrix, not a per-candidate loop
        scale = cand[s:s + chunk, None] / 127.0
        q = np.clip(np.rint(centres[None, :] / scale), 0, 127) * scale
        errors[s:s + chunk] = ((q - centres[None, :]) ** 2 * counts[None, :]).sum(axis=1)
    best = cand.size - 1 - int(np.argmin(errors[::-1]))
    return min(float(cand[best]), hist.absmax)


def minmax_amax(hist: Histogram) -> float:
    """The largest |x| seen."""
    return float(hist.absmax)


def auto_choice(hist: Histogram) -> str:
    """The method :func:`auto_amax` uses for ``hist``: "entropy" when no value was negative, else "mse"."""
    return "entropy" if hist.count and hist.minimum >= 0 else "mse"


def auto_amax(hist: Histogram) -> float:
    """Per-tensor choice: entropy for a never-negative tensor, minimum-MSE for a signed one."""
    return entropy_amax(hist) if auto_choice(hist) == "entropy" else mse_amax(hist)


@dataclass(frozen=True)
class MethodOption:
    """An option a method takes from the user (a CLI flag ``--<name>``, a recipe key ``calibration.<name>``)."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None   # exclusive lower bound
    high: float | None = None  # inclusive upper bound

    def check(self, value: Any, method: str) -> Any:
        """``value`` as ``kind``; ValueError naming method and option when it is not one or out of range."""
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else self.kind):
            raise ValueError(f"method {method!r} option {self.name!r} must be a {self.kind.__name__}, got {value!r}")
        value = self.kind(value)
        if (self.low is not None and not value > self.low) or (self.high is not None and not value <= self.high):
            raise ValueError(f"method {method!r} option {self.name!r} must be in ({self.low:g}, {self.high:g}], "
                             f"got {value!r}")
        return value


@dataclass(frozen=True)
class Method:
    """A range method: its amax function (histogram -> float), one line of help, and the options it declares."""

    name: str
    function: Callable[..., float]
    help: str
    options: tuple[MethodOption, ...] = ()


REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("entropy", entropy_amax, "TensorRT's KL-divergence threshold (clips rare outliers)"),
    Method("percentile", percentile_amax, "the |x| below which a given share of values falls",
           (MethodOption("percentile", float, 99.99, "share of |x| values kept, in percent", 0.0, 100.0),)),
    Method("mse", mse_amax, "the threshold with the least squared fake-quantization error"),
    Method("minmax", minmax_amax, "the largest |x| seen (clips nothing)"),
    Method("auto", auto_amax, "per tensor: entropy if never negative, else mse"),
)}
METHODS = tuple(REGISTRY)
DEFAULT_METHOD = "mse"  # measured on the zoo (scripts/bench/zoo.py, docs/quantize.md): best output SQNR on every model
OPTIONS = {o.name: o for m in REGISTRY.values() for o in m.options}  # every user-facing option, by name


def markdown_table() -> str:
    """The method table of docs/calibration.md, generated from :data:`REGISTRY` (``scripts/gen_docs.py`` writes
    it; a test checks it is current)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| method | the range (amax) it picks | options: CLI flag / recipe key (default) |", "|---|---|---|"]
    for m in REGISTRY.values():
        options = "; ".join(f"`--{o.name.replace('_', '-')}` / `calibration.{o.name}`: {cell(o.help)} "
                            f"({o.default:g})" for o in m.options) or "none"
        name = f"`{m.name}` (default)" if m.name == DEFAULT_METHOD else f"`{m.name}`"
        rows.append(f"| {name} | {cell(m.help)} | {options} |")
    return "\n".join(rows) + "\n"


def check_method(method: str) -> str:
    if method not in REGISTRY:
        raise UnknownMethodError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def check_options(method: str, options: dict) -> dict:
    """``options`` checked against what ``method`` declares: an option of another method (``percentile`` with
    ``entropy``) or an unknown one is a ValueError, as is a value out of range. Options left None are dropped."""
    declared = {o.name: o for o in REGISTRY[check_method(method)].options}
    checked = {}
    for name, value in options.items():
        if value is None:
            continue
        if name not in declared:
            owners = [m.name for m in REGISTRY.values() if any(o.name == name for o in m.options)]
            fix = f"it belongs to method {', '.join(owners)}" if owners else "no method takes it"
            raise ValueError(f"option {name!r} does not apply to calibration method {method!r} ({fix})")
        checked[name] = declared[name].check(value, method)
    return checked


def amax_from_histogram(hist: Histogram, method: str = "entropy", **options) -> float:
    """amax of one histogram by ``method`` (options go to the method function, e.g. ``percentile=99.9``)."""
    return float(REGISTRY[check_method(method)].function(hist, **options))


def compute_amax(collector: HistogramCollector | Histogram, method: str = "entropy", **options):
    """amax by ``method``: a float for one Histogram, ``{tensor: amax}`` for a HistogramCollector."""
    check_method(method)
    if isinstance(collector, Histogram):
        return amax_from_histogram(collector, method, **options)
    return {name: amax_from_histogram(h, method, **options) for name, h in collector.histograms.items()}
