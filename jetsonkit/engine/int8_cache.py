"""jetsonkit's calibration table as TensorRT's own implicit-INT8 input (TensorRT <= 10.x).

The cache text itself (``TRT-<version>-EntropyCalibration2`` + ``<tensor>: <hex of amax/127>``, as TensorRT's
sampleINT8 writes it: github.com/NVIDIA/TensorRT/tree/release/10.3/samples/sampleINT8) is written by the calibration area's ``calibrators.trtcache``; this module only loads the
table and turns that package's ValueError into jetsonkit's ConfigError.
"""

from __future__ import annotations

import os
from typing import Mapping

from ..errors import ConfigError

__all__ = ["encode_calibration_cache", "load_table_amax"]


def encode_calibration_cache(amax: Mapping[str, float], trt_version: str) -> bytes:
    """The cache an IInt8EntropyCalibrator2 hands back to TensorRT instead of calibrating."""
    from calibrators import trtcache

    try:
        return trtcache.format_trt_cache(dict(amax), str(trt_version)).encode("ascii")
    except ValueError as exc:
        raise ConfigError(f"calibration table cannot become a TensorRT {trt_version} cache: {exc}",
                          hint="recalibrate with `jetsonkit calibrate`, or use the Q/DQ path") from exc


def load_table_amax(path: str | os.PathLike, onnx_sha256: str | None = None) -> dict[str, float]:
    """tensor -> amax from a jetsonkit calibration table (``calibrators.CalibrationTable`` JSON).

    With ``onnx_sha256`` (implicit INT8: the table feeds the very graph being built) a table that records another
    model's hash is refused (:func:`jetsonkit.artifacts.read_table`).
    """
    from ..artifacts import read_table

    model = (onnx_sha256,) if onnx_sha256 else None
    return read_table(path, model=model, model_label="the ONNX being built").amaxes()
