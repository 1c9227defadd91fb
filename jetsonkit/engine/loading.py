"""Deserialising an engine the way TensorRT needs it, shared by the build's inspection and the runtime."""

from __future__ import annotations

from typing import Any

__all__ = ["load_engine"]


def load_engine(trt: Any, runtime: Any, data: bytes, *, version_compatible: bool, dla_core: int | None = None,
                logger: Any = None) -> Any:
    """Deserialise ``data`` the way every engine must be loaded: plugins registered first (an engine with plugin
    layers, e.g. NMS, does not load without them), host code allowed for version-compatible engines (8.6+: they
    embed the lean runtime), the DLA core set before deserialising. Returns None where TensorRT does."""
    trt.init_libnvinfer_plugins(logger, "")
    if version_compatible:
        runtime.engine_host_code_allowed = True
    if dla_core is not None:
        runtime.DLA_core = int(dla_core)
    return runtime.deserialize_cuda_engine(data)
