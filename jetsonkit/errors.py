"""The one exception hierarchy of jetsonkit.

Every error jetsonkit raises on purpose derives from :class:`JetsonkitError`. The CLI maps the tree to exit codes
and prints ``str(error)`` as one line (``--debug`` adds the traceback)::

    JetsonkitError                      exit 2 unless a subclass says otherwise
    ├── UsageError                      bad command line / argument values
    ├── InputError                      bad input files or values (also a ValueError)
    │   ├── ModelLoadError              model spec, factory, weights, model file that cannot be read
    │   ├── InputSpecError              input spec that does not parse or does not fit the model
    │   ├── DataError                   calibration / evaluation data: empty, wrong shape or dtype, NaN
    │   ├── ConfigError                 recipe / precision plan / option files (names file, key, line)
    │   └── IncompatibleArtifactError   an artifact made for another model, version or GPU
    ├── MissingDependencyError          an optional package is not installed (message has the install line)
    ├── UnsupportedError                the installed tool cannot do it (an op, a TensorRT version, a platform)
    ├── CheckFailed                     exit 1: a verification ran and failed (parity, accuracy, gates)
    ├── BackendError                    a backend (ONNX Runtime, TensorRT, LiteRT) failed at run time
    └── EnvironmentFailure              exit 4: the machine refused (read-only folder, disk full, permission, a
                                        path that cannot hold files): the OS reason and the path, not a bug

Messages follow one shape: what failed and where (file, key, tensor, layer), then the fix, on one line.
"""

from __future__ import annotations

__all__ = [
    "JetsonkitError",
    "UsageError",
    "InputError",
    "ModelLoadError",
    "InputSpecError",
    "DataError",
    "ConfigError",
    "IncompatibleArtifactError",
    "MissingDependencyError",
    "UnsupportedError",
    "CheckFailed",
    "BackendError",
    "EnvironmentFailure",
]


class JetsonkitError(Exception):
    """Base of every error jetsonkit raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class UsageError(JetsonkitError):
    """The command line or an argument value is wrong."""


class InputError(JetsonkitError, ValueError):
    """An input file or value is wrong."""


class ModelLoadError(InputError):
    """A model spec, factory, weights file or model file cannot be loaded."""


class InputSpecError(InputError):
    """An input spec does not parse or does not fit the model."""


class DataError(InputError):
    """Calibration or evaluation data is empty, malformed, or does not fit the model."""


class ConfigError(InputError):
    """A recipe, precision plan or option file is invalid."""


class IncompatibleArtifactError(InputError):
    """An artifact (calibration table, engine, cache) was made for another model, version or device."""


class MissingDependencyError(JetsonkitError, ImportError):
    """An optional package is missing; the message carries the exact install line."""


class UnsupportedError(JetsonkitError):
    """The installed tool or platform cannot do what was asked."""


class CheckFailed(JetsonkitError):
    """A verification ran and failed: parity, accuracy, sparsity pattern, CI gates."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, details: object = None):
        super().__init__(message, hint=hint)
        self.details = details


class BackendError(JetsonkitError):
    """A backend failed while running."""


class EnvironmentFailure(JetsonkitError):
    """The operating system refused a read or write that the command line asked for correctly: a read-only folder,
    a full disk, a missing permission, a place that cannot hold files (``/proc``). Exit 4: nothing to report."""

    exit_code = 4

    @classmethod
    def from_os_error(cls, exc: OSError, path: object = None, action: str = "open") -> "EnvironmentFailure":
        where = path if path is not None else (exc.filename or "?")
        reason = exc.strerror or type(exc).__name__
        return cls(f"cannot {action} {str(where)!r}: {reason}",
                   hint="free space, fix the permissions, or choose another folder")
