"""A recording stand-in for the ``tensorrt`` module: it checks our plumbing only, never a claim about TensorRT.

Every attribute read or written on it, or on anything it returns, is logged as (owner path, name). Values listed in
``values`` are returned for those names (e.g. ``num_layers``, ``__version__``); everything else is another recorder.
"""

from __future__ import annotations


class Recorder:
    def __init__(self, log: set, path: str = "trt", values: dict | None = None):
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_values", values or {})

    def __getattr__(self, name):
        if name in self._values:
            self._log.add((self._path, name))
            return self._values[name]
        if name.startswith("__"):
            raise AttributeError(name)
        self._log.add((self._path, name))
        return Recorder(self._log, f"{self._path}.{name}", self._values)

    def __setattr__(self, name, value):
        self._log.add((self._path, name))

    def __call__(self, *args, **kwargs):
        return Recorder(self._log, f"{self._path}()", self._values)

    def __mro_entries__(self, bases):  # `class X(trt.ILogger)`: subclass a plain object, log the base
        self._log.add(("trt", self._path.rsplit(".", 1)[-1]))
        return (object,)

    def __int__(self):
        return 0

    __index__ = __int__

    def __bool__(self):
        return True

    def __bytes__(self):
        return b"recorded-engine"

    def __iter__(self):
        return iter(())


def used_names(log: set) -> set[str]:
    return {name for _, name in log}


def qualified(log: set) -> set[str]:
    """``BuilderFlag.FP16``-style names for attributes read off module-level TensorRT classes / enums."""
    return {f"{owner.split('.', 1)[1]}.{name}" for owner, name in log if owner.count(".") == 1 and "(" not in owner}
