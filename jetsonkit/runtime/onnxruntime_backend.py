"""ONNX Runtime backend: one ``InferenceSession``, shared by all threads (``run`` is thread-safe in ONNX Runtime).

Options: ``threads`` (intra-op threads; 0 = ONNX Runtime's default), ``inter_threads``, ``providers`` (default:
CUDA then CPU where the CUDA provider is installed, else CPU; TensorRT's provider is only used when named),
``optimization`` ("disable" | "basic" | "extended" | "all").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._deps import require
from ..errors import BackendError, ModelLoadError, UsageError
from .base import Runtime
from .tensors import TensorInfo, dynamic_dim

# ONNX Runtime's type strings -> numpy
_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16, "tensor(uint16)": np.uint16,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint32)": np.uint32, "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}
_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}


def _tensor_info(node_arg: Any, model: str) -> TensorInfo:
    dtype = _DTYPES.get(node_arg.type)
    if dtype is None:
        raise ModelLoadError(f"{model}: tensor {node_arg.name!r} has type {node_arg.type}, which jetsonkit's runtime "
                             "does not handle", hint="export the model with numeric tensor inputs/outputs")
    shape = tuple(dynamic_dim(d) for d in (node_arg.shape or ()))
    return TensorInfo(node_arg.name, shape, np.dtype(dtype))


def _json(text: str, where: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError as exc:
        raise ModelLoadError(f"{where}: stored pre-processing spec is not JSON ({exc})",
                             hint="store it again with jetsonkit.preprocess.metadata.set_onnx") from exc


class OnnxRuntimeRunner(Runtime):
    """A .onnx model on ONNX Runtime."""

    backend = "onnxruntime"
    OPTIONS = {"threads": 0, "inter_threads": 0, "providers": None, "optimization": "all"}

    def _session_options(self, ort: Any) -> Any:
        for key in ("threads", "inter_threads"):
            value = self.options[key]
            if not isinstance(value, int) or value < 0:
                raise UsageError(f"onnxruntime option {key}={value!r} must be an int >= 0",
                                 hint="0 = ONNX Runtime's default")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(self.options["threads"])
        opts.inter_op_num_threads = int(self.options["inter_threads"])
        level = self.options["optimization"]
        if level not in _LEVELS:
            raise UsageError(f"onnxruntime option optimization={level!r} is not known",
                             hint=f"choose one of {', '.join(_LEVELS)}")
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[level])
        return opts

    def _providers(self, ort: Any) -> list[str]:
        available = ort.get_available_providers()
        wanted = self.options["providers"]
        if wanted is None:
            return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        missing = [p for p in wanted if p not in available]
        if missing:
            raise UsageError(f"onnxruntime provider(s) {', '.join(missing)} are not available here",
                             hint=f"available: {', '.join(available)}")
        return list(wanted)

    def _load_impl(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        ort = require("onnxruntime", purpose="running .onnx models")
        options, providers = self._session_options(ort), self._providers(ort)
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types (Fail, InvalidProtobuf)
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelLoadError(f"ONNX Runtime cannot load {str(self.path)!r}: {detail[:300]}",
                                 hint="the file is corrupted, truncated or not an ONNX model; re-export it") from exc
        self._output_names = [o.name for o in self._session.get_outputs()]
        return ([_tensor_info(i, self.label) for i in self._session.get_inputs()],
                [_tensor_info(o, self.label) for o in self._session.get_outputs()])

    def _stored_preprocess(self):
        from ..preprocess.metadata import ONNX_KEY, from_metadata

        raw = self._session.get_modelmeta().custom_metadata_map.get(ONNX_KEY)
        return None if raw is None else from_metadata({"preprocess": _json(raw, self.label)}, where=self.label)

    @property
    def session(self) -> Any:
        """The underlying ``onnxruntime.InferenceSession`` (for measurements against the raw API)."""
        self._check_open()
        return self._session

    def _infer_impl(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            self._check_open()
        try:
            values = session.run(self._output_names, arrays)
        except Exception as exc:  # noqa: BLE001 - surface ONNX Runtime's failure as one BackendError line
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BackendError(f"ONNX Runtime failed on {self.label}: {detail[:300]}") from exc
        return dict(zip(self._output_names, values))

    def _close_impl(self) -> None:
        self._session = None
