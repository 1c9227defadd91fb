"""Lazy public names for a package: ``name -> module`` resolved on first access (PEP 562).

One implementation for every package that keeps its heavy imports (torch, onnx, ...) out of ``import``::

    __getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_names(package: str, names: Mapping[str, str], namespace: dict) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """Return ``(__getattr__, __dir__)`` for ``package``; each resolved value is cached in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = importlib.import_module(module)
        # a name that is itself a submodule (e.g. jetsonkit.errors) resolves to the module
        value = mod if module.endswith("." + name) and not hasattr(mod, name) else getattr(mod, name)
        namespace[name] = value
        return value

    def __dir__() -> list:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
