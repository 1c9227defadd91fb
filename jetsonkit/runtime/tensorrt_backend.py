"""TensorRT backend: a serialized engine run through pycuda buffers, streams and events.

Order of loading (each step refuses with a one-line error before the next can crash):
1. the build sidecar ``<engine>.json`` (``jetsonkit.engine.sidecar``): TensorRT version and GPU compute capability
   must match the machine, checked *before* deserialising (a missing sidecar is a warning: nothing to check);
2. the GPU: a CUDA context on ``device`` (a TensorRT ``Runtime`` must never be created without a driver);
3. ``Runtime.deserialize_cuda_engine``; ``None`` means a corrupted / truncated / foreign engine.

Execution: TensorRT >= 10 uses the name-based tensor API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``); 8.5 the binding API (``set_binding_shape``, ``execute_async_v2`` with a bindings list,
profile k's bindings at k * bindings_per_profile + j). A pool of ``contexts`` execution contexts serves threads,
each context with a double-buffered :class:`~jetsonkit.runtime.cuda_stream.Pipeline` (``depth`` slots), optional
CUDA graphs for static shapes, and zero-copy mapped memory by default on integrated GPUs (Jetson).
"""

from __future__ import annotations

import importlib
import queue
from typing import Any

import numpy as np

from .._deps import require
from .._progress import warn
from ..errors import BackendError, ModelLoadError, UnsupportedError
from .base import Runtime
from .cuda_stream import CudaDevice, GpuTiming, GraphCache, Pipeline, Slot
from .handle import InferHandle
from .tensors import TensorInfo
from .trt_plan import (EngineIO, IOTensor, ProfileBounds, binding_index, output_shape_for,
                       plan_buffers, select_profile, tensor_infos, trt_major)


def _bounds(shapes: Any) -> ProfileBounds:
    low, opt, high = (tuple(int(d) for d in s) for s in shapes)
    return ProfileBounds(low, opt, high)


def _numpy_dtype(trt: Any, trt_dtype: Any, tensor: str) -> np.dtype:
    """numpy dtype of an engine tensor (TensorRT's own ``nptype``); types numpy lacks (bf16, fp8) are refused."""
    try:
        return np.dtype(trt.nptype(trt_dtype))
    except (TypeError, KeyError) as exc:
        raise UnsupportedError(f"engine tensor {tensor!r} has TensorRT type {trt_dtype}, which numpy cannot hold",
                               hint="build the engine with float32 / float16 / int8 / int32 I/O") from exc


def read_engine_io(trt: Any, engine: Any, major: int) -> EngineIO:
    """Describe the engine's I/O tensors with the API of its TensorRT version."""
    tensors = []
    n_profiles = int(engine.num_optimization_profiles)
    if major >= 10:
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            dynamic = any(d < 0 for d in shape)
            profiles = tuple(_bounds(engine.get_tensor_profile_shape(name, k)) for k in range(n_profiles)) \
                if is_input and dynamic else ()
            tensors.append(IOTensor(name, is_input, _numpy_dtype(trt, engine.get_tensor_dtype(name), name), shape,
                                    profiles))
    else:
        per_profile = engine.num_bindings // n_profiles
        for j in range(per_profile):
            is_input = bool(engine.binding_is_input(j))
            shape = tuple(int(d) for d in engine.get_binding_shape(j))
            dynamic = any(d < 0 for d in shape)
            profiles = tuple(_bounds(engine.get_profile_shape(k, j)) for k in range(n_profiles)) \
                if is_input and dynamic else ()
            name = engine.get_binding_name(j)
            tensors.append(IOTensor(name, is_input, _numpy_dtype(trt, engine.get_binding_dtype(j), name), shape,
                                    profiles))
    return EngineIO(tuple(tensors), n_profiles)


class _ExecContext:
    """One TensorRT execution context with its own pipeline (buffers, streams, events) and graph cache."""

    def __init__(self, runner: "TensorRTRunner", index: int):
        self.index = index
        self.context = runner.engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"TensorRT could not create execution context {index} for {runner.label}",
                               hint="lower the contexts= option (device memory)")
        self.pipeline = Pipeline(runner.device, runner.sizes, [t.name for t in runner.io.inputs],
                                 [t.name for t in runner.io.outputs], depth=runner.options["depth"],
                                 zero_copy=runner.zero_copy, timing=runner.timing)
        self.graphs = GraphCache(runner.device.cuda) if runner.use_graphs else None
        self.profile: int | None = None
        self.warmed: set[int] = set()


