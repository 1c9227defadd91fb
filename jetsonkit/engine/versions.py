"""TensorRT versions and what each one can do, as facts the build spec and the runtime are computed from.

The one place that compares version numbers: everything else asks a :class:`TrtVersion` property.

Sources: the TensorRT release notes (docs.nvidia.com/deeplearning/tensorrt/latest/getting-started/release-notes.html)
and API headers:
10.1 deprecated implicit quantization (calibrators, dynamic ranges); 10.12 deprecated the FP16 / INT8 /
OBEY_PRECISION_CONSTRAINTS builder flags and ``ILayer.precision``; 11.0 removed all of those (strong typing always
on). 8.6 added version-compatible engines, hardware-compatibility levels and builder optimisation levels.
The committed API dumps in ``trt_api/`` (made from the real binding wheels by scripts/trt_api_dump.py) back these
facts by test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

__all__ = ["TrtVersion", "parse_version", "KNOWN_VERSIONS"]

# versions whose Python bindings we hold an API dump for: the files jetsonkit/engine/trt_api/<name>.json themselves
# (scripts/trt_api_dump.py writes one per entry of its WHEELS table), so a new dump is a new known version
TRT_API = Path(__file__).with_name("trt_api")
KNOWN_VERSIONS = tuple(sorted((p.stem for p in TRT_API.glob("*.json")),
                              key=lambda v: tuple(int(x) for x in v.split("."))))


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT version, comparable, with the capability questions the build spec asks."""

    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def short(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def has_implicit_int8(self) -> bool:
        """Calibrators / dynamic ranges exist (deprecated 10.1, removed 11.0)."""
        return self.major < 11

    @property
    def implicit_int8_deprecated(self) -> bool:
        return (self.major, self.minor) >= (10, 1) and self.major < 11

    @property
    def has_precision_flags(self) -> bool:
        """BuilderFlag.FP16 / INT8 / OBEY_PRECISION_CONSTRAINTS and ILayer.precision exist (removed in 11.0)."""
        return self.major < 11

    @property
    def precision_flags_deprecated(self) -> bool:
        return (self.major, self.minor) >= (10, 12) and self.major < 11

    @property
    def always_strongly_typed(self) -> bool:
        return self.major >= 11

    @property
    def needs_explicit_batch_flag(self) -> bool:
        """Before 10.0 an ONNX network must be created with NetworkDefinitionCreationFlag.EXPLICIT_BATCH."""
        return self.major < 10

    @property
    def has_progress_monitor(self) -> bool:
        """IProgressMonitor (builder progress callbacks) exists from 10.0."""
        return self.major >= 10

    @property
    def has_output_allocator(self) -> bool:
        """Outputs with data-dependent shapes are read through an IOutputAllocator (jetsonkit: from 10.0)."""
        return self.major >= 10

    @property
    def efficient_nms_deprecated(self) -> bool:
        """The EfficientNMS_TRT plugin (version 1, IPluginV2DynamicExt) is deprecated from 10.12 (TensorRT OSS
        CHANGELOG, 10.12.0; plugin/README.md marks it [DEPRECATED])."""
        return (self.major, self.minor) >= (10, 12)

    @property
    def contexts_need_own_profile(self) -> bool:
        """Before 10.0, concurrent execution contexts are safe only on distinct optimization profiles."""
        return self.major < 10

    @property
    def parser_errors_name_nodes(self) -> bool:
        """The ONNX parser's errors carry ``node_name()`` (10.0+)."""
        return self.major >= 10

    @property
    def has_dla(self) -> bool:
        """DLA builds: every 8.x / 10.x; TensorRT 11 from 11.4.1 (AGX Orin)."""
        return not self.always_strongly_typed or (self.major, self.minor, self.patch) >= (11, 4, 1)

    @property
    def has_version_compatible(self) -> bool:
        return (self.major, self.minor) >= (8, 6)

    @property
    def has_hardware_compatibility(self) -> bool:
        return (self.major, self.minor) >= (8, 6)

    @property
    def has_optimization_level(self) -> bool:
        return (self.major, self.minor) >= (8, 6)

    @property
    def api_list(self) -> str:
        """The committed API dump that stands for this version's bindings (nearest known at or below it)."""
        known = [parse_version(v) for v in KNOWN_VERSIONS]
        same_major = [k for k in known if k.major == self.major and k <= self] or [k for k in known if k.major == self.major]
        if not same_major:
            return ""
        return max(same_major).short


_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)*\s*$")


def parse_version(text: str | TrtVersion) -> TrtVersion:
    """Parse ``8.6``, ``10.3.0`` or ``11.4.0.106`` (the fourth, build, component is ignored)."""
    if isinstance(text, TrtVersion):
        return text
    m = _VERSION_RE.match(str(text))
    if not m:
        raise UsageError(f"TensorRT version {text!r} does not parse", hint="give MAJOR.MINOR[.PATCH], e.g. 8.6, 10.3 or 11.4")
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if major < 8 or (major == 8 and minor < 5):
        raise UsageError(f"TensorRT {major}.{minor} is not supported", hint="jetsonkit targets TensorRT 8.5 (JetPack 5), 8.6, 10.x and 11.x")
    return TrtVersion(major, minor, patch)
