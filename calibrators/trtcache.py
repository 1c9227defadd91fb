"""TensorRT calibration cache (the text file IInt8Calibrator writes and reads on TensorRT 8.x / 10.x).

Layout (TensorRT samples; sampleINT8's cache for MNIST has ``data: 3c008912``)::

    TRT-<version>-EntropyCalibration2
    <tensor name>: <8 hex digits>

where the hex digits are the big-endian IEEE-754 float32 bits of ``scale = amax / 127``. ``<version>`` is the
integer TensorRT version the cache was made with; TensorRT refuses a cache whose header names another version or
algorithm and recalibrates (NVIDIA forums / TensorRT issues), so the writer takes the target version. The version
integer is ``major*1000 + minor*100 + patch`` up to 8.x (8.6.1 -> 8601) and ``major*10000 + minor*100 + patch``
from 10.0 (10.3.0 -> 100300): TensorRT 10's headers define NV_TENSORRT_VERSION through
NV_TENSORRT_VERSION_INT(major, minor, patch) = major*10000 + minor*100 + patch. TensorRT 11 removed calibrators,
so there is no cache for it: use the Q/DQ model instead.
"""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path

from ._files import write_text_atomic
from .errors import CacheFormatError

__all__ = ["ALGORITHMS", "trt_version_number", "scale_to_hex", "hex_to_scale", "format_trt_cache",
           "parse_trt_cache", "write_trt_cache", "read_trt_cache"]

ALGORITHMS = ("EntropyCalibration2", "EntropyCalibration", "MinMaxCalibration", "LegacyCalibration")
_HEADER = re.compile(r"^TRT-(\d+)-(\w+)$")
_LINE = re.compile(r"^(.+): ([0-9a-fA-F]{8})$")


def trt_version_number(version: str) -> int:
    """'8.6.1' -> 8601, '10.3.0' -> 100300; 11.x and later have no calibration cache."""
    parts = version.split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"TensorRT version {version!r} is not like '10.3.0'")
    major, minor, patch = (int(p) for p in (parts + ["0", "0"])[:3])
    if major >= 11:
        raise ValueError(f"TensorRT {version} has no calibration cache (calibrators were removed in 11.0); "
                         "build from the Q/DQ model instead")
    return major * 1000 + minor * 100 + patch if major < 10 else major * 10000 + minor * 100 + patch


def scale_to_hex(scale: float) -> str:
    return struct.pack(">f", scale).hex()


def hex_to_scale(text: str) -> float:
    return struct.unpack(">f", bytes.fromhex(text))[0]


def format_trt_cache(amaxes: dict[str, float], version: str = "10.3.0",
                     algorithm: str = "EntropyCalibration2") -> str:
    """Cache text for ``{tensor: amax}`` (scale = amax / 127 as float32)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown calibration algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    lines = [f"TRT-{trt_version_number(version)}-{algorithm}"]
    for name, amax in amaxes.items():
        if ":" in name and name.rsplit(":", 1)[1].strip() == "" or "\n" in name:
            raise CacheFormatError(f"tensor name {name!r} cannot be written to a TensorRT cache")
        if not math.isfinite(amax) or amax < 0:
            raise CacheFormatError(f"tensor {name!r}: amax {amax!r} must be finite and >= 0")
        lines.append(f"{name}: {scale_to_hex(struct.unpack('>f', struct.pack('>f', amax / 127.0))[0])}")
    return "\n".join(lines) + "\n"


def parse_trt_cache(text: str, source: str = "<cache>", expect_version: int | None = None) -> dict:
    """Parse cache text into ``{"version": int, "algorithm": str, "scales": {tensor: scale}, "amax": {...}}``.

    A missing or foreign header, a line that is not ``name: 8-hex``, a duplicate tensor, or a scale that is not a
    finite positive float raise CacheFormatError naming ``source`` and the line number.
    """
    lines = text.splitlines()
    if not lines or not _HEADER.match(lines[0].strip()):
        first = lines[0][:60] if lines else ""
        raise CacheFormatError(f"{source}: line 1: {first!r} is not a TensorRT calibration cache header "
                               "(expected 'TRT-<version>-EntropyCalibration2')", line=1)
    version_s, algorithm = _HEADER.match(lines[0].strip()).groups()
    if algorithm not in ALGORITHMS:
        raise CacheFormatError(f"{source}: line 1: unknown calibration algorithm {algorithm!r} "
                               f"(known: {', '.join(ALGORITHMS)})", line=1)
    if expect_version is not None and int(version_s) != expect_version:
        raise CacheFormatError(f"{source}: line 1: cache made for TensorRT {version_s}, expected {expect_version}; "
                               "TensorRT would ignore it -- rewrite it for this version", line=1)
    scales: dict[str, float] = {}
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise CacheFormatError(f"{source}: line {number}: {line[:60]!r} is not '<tensor>: <8 hex digits>'",
                                   line=number)
        name, hexits = m.groups()
        if name in scales:
            raise CacheFormatError(f"{source}: line {number}: tensor {name!r} appears twice", line=number)
        scale = hex_to_scale(hexits)
        if not math.isfinite(scale) or scale < 0:
            raise CacheFormatError(f"{source}: line {number}: tensor {name!r} has scale {scale!r}; "
                                   "a scale must be finite and >= 0", line=number)
        scales[name] = scale
    return {"version": int(version_s), "algorithm": algorithm, "scales": scales,
            "amax": {n: s * 127.0 for n, s in scales.items()}}


def write_trt_cache(path: str | os.PathLike, amaxes: dict[str, float], version: str = "10.3.0",
                    algorithm: str = "EntropyCalibration2") -> Path:
    """Write the cache atomically."""
    return write_text_atomic(path, format_trt_cache(amaxes, version, algorithm), encoding="ascii")


def read_trt_cache(path: str | os.PathLike, expect_version: int | None = None) -> dict:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CacheFormatError(f"cannot read TensorRT cache {str(path)!r}: {exc.strerror}") from exc
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CacheFormatError(f"{path}: line {line}: not ASCII text (a binary or foreign cache?)", line=line) from exc
    return parse_trt_cache(text, str(path), expect_version)
