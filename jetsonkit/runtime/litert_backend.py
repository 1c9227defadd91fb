"""LiteRT backend (``ai_edge_litert.interpreter``), the Raspberry Pi path.

Options: ``threads`` (the interpreter's num_threads; None = LiteRT's default, 1), ``xnnpack`` (True: LiteRT's default
resolver, which applies the XNNPACK delegate; False: builtin kernels without default delegates), ``raw`` (False:
integer-quantized inputs/outputs are presented as float32 and (de)quantized here with each tensor's own
scale / zero point, real = scale * (q - zero_point) as in the TFLite quantization spec; True: pass and get the
integers as stored).

An interpreter is not thread-safe, so calls on one Runtime are serialised by a lock; for parallel CPU inference
open one Runtime per thread.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .._deps import require
from .._native import chatter
from ..errors import BackendError, ModelLoadError, UsageError
from .base import Runtime
from .tensors import TensorInfo, dynamic_dim

_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8 (tensorflow/lite/schema/schema.fbs)


def _quantization(detail: dict) -> tuple[float, int] | None:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.issubdtype(detail["dtype"], np.integer) and scale:
        return float(scale), int(zero_point)
    return None


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    """float -> integer with round-half-to-even and saturation to the dtype's range."""
    info = np.iinfo(dtype)
    q = np.rint(x.astype(np.float32) / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class LiteRTRunner(Runtime):
    """A .tflite model on the LiteRT interpreter."""

    backend = "litert"
    OPTIONS = {"threads": None, "xnnpack": True, "raw": False}

    def _check_file(self) -> None:
        head = self.path.read_bytes()[:8]
        if len(head) < 8 or head[4:8] != _TFLITE_IDENTIFIER:
            raise ModelLoadError(f"{str(self.path)!r} is not a TFLite flatbuffer (no 'TFL3' identifier)",
                                 hint="the file is corrupted or not a .tflite model; convert it again")

    def _load_impl(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        litert = require("ai_edge_litert.interpreter", purpose="running .tflite models")
        self._check_file()
        resolver = litert.OpResolverType.AUTO if self.options["xnnpack"] else \
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        threads = self.options["threads"]
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"litert option threads={threads!r} must be an int >= 1", hint="or None for LiteRT's 1")
        try:
            with chatter():  # LiteRT prints an INFO line when it applies XNNPACK (the CLI process discards it)
                self._interp = litert.Interpreter(model_path=str(self.path), num_threads=threads,
                                                  experimental_op_resolver_type=resolver)
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"LiteRT cannot load {str(self.path)!r}: {str(exc).splitlines()[0][:300]}",
                                 hint="the file is corrupted, truncated or uses ops this LiteRT lacks; convert it "
                                 "again") from exc
        self._lock = threading.Lock()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self._shapes = [tuple(int(d) for d in detail["shape"]) for detail in self._in]  # shapes allocated now
        infos = [self._info(d) for d in self._in], [self._info(d) for d in self._out]
        # per-call steps: (tensor index, name, quantization to apply or None, integer dtype)
        raw = self.options["raw"]
        self._feed_steps = [(d["index"], i.name, None if raw else i.quantization, d["dtype"]) for d, i in
                           zip(self._in, infos[0])]
        self._fetch_steps = [(d["index"], o.name, None if raw else o.quantization) for d, o in
                            zip(self._out, infos[1])]
        return infos

    def _info(self, detail: dict) -> TensorInfo:
        signature = detail.get("shape_signature")
        dims = signature if signature is not None and len(signature) else detail["shape"]
        quant = _quantization(detail)
        dtype = np.dtype(np.float32) if quant is not None and not self.options["raw"] else np.dtype(detail["dtype"])
        return TensorInfo(detail["name"], tuple(dynamic_dim(d) for d in dims), dtype, quantization=quant)

    def _stored_preprocess(self):
        from ..convert.tflite import read_metadata
        from ..preprocess.metadata import from_metadata

        return from_metadata(read_metadata(self.path), where=self.label)

    @property
    def interpreter(self) -> Any:
        """The underlying LiteRT ``Interpreter`` (for measurements against the raw API)."""
        self._check_open()
        return self._interp

    def _resize_if_needed(self, arrays: dict[str, np.ndarray]) -> None:
        shapes = [arrays[info.name].shape for info in self.inputs]
        if shapes == self._shapes:
            return
        for detail, shape in zip(self._in, shapes):
            self._interp.resize_tensor_input(detail["index"], list(shape))
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()
        self._out = self._interp.get_output_details()
        self._shapes = shapes

    def _infer_impl(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            if self._interp is None:
                self._check_open()  # closed while this call waited for the lock
            try:
                self._resize_if_needed(arrays)
                interp = self._interp
                for index, name, quant, dtype in self._feed_steps:
                    x = arrays[name]
                    interp.set_tensor(index, x if quant is None else quantize(x, *quant, dtype))
                interp.invoke()
                result = {}
                for index, name, quant in self._fetch_steps:
                    y = interp.get_tensor(index)
                    result[name] = y if quant is None else dequantize(y, *quant)
            except (ValueError, RuntimeError) as exc:
                self._shapes = None  # the interpreter may be half-resized: resize again on the next call
                raise BackendError(f"LiteRT failed on {self.label}: {str(exc).splitlines()[0][:300]}") from exc
        return result

    def _close_impl(self) -> None:
        with self._lock:
            self._interp = None
