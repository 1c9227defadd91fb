"""The calibration table: per-tensor amax that every later stage reads (JSON, versioned).

Format (``format_version`` 1)::

    {"format": "jetsonkit-calibration", "format_version": 1, "producer": "jetsonkit 0.1.0",
     "method": "entropy", "options": {...}, "model_sha256": "...", "samples": 1000,
     "tensors": {"<tensor>": {"amax": 2.81, "method": "entropy", "samples": 1000, "stats": {...},
                              "flags": ["low-kept: ..."]}}}

``method`` of a tensor is the method that chose its range (with the table's ``auto``: ``entropy`` or ``mse``);
``flags`` (absent when empty) come from :func:`calibrators.flags.range_flags`: all-zero, constant, low-kept.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._files import write_text_atomic
from .errors import TableFormatError
from .histogram import HistogramCollector
from .flags import range_flags
from .methods import amax_from_histogram, auto_choice, check_method

__all__ = ["TensorRange", "CalibrationTable", "FORMAT", "FORMAT_VERSION"]

FORMAT = "jetsonkit-calibration"
FORMAT_VERSION = 1


@dataclass
class TensorRange:
    """The chosen range of one tensor."""

    amax: float
    method: str
    samples: int = 0
    stats: dict = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"amax": self.amax, "method": self.method, "samples": self.samples, "stats": self.stats}
        return {**out, "flags": list(self.flags)} if self.flags else out


@dataclass
class CalibrationTable:
    """Per-tensor ranges plus what they were computed from."""

    tensors: dict[str, TensorRange]
    method: str
    model_sha256: str | None = None
    samples: int = 0
    options: dict = field(default_factory=dict)
    producer: str = "calibrators"

    def amax(self, name: str) -> float:
        """amax of tensor ``name``; KeyError names the tensor and how many the table has."""
        try:
            return self.tensors[name].amax
        except KeyError:
            raise KeyError(f"tensor {name!r} is not in the calibration table ({len(self.tensors)} tensors); "
                           "recalibrate with this model") from None

    def flagged(self) -> dict[str, list[str]]:
        """Tensor -> flags, for the tensors that have any (all-zero, constant, low-kept)."""
        return {name: r.flags for name, r in self.tensors.items() if r.flags}

    def amaxes(self) -> dict[str, float]:
        return {name: r.amax for name, r in self.tensors.items()}

    @classmethod
    def from_collector(cls, collector: HistogramCollector, method: str = "entropy", *, model_sha256: str | None = None,
                       producer: str = "calibrators", **options) -> "CalibrationTable":
        check_method(method)
        tensors = {}
        for name, h in collector.histograms.items():
            amax, stats = amax_from_histogram(h, method, **options), h.stats()
            chosen = auto_choice(h) if method == "auto" else method
            tensors[name] = TensorRange(amax, chosen, h.samples, stats, range_flags(amax, stats))
        samples = max((r.samples for r in tensors.values()), default=0)
        return cls(tensors, method, model_sha256, samples, dict(options), producer)

    def to_json(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "producer": self.producer, "method": self.method,
                "options": self.options, "model_sha256": self.model_sha256, "samples": self.samples,
                "tensors": {name: r.to_json() for name, r in self.tensors.items()}}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically (temporary file beside ``path``, then rename)."""
        return write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def from_json(cls, obj: object, source: str = "<json>") -> "CalibrationTable":
        def bad(key: str, why: str) -> TableFormatError:
            return TableFormatError(f"{source}: key {key!r} {why}; rewrite it with `jetsonkit calibrate`")

        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise bad("format", f"is not {FORMAT!r} (not a jetsonkit calibration table)")
        if obj.get("format_version") != FORMAT_VERSION:
            raise bad("format_version", f"is {obj.get('format_version')!r}, this version reads {FORMAT_VERSION}")
        method = obj.get("method")
        if not isinstance(method, str):
            raise bad("method", "is missing or not a string")
        raw = obj.get("tensors")
        if not isinstance(raw, dict):
            raise bad("tensors", "is missing or not an object")
        tensors = {}
        for name, entry in raw.items():
            if not isinstance(entry, dict):
                raise bad(f"tensors.{name}", f"is {entry!r}, expected an object with amax")
            amax = entry.get("amax")
            if isinstance(amax, bool) or not isinstance(amax, (int, float)) or not math.isfinite(amax) or amax < 0:
                raise bad(f"tensors.{name}.amax", f"is {amax!r}, expected a finite number >= 0")
            stats = entry.get("stats", {})
            if not isinstance(stats, dict):
                raise bad(f"tensors.{name}.stats", f"is {stats!r}, expected an object")
            _check_against_stats(float(amax), stats, lambda why, key=f"tensors.{name}.amax": bad(key, why))
            flags = entry.get("flags", [])
            if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
                raise bad(f"tensors.{name}.flags", "is not a list of strings")
            tensors[name] = TensorRange(float(amax), _text(entry.get("method", method), bad, f"tensors.{name}.method"),
                                        _count(entry.get("samples", 0), bad, f"tensors.{name}.samples"), dict(stats),
                                        list(flags))
        options = obj.get("options", {})
        if not isinstance(options, dict):
            raise bad("options", f"is {options!r}, expected an object")
        sha = obj.get("model_sha256")
        if sha is not None and not isinstance(sha, str):
            raise bad("model_sha256", f"is {sha!r}, expected a hex string")
        return cls(tensors, method, sha, _count(obj.get("samples", 0), bad, "samples"), dict(options),
                   str(obj.get("producer", "")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CalibrationTable":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise TableFormatError(f"cannot read calibration table {str(path)!r}: {exc.strerror}") from exc
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TableFormatError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg}); "
                                   "rewrite it with `jetsonkit calibrate`") from exc
        return cls.from_json(obj, str(path))


# a range more than this many times the largest |x| calibration saw cannot come from any method (they all pick at
# most max |x|, rounded up to a histogram bin edge): a hand-edited or corrupted table
_ABOVE_MAX = 2.0
# a range below this fraction of max |x| turns every value calibration saw into the same +-127 code: no method
# picks it (percentile 99.99 of a 2048-bin histogram keeps at least one bin, 1/2048 of the span)
_BELOW_MAX = 1e-6


def _check_against_stats(amax: float, stats: dict, bad) -> None:
    absmax = stats.get("absmax")
    if isinstance(absmax, bool) or not isinstance(absmax, (int, float)) or not math.isfinite(absmax) or absmax <= 0:
        return
    if amax > _ABOVE_MAX * absmax:
        raise bad(f"is {amax!r}, more than {_ABOVE_MAX:g}x the largest |x| calibration saw ({absmax:.6g})")
    if amax < _BELOW_MAX * absmax:
        raise bad(f"is {amax!r}, below {_BELOW_MAX:g} of the largest |x| calibration saw ({absmax:.6g}): every "
                  "value would quantize to +-127")


def _count(value: object, bad, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad(key, f"is {value!r}, expected an integer >= 0")
    return value


def _text(value: object, bad, key: str) -> str:
    if not isinstance(value, str):
        raise bad(key, f"is {value!r}, expected a string")
    return value