class TensorRTRunner(Runtime):
    """A .engine / .plan file on TensorRT (pycuda for memory and streams)."""

    backend = "tensorrt"
    SUPPORTS_STREAM = True
    OPTIONS = {"device": 0, "contexts": 1, "depth": 2, "cuda_graph": False, "zero_copy": None,
               "check_sidecar": True, "preprocess": None}

    # ---- loading ---------------------------------------------------------------------------------------------------
    def _check_sidecar(self, trt_version: str) -> None:
        if not self.options["check_sidecar"]:
            return
        try:
            sidecar_mod = importlib.import_module("jetsonkit.engine.sidecar")
        except ImportError:
            warn(f"{self.path.name}: jetsonkit.engine is not available, engine compatibility not checked")
            return
        if not sidecar_mod.sidecar_path(self.path).exists():
            warn(f"{self.path.name}: no sidecar {sidecar_mod.sidecar_path(self.path).name}; TensorRT version and GPU "
                 "compatibility are not checked before deserialising")
            return
        sidecar = sidecar_mod.read_sidecar(self.path)
        cc = "{}.{}".format(*self.device.compute_capability)
        for note in sidecar_mod.check_compatible(sidecar, trt_version, {"name": self.device.name,
                                                                          "compute_capability": cc}) or []:
            warn(f"{self.path.name}: {note}")

    def _load_impl(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        self.device = CudaDevice(int(self.options["device"]))
        trt = require("tensorrt", purpose="running TensorRT engines")
        self.trt, self.major = trt, trt_major(trt.__version__)
        self._check_sidecar(trt.__version__)
        data = self.path.read_bytes()
        with self.device.active():
            self._logger = trt.Logger(trt.Logger.WARNING)
            self._trt_runtime = trt.Runtime(self._logger)
            self.engine = self._trt_runtime.deserialize_cuda_engine(data)
            if self.engine is None:
                raise ModelLoadError(f"TensorRT {trt.__version__} cannot deserialize {str(self.path)!r}",
                                     hint="the engine is corrupted, truncated or built by another TensorRT / GPU; "
                                     "rebuild it with `jetsonkit build`")
            self.io = read_engine_io(trt, self.engine, self.major)
            self.sizes = plan_buffers(self.io)
            zero_copy = self.options["zero_copy"]
            self.zero_copy = (self.device.integrated and self.device.can_map_host_memory) if zero_copy is None \
                else bool(zero_copy)
            self.use_graphs = bool(self.options["cuda_graph"]) and self.io.is_static
            if self.options["cuda_graph"] and not self.use_graphs:
                warn(f"{self.path.name}: cuda_graph=True needs static shapes; this engine has dynamic axes, so "
                     "requests are enqueued without graphs")
            self.timing = GpuTiming()
            n_contexts = max(1, int(self.options["contexts"]))
            if self.major < 10 and n_contexts > self.io.num_profiles:
                warn(f"{self.path.name}: TensorRT {trt.__version__} runs concurrent contexts safely only on distinct "
                     f"optimization profiles; this engine has {self.io.num_profiles} for {n_contexts} contexts")
            self._contexts = [_ExecContext(self, i) for i in range(n_contexts)]
        self._pool: queue.Queue = queue.Queue()
        for ctx in self._contexts:
            self._pool.put(ctx)
        self._batched = [t for t in self.io.inputs if t.is_dynamic and t.shape[0] < 0]
        return tensor_infos(self.io)

    # ---- execution -------------------------------------------------------------------------------------------------
    def _set_profile(self, ctx: _ExecContext, profile: int, stream: Any) -> None:
        if ctx.profile != profile:
            if not ctx.context.set_optimization_profile_async(profile, stream.handle):
                raise BackendError(f"TensorRT refused optimization profile {profile} on {self.label}")
            ctx.profile = profile

    def _bind_and_run(self, ctx: _ExecContext, slot: Slot, stream: Any, profile: int) -> None:
        shapes = slot.shapes
        buffers = {**slot.inputs, **slot.outputs}
        if self.major >= 10:
            for t in self.io.inputs:
                if t.is_dynamic and not ctx.context.set_input_shape(t.name, shapes[t.name]):
                    raise BackendError(f"TensorRT refused shape {list(shapes[t.name])} for input {t.name!r}")
            for t in self.io.tensors:
                ctx.context.set_tensor_address(t.name, buffers[t.name].device_ptr)
            ok = ctx.context.execute_async_v3(stream.handle)
        else:
            per_profile = len(self.io.tensors)
            bindings = [0] * self.engine.num_bindings
            for j, t in enumerate(self.io.tensors):
                idx = binding_index(j, profile, per_profile)
                if t.is_input and t.is_dynamic and not ctx.context.set_binding_shape(idx, shapes[t.name]):
                    raise BackendError(f"TensorRT refused shape {list(shapes[t.name])} for input {t.name!r}")
                bindings[idx] = buffers[t.name].device_ptr
            ok = ctx.context.execute_async_v2(bindings, stream.handle)
        if not ok:
            raise BackendError(f"TensorRT failed to enqueue {self.label}")

    def _enqueue(self, ctx: _ExecContext, profile: int, frame: Any = None):
        def run(slot: Slot, stream: Any) -> None:
            if frame is not None:  # pre-processing writes straight into the slot's device input on this stream
                first = self.io.inputs[0].name
                self.options["preprocess"].run_into(frame, slot.inputs[first].device_ptr, stream)
            self._set_profile(ctx, profile, stream)
            if ctx.graphs is not None and slot.index in ctx.warmed and frame is None:
                ctx.graphs.run((slot.index, profile), stream, lambda s: self._bind_and_run(ctx, slot, s, profile))
            else:
                self._bind_and_run(ctx, slot, stream, profile)  # first run of a slot is plain (TensorRT lazy setup)
                ctx.warmed.add(slot.index)
        return run

    def _submit(self, arrays: dict[str, np.ndarray], frame: Any = None, shapes: dict | None = None,
                stream: Any = None) -> InferHandle:
        shapes = shapes or {n: a.shape for n, a in arrays.items()}
        ctx = self._acquire()
        try:
            profile = select_profile(self.io, shapes, preferred=ctx.index % self.io.num_profiles)
            out_shapes = {t.name: output_shape_for(t, shapes, self._batched) for t in self.io.outputs}
            out_dtypes = {t.name: t.dtype for t in self.io.outputs}
            return ctx.pipeline.submit(arrays, out_shapes, out_dtypes, self._enqueue(ctx, profile, frame), shapes,
                                       stream=stream)
        finally:
            self._pool.put(ctx)

    def _acquire(self) -> _ExecContext:
        """An execution context from the pool (waits while all are in use; refuses once the Runtime is closed)."""
        while True:
            if self._contexts is None:
                self._check_open()
            try:
                return self._pool.get(timeout=0.05)
            except queue.Empty:
                continue

    def _infer_impl(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._submit(arrays).wait()

    def _infer_async_impl(self, arrays: dict[str, np.ndarray], stream: Any = None) -> InferHandle:
        return self._submit(arrays, stream=stream)

    def infer_frame_async(self, frame: Any) -> InferHandle:
        """Pre-process ``frame`` on the GPU straight into the engine's input buffer (``preprocess=`` option), run,
        and return a handle; the single input's shape is the engine's static input shape."""
        self._check_open()
        if self.options["preprocess"] is None or len(self.io.inputs) != 1 or not self.io.is_static:
            raise BackendError(f"{self.label}: infer_frame_async needs preprocess= and a static single-input engine",
                               hint="open the engine with Runtime.open(path, preprocess=Preprocess(...))")
        t = self.io.inputs[0]
        return self._submit({}, frame=frame, shapes={t.name: t.shape})

    def _close_impl(self) -> None:
        contexts, self._contexts = self._contexts, None
        with self.device.active():
            for ctx in contexts or []:
                ctx.pipeline.synchronize()
            while not self._pool.empty():  # drop the pool's references so the contexts are freed here
                self._pool.get_nowait()
            del contexts
            self.engine = None
            self._trt_runtime = None

