"""calibrators: INT8 range calibration in numpy alone (no jetsonkit, no torch, no TensorRT).

- :class:`HistogramCollector` / :class:`Histogram`: streaming |x| histograms, constant memory, exact growth.
- :func:`compute_amax`: ``entropy`` (TensorRT's KL algorithm), ``percentile``, ``mse``, ``minmax``, ``auto``; the methods and
  the options each declares live in one registry, :data:`REGISTRY` (CLI flags, recipe checks and docs read it).
- :func:`range_flags`: all-zero / constant / low-kept flags on a chosen range (kept in the table).
- :class:`CalibrationTable`: the JSON table later stages read; :func:`write_trt_cache` / :func:`read_trt_cache`.
- :func:`fake_quantize`: the symmetric INT8 arithmetic every stage shares.
- :func:`native_scan` / :func:`scan_status`: whether histograms fill with the C scan (``_scan.c``, compiled at run
  time when a C compiler is present) or with the numpy reference scan, and why.
"""

from __future__ import annotations

from .errors import CacheFormatError, CalibrationError, NonFiniteError, TableFormatError, UnknownMethodError
from .fakequant import channel_amax, fake_quantize, int8_scale, quantize_int8
from .histogram import DEFAULT_BINS, ChannelRange, Histogram, HistogramCollector
from .flags import LOW_KEPT, is_degenerate, range_flags
from .methods import (DEFAULT_METHOD, METHODS, OPTIONS, REGISTRY, Method, MethodOption, amax_from_histogram,
                      auto_amax, auto_choice, check_options, compute_amax, entropy_amax, flatten_spikes,
                      kl_divergences, merge_and_expand, minmax_amax, mse_amax, percentile_amax)
from ._native import scan_function as _scan_function
from ._native import status as scan_status
from .table import CalibrationTable, TensorRange
from .trtcache import (format_trt_cache, hex_to_scale, parse_trt_cache, read_trt_cache, scale_to_hex,
                       trt_version_number, write_trt_cache)

__all__ = [
    "CalibrationError", "NonFiniteError", "UnknownMethodError", "TableFormatError", "CacheFormatError",
    "Histogram", "HistogramCollector", "ChannelRange", "DEFAULT_BINS",
    "METHODS", "DEFAULT_METHOD", "REGISTRY", "OPTIONS", "Method", "MethodOption", "check_options", "compute_amax",
    "amax_from_histogram", "entropy_amax", "percentile_amax", "mse_amax", "minmax_amax",
    "auto_amax", "auto_choice", "LOW_KEPT", "is_degenerate", "range_flags",
    "merge_and_expand", "kl_divergences", "flatten_spikes",
    "CalibrationTable", "TensorRange",
    "fake_quantize", "quantize_int8", "int8_scale", "channel_amax",
    "format_trt_cache", "parse_trt_cache", "write_trt_cache", "read_trt_cache", "scale_to_hex", "hex_to_scale",
    "trt_version_number", "native_scan", "scan_status",
]


def native_scan() -> bool:
    """True when histograms fill with the compiled C scan, False when with numpy (:func:`scan_status` says why)."""
    return _scan_function() is not None
