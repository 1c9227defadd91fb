"""Optional dependencies, imported at the point of use.

``import jetsonkit`` needs numpy alone. Each heavy package is imported by :func:`require`, which turns an
ImportError into a :class:`~jetsonkit.errors.MissingDependencyError` carrying the exact install line.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

# import name -> (pip requirement, jetsonkit extra that brings it)
_INSTALL = {
    "torch": ("torch==2.13.0", "export"),
    "onnx": ("onnx", "export"),
    "onnxscript": ("onnxscript", "export"),
    "onnx_graphsurgeon": ("onnx-graphsurgeon", "export"),
    "onnxruntime": ("onnxruntime", "export"),
    "yaml": ("pyyaml", "report"),
    "matplotlib": ("matplotlib", "report"),
    "ai_edge_litert": ("ai-edge-litert", "pi"),
    "polygraphy": ("polygraphy", "tensorrt"),
    "pycuda": ("pycuda", "tensorrt"),
    "pycocotools": ("pycocotools", "detect"),
}

_WHERE_ELSE = {
    "tensorrt": "TensorRT ships with JetPack on a Jetson (apt install python3-libnvinfer) and in NVIDIA's "
    "TensorRT containers (nvcr.io/nvidia/tensorrt); its PyPI packages download from NVIDIA's index",
}


def install_line(name: str) -> str:
    """The command that installs the package importable as ``name``."""
    top = name.split(".")[0]
    if top in _WHERE_ELSE:
        return _WHERE_ELSE[top]
    req, extra = _INSTALL.get(top, (top, None))
    if extra:
        return f"pip install 'jetsonkit[{extra}]' (or: pip install {req})"
    return f"pip install {req}"


def require(name: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``name`` or raise MissingDependencyError naming what needs it and how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # the real reason is kept as __cause__
        what = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"{name.split('.')[0]} is not installed{what}: {exc}", hint=install_line(name)
        ) from exc


def available(name: str) -> bool:
    """True when ``name`` can be imported (the import is attempted once and cached by Python)."""
    try:
        importlib.import_module(name)
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False
    return True
