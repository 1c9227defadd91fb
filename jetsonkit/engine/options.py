"""What the user asks of a build: a validated options object, and the parsers for its CLI spellings.

``--profile input:1x1x28x28,8x1x28x28,64x1x28x28`` gives one input's min / opt / max shapes; the k-th ``--profile``
naming an input belongs to optimization profile k, so repeating an input name opens another profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..errors import ConfigError, UsageError
from .nms import NMS_CHOICES

__all__ = ["Shape", "InputRange", "BuildSettings", "parse_shape", "parse_size", "parse_profiles", "PRECISIONS"]

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


@dataclass
class BuildSettings:
    """Everything a build can be asked for; validated on construction (see :meth:`validate`)."""

    precision: str = "fp32"
    int8_mode: str = "qdq"  # qdq | calibrator | cache | dynamic-range (the last three: TensorRT <= 10.x only)
    calibration: str | None = None  # jetsonkit calibration table (calibrators.CalibrationTable JSON)
    calibration_shapes: dict[str, Shape] = field(default_factory=dict)  # input -> shape calibration used
    precision_plan: object = None  # PrecisionPlan, a path to one, or a plain {node: precision} mapping
    sparsity: bool = False
    profiles: list[dict[str, InputRange]] = field(default_factory=list)
    workspace: int | None = None  # bytes; None: sized for the machine (see plan.default_workspace)
    dla_core: int | None = None
    gpu_fallback: bool = True
    timing_cache: str | None = None
    version_compatible: bool = False
    hardware_compatibility: str | None = None  # None | "ampere+"
    optimization_level: int | None = None  # 0..5 (TensorRT >= 8.6; its default is 3)
    nms: str = "auto"  # auto | inms | efficient-nms: where a NonMaxSuppression op runs (jetsonkit.engine.nms)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.int8_mode not in INT8_MODES:
            raise UsageError(f"INT8 mode {self.int8_mode!r} is not one of {', '.join(INT8_MODES)}")
        if self.nms not in NMS_CHOICES:
            raise UsageError(f"NMS choice {self.nms!r} is not one of {', '.join(NMS_CHOICES)}",
                             hint="auto: INMSLayer on TensorRT 10+, the EfficientNMS_TRT plugin on 8.x")
        if self.optimization_level is not None and not 0 <= self.optimization_level <= 5:
            raise UsageError(f"builder optimisation level {self.optimization_level} is outside 0..5")
        if self.dla_core is not None and self.dla_core < 0:
            raise UsageError(f"DLA core {self.dla_core} is negative", hint="Jetson AGX Orin has DLA cores 0 and 1")
        if self.workspace is not None and self.workspace <= 0:
            raise UsageError(f"workspace {self.workspace} bytes must be positive")
        if self.hardware_compatibility not in (None, "ampere+"):
            raise UsageError(f"hardware compatibility {self.hardware_compatibility!r} is not 'ampere+'")
        for profile in self.profiles:
            for rng in profile.values():
                rng.check()


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
