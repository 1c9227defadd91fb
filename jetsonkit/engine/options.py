"""What the user asks of a build: :class:`BuildSettings` (defaults and checks), and the parsers for its CLI spellings.

``--profile input:1x1x28x28,8x1x28x28,64x1x28x28`` gives one input's min / opt / max shapes; the k-th ``--profile``
naming an input belongs to optimization profile k, so repeating an input name opens another profile.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError, UsageError
from ..settings import SettingError, check, option
from .nms import NMS_CHOICES
from .versions import parse_version

__all__ = ["Shape", "InputRange", "BuildSettings", "parse_shape", "parse_size", "parse_profiles", "parse_calibration_shapes",
           "trtexec_profiles", "PRECISIONS", "INT8_MODES"]

PRECISIONS = ("fp32", "fp16", "int8", "best")  # best: INT8 + FP16 (trtexec --best), the rest FP32
INT8_MODES = ("qdq", "calibrator", "cache", "dynamic-range")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class InputRange:
    """Min / opt / max shape of one network input inside one optimization profile."""

    name: str
    min: Shape
    opt: Shape
    max: Shape

    def check(self) -> None:
        """Raise ConfigError unless the three shapes have one rank and min <= opt <= max per dimension."""
        if not (len(self.min) == len(self.opt) == len(self.max)):
            raise ConfigError(f"profile for input {self.name!r}: min/opt/max ranks differ ({self.min}, {self.opt}, {self.max})",
                              hint="give three shapes of the same rank")
        for d, (lo, mid, hi) in enumerate(zip(self.min, self.opt, self.max)):
            if lo < 1:
                raise ConfigError(f"profile for input {self.name!r}: dimension {d} min is {lo}", hint="dimensions must be >= 1")
            if not lo <= mid <= hi:
                raise ConfigError(f"profile for input {self.name!r}: dimension {d} is not min <= opt <= max "
                                  f"({lo}, {mid}, {hi})", hint="order the shapes MIN,OPT,MAX")

    def covers(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= s <= hi for lo, s, hi in zip(self.min, shape, self.max))


def _size_flag(text: str) -> int:
    """``--workspace 1GiB`` as bytes (argparse ``type``)."""
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


@dataclass(frozen=True)
class BuildSettings:
    """Everything a build can be asked for, with its defaults and checks: ``jetsonkit build``'s flags are read off
    these fields (:mod:`jetsonkit.settings`), a recipe's tensorrt target is checked by this class, and
    :func:`~jetsonkit.engine.spec.make_build_spec` turns it into the TensorRT calls one version needs.
    Validated on construction (:class:`~jetsonkit.settings.SettingError` naming the field)."""

    precision: str = option("fp32", "best = INT8 + FP16 (layers without INT8 fall back to FP16, not FP32)",
                            choices=PRECISIONS)
    int8_mode: str = option("qdq", "qdq (all versions) or legacy implicit INT8 from --calib (TensorRT <= 10.x)",
                            choices=INT8_MODES)
    calibration: str | None = option(None, "jetsonkit calibration table (JSON) for the implicit INT8 modes",
                                     flags=("--calib",), metavar="CALIB.json", path="input")
    calibration_shapes: Mapping[str, Shape] = field(default_factory=dict)  # input -> shape calibration used
    precision_plan: Any = option(None, "precision plan file (per-layer precisions)", flags=("--plan",), parse=str,
                                 metavar="PLAN", path="input")  # a PrecisionPlan, a path to one, or a {node: precision} mapping
    sparsity: bool = option(False, "enable 2:4 sparse kernels (SPARSE_WEIGHTS)")
    profiles: Sequence[Mapping[str, InputRange]] = field(default_factory=list)
    workspace: int | None = option(None, "workspace memory pool, e.g. 1GiB (default: min(1 GiB, RAM/4) on Jetson)",
                                   positive=True, parse=_size_flag, metavar="SIZE")
    dla_core: int | None = option(None, "run on this DLA core (GPU fallback unless --no-gpu-fallback)", minimum=0,
                                  flags=("--dla", "--useDLACore"), metavar="CORE")
    gpu_fallback: bool = option(True, "DLA layers may fall back to the GPU", cli=False)
    timing_cache: str | None = option(None, "timing cache file to load (if present) and save",
                                      flags=("--timing-cache", "--timingCacheFile"), path="input")
    version_compatible: bool = option(False, "engine loads on later TensorRT of the same major")
    hardware_compatibility: str | None = option(None, "ampere+: engine runs on any Ampere or later GPU",
                                                choices=("ampere+",), cli=False)
    optimization_level: int | None = option(None, "builder optimisation level 0..5 (TensorRT >= 8.6; its default 3)",
                                            minimum=0, flags=("--opt-level",))
    nms: str = option("auto", "where a NonMaxSuppression op runs: auto = INMSLayer on TensorRT 10+, EfficientNMS_TRT "
                           "on 8.x", choices=NMS_CHOICES)
    trt_version: str | None = option(None, "the build spec for this TensorRT version (8.6, 10.3, 11.4, ...) instead "
                                           "of the installed one (with --dry-run)", metavar="VERSION")

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """Checks across fields (:func:`~jetsonkit.settings.check` runs the per-field ones first): an option that
        the other options make do nothing is refused, never ignored."""
        if self.optimization_level is not None and self.optimization_level > 5:
            raise SettingError("optimization_level", f"builder optimisation level {self.optimization_level} is "
                               "outside 0..5")
        if self.int8_mode != "qdq" and self.precision not in ("int8", "best"):
            raise SettingError("int8_mode", f"--int8-mode {self.int8_mode} applies to --precision int8, not "
                               f"{self.precision}", hint="add --precision int8, or drop --int8-mode")
        if (self.calibration or self.calibration_shapes) and self.int8_mode == "qdq":
            raise SettingError("calibration", "--calib / --calib-shape feed the implicit INT8 modes (--int8-mode "
                               "calibrator|cache|dynamic-range); a Q/DQ build takes its scales from the graph",
                               hint="drop them, or add --precision int8 --int8-mode cache (TensorRT <= 10.x)")
        if not self.gpu_fallback and self.dla_core is None:
            raise SettingError("gpu_fallback", "--no-gpu-fallback applies to a DLA build",
                               hint="add --dla 0, or drop --no-gpu-fallback")
        if self.timing_cache and Path(self.timing_cache).is_dir():
            raise SettingError("timing_cache", f"--timing-cache {self.timing_cache!r} is a folder",
                               hint="name a file, e.g. build.timing")
        if self.trt_version is not None:
            try:
                parse_version(self.trt_version)
            except UsageError as exc:
                raise SettingError("trt_version", exc.message, hint=exc.hint) from None
        for profile in self.profiles:
            for rng in profile.values():
                rng.check()

    def argv(self) -> list[str]:
        """The ``jetsonkit build`` flags that ask for these settings (the sidecar's rebuild command)."""
        out = ["--precision", self.precision] + (["--int8-mode", self.int8_mode] if self.int8_mode != "qdq" else [])
        out += ["--nms", self.nms] if self.nms != "auto" else []
        precision_file = self.precision_plan if isinstance(self.precision_plan, (str, os.PathLike)) else None
        for name, value in (("--calib", self.calibration), ("--plan", precision_file), ("--workspace", self.workspace),
                            ("--dla", self.dla_core), ("--timing-cache", self.timing_cache),
                            ("--opt-level", self.optimization_level)):
            out += [name, str(value)] if value is not None else []
        out += [x for name, shape in self.calibration_shapes.items() for x in ("--calib-shape", f"{name}:{_dims(shape)}")]
        out += [x for p in self.profiles for r in p.values()
                for x in ("--profile", f"{r.name}:{_dims(r.min)},{_dims(r.opt)},{_dims(r.max)}")]
        flags = (("--sparsity", self.sparsity), ("--no-gpu-fallback", not self.gpu_fallback),
                 ("--version-compatible", self.version_compatible),
                 ("--hardware-compat", self.hardware_compatibility is not None))
        return out + [name for name, on in flags if on]


def _dims(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


_SHAPE_RE = re.compile(r"^\d+(x\d+)*$")


def parse_shape(text: str) -> Shape:
    """``1x3x224x224`` -> (1, 3, 224, 224)."""
    t = text.strip().lower()
    if not _SHAPE_RE.match(t):
        raise UsageError(f"shape {text!r} does not parse", hint="write dimensions joined by x, e.g. 1x1x28x28")
    return tuple(int(d) for d in t.split("x"))


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


def parse_size(text: str) -> int:
    """``1GiB`` -> 1073741824, ``512MiB``, ``256MB``, plain bytes."""
    m = _SIZE_RE.match(text)
    unit = (m.group(2) or "").lower() if m else None
    if not m or unit not in _UNITS:
        raise UsageError(f"size {text!r} does not parse", hint="write e.g. 1GiB, 512MiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[unit])


def parse_profiles(specs: Sequence[str]) -> list[dict[str, InputRange]]:
    """Parse ``NAME:MIN,OPT,MAX`` specs; the k-th spec for an input goes to profile k."""
    profiles: list[dict[str, InputRange]] = []
    for spec in specs:
        name, sep, shapes = spec.rpartition(":")
        parts = shapes.split(",")
        if not sep or not name or len(parts) != 3:
            raise UsageError(f"--profile {spec!r} does not parse", hint="write NAME:MIN,OPT,MAX, e.g. input:1x1x28x28,8x1x28x28,64x1x28x28")
        rng = InputRange(name, *(parse_shape(p) for p in parts))
        rng.check()
        slot = next((p for p in profiles if name not in p), None)
        if slot is None:
            slot = {}
            profiles.append(slot)
        slot[name] = rng
    return profiles


def profiles_from_mapping(raw: Sequence[Mapping[str, Sequence[Sequence[int]]]]) -> list[dict[str, InputRange]]:
    """Python-API spelling: ``[{"input": [(1,1,28,28), (8,1,28,28), (64,1,28,28)]}, ...]``."""
    out = []
    for i, prof in enumerate(raw):
        slot = {}
        for name, shapes in prof.items():
            if len(shapes) != 3:
                raise ConfigError(f"profile {i} input {name!r}: expected (min, opt, max), got {len(shapes)} shapes")
            slot[name] = InputRange(name, *(tuple(int(d) for d in s) for s in shapes))
            slot[name].check()
        out.append(slot)
    return out


def parse_calibration_shapes(specs: Sequence[str]) -> dict[str, Shape]:
    """``--calib-shape input:32x1x28x28`` specs as {input: shape}."""
    shapes = {}
    for spec in specs:
        name, sep, shape = spec.rpartition(":")
        if not sep or not name:
            raise UsageError(f"--calib-shape {spec!r} does not parse", hint="write NAME:SHAPE, e.g. input:32x1x28x28")
        shapes[name] = parse_shape(shape)
    return shapes


def trtexec_profiles(low: str | None, opt: str | None, high: str | None) -> list[str]:
    """trtexec's ``--minShapes=in:1x3x224x224,mask:1x1 --optShapes=... --maxShapes=...`` as ``--profile`` specs."""
    given = [s for s in (low, opt, high) if s]
    if not given:
        return []
    if len(given) != 3:
        raise UsageError("--minShapes, --optShapes and --maxShapes go together",
                         hint="give all three, e.g. --minShapes input:1x1x28x28 --optShapes input:8x1x28x28 "
                         "--maxShapes input:64x1x28x28")

    def table(text: str, flag: str) -> dict[str, str]:
        out = {}
        for part in text.split(","):
            name, sep, shape = part.strip().rpartition(":")
            if not sep or not name:
                raise UsageError(f"{flag} {text!r} does not parse",
                                 hint="write NAME:SHAPE[,NAME:SHAPE], e.g. input:1x3x224x224")
            out[name.strip("'\"")] = shape
        return out

    lo, mid, hi = table(low, "--minShapes"), table(opt, "--optShapes"), table(high, "--maxShapes")
    if not set(lo) == set(mid) == set(hi):
        raise UsageError(f"--minShapes / --optShapes / --maxShapes name different inputs ({sorted(lo)}, {sorted(mid)}, "
                         f"{sorted(hi)})", hint="name the same inputs in all three")
    return [f"{name}:{lo[name]},{mid[name]},{hi[name]}" for name in lo]
