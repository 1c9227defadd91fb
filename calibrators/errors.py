"""Exceptions of the calibrators package (all ValueError subclasses, so callers can catch one family).

jetsonkit maps them onto its own tree (``DataError``, ``ConfigError``, ``IncompatibleArtifactError``)::

    CalibrationError(ValueError)
    ├── NonFiniteError       a batch holds NaN or Inf (names the tensor and the batch index)
    ├── UnknownMethodError   a range method that does not exist
    ├── TableFormatError     a calibration table JSON that does not parse or misses keys (names file and key)
    └── CacheFormatError     a TensorRT calibration cache that is corrupt or foreign (names file and line)
"""

from __future__ import annotations

__all__ = ["CalibrationError", "NonFiniteError", "UnknownMethodError", "TableFormatError", "CacheFormatError"]


class CalibrationError(ValueError):
    """Base of every error this package raises on purpose."""


class NonFiniteError(CalibrationError):
    """A calibration batch holds NaN or Inf."""

    def __init__(self, message: str, *, tensor: str | None = None, batch: int | None = None):
        super().__init__(message)
        self.tensor = tensor
        self.batch = batch


class UnknownMethodError(CalibrationError):
    """A range method name that is not one of the known methods."""


class TableFormatError(CalibrationError):
    """A calibration table that cannot be read."""


class CacheFormatError(CalibrationError):
    """A TensorRT calibration cache that is corrupt or was written by something else."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line
