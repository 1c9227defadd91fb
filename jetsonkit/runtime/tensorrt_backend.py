"""TensorRT backend: a serialized engine run through pycuda buffers, streams and events.

Order of loading (each step refuses with a one-line error before the next can crash):
1. the build sidecar ``<engine>.json`` (``jetsonkit.engine.sidecar``): TensorRT version and GPU compute capability
   must match the machine, checked *before* deserialising (a missing sidecar is a warning: nothing to check);
2. the GPU: a CUDA context on ``device`` (a TensorRT ``Runtime`` must never be created without a driver);
3. ``Runtime.deserialize_cuda_engine``; ``None`` means a corrupted / truncated / foreign engine.

Loading registers TensorRT's plugins first (``init_libnvinfer_plugins``: engines with NMS / ROIAlign layers need
them), allows engine host code for version-compatible engines and sets the DLA core recorded in the sidecar.

Execution uses the name-based tensor API every supported version has (8.5+): ``set_input_shape``,
``set_tensor_address``, ``execute_async_v3``. Output shapes come from ``context.get_tensor_shape`` once the input
shapes are set; data-dependent outputs (NonZero, NMS) get an ``IOutputAllocator`` (TensorRT 10+) that grows the
slot's buffer and receives the final shape. A pool of ``contexts`` execution contexts serves threads, each with
a double-buffered :class:`~jetsonkit.runtime.cuda_stream.Pipeline` (``depth`` slots) whose enqueues are chained
by an event whichever stream they run on, optional CUDA graphs for static shapes (cuda-python), and zero-copy
mapped memory by default on integrated GPUs (Jetson). ``close()`` frees every buffer and graph inside the context
and detaches the primary context, so a process that switches models does not leak.
"""

from __future__ import annotations

import queue
from typing import Any

import numpy as np

from .._deps import require
from .._progress import warn
from ..engine.versions import parse_version
from ..errors import BackendError, ModelLoadError, UnsupportedError
from .base import Runtime
from .cuda_stream import CudaDevice, GpuTiming, GraphCache, HostDeviceBuffer, Pipeline, Slot
from .handle import InferHandle
from .tensors import TensorInfo
from .trt_buffers import EngineIO, IOTensor, ProfileBounds, max_shape, size_buffers, select_profile, tensor_infos


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


def read_engine_io(trt: Any, engine: Any) -> EngineIO:
    """Describe the engine's I/O tensors (name-based API, TensorRT 8.5+)."""
    tensors = []
    n_profiles = int(engine.num_optimization_profiles)
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = tuple(int(d) for d in engine.get_tensor_shape(name))
        dynamic = any(d < 0 for d in shape)
        profiles = tuple(_bounds(engine.get_tensor_profile_shape(name, k)) for k in range(n_profiles)) \
            if is_input and dynamic else ()
        tensors.append(IOTensor(name, is_input, _numpy_dtype(trt, engine.get_tensor_dtype(name), name), shape, profiles))
    return EngineIO(tuple(tensors), n_profiles)


def make_output_allocator(trt: Any, grow: Any):
    """An ``IOutputAllocator`` for data-dependent outputs: hands TensorRT the current slot's buffer, growing it
    (``grow(slot, name, nbytes)``) when TensorRT needs more, and keeps the shape TensorRT reports."""

    class _SlotAllocator(trt.IOutputAllocator):
        def __init__(self):
            super().__init__()  # pybind11 base initialiser (trt.IOutputAllocator.__init__)
            self.slot: Slot | None = None
            self.shapes: dict[str, tuple[int, ...]] = {}

        def reallocate_output(self, tensor_name, memory, size, alignment):
            buf = self.slot.outputs[tensor_name]
            if size > buf.nbytes:
                buf = grow(self.slot, tensor_name, int(size))
            return buf.device_ptr

        def reallocate_output_async(self, tensor_name, memory, size, alignment, stream):
            return self.reallocate_output(tensor_name, memory, size, alignment)

        def notify_shape(self, tensor_name, shape):
            self.shapes[tensor_name] = tuple(int(d) for d in shape)

    return _SlotAllocator()


class _ExecContext:
    """One TensorRT execution context with its own pipeline (buffers, streams, events), graph cache and output
    allocator."""

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
        self.allocator = None
        if runner.data_dependent:
            self.allocator = make_output_allocator(runner.trt, runner._grow)
            for name in runner.data_dependent:
                runner._check(self.context.set_output_allocator(name, self.allocator),
                              f"TensorRT refused an output allocator for {name!r}")
        self.profile: int | None = None
        self.warmed: set[int] = set()


class TensorRTRunner(Runtime):
    """A .engine / .plan file on TensorRT (pycuda for memory and streams)."""

    backend = "tensorrt"
    SUPPORTS_STREAM = True
    OPTIONS = {"device": 0, "contexts": 1, "depth": 2, "cuda_graph": False, "zero_copy": None,
               "check_sidecar": True, "allow_host_code": False}

    # ---- loading ---------------------------------------------------------------------------------------------------
    def _check_sidecar(self, trt_version: str) -> dict | None:
        """Check the build sidecar against this machine (before deserialising); return it, or None without one."""
        if not self.options["check_sidecar"]:
            return None
        from ..engine import sidecar as sidecar_mod

        if not sidecar_mod.sidecar_path(self.path).exists():
            warn(f"{self.path.name}: no sidecar {sidecar_mod.sidecar_path(self.path).name}; TensorRT version and GPU "
                 "compatibility are not checked before deserialising")
            return None
        sidecar = sidecar_mod.read_sidecar(self.path)
        cc = "{}.{}".format(*self.device.compute_capability)
        for note in sidecar_mod.check_compatible(sidecar, trt_version, {"name": self.device.name,
                                                                          "compute_capability": cc},
                                                 jetson=bool(getattr(self.device, "integrated", False))) or []:
            warn(f"{self.path.name}: {note}")
        return sidecar

    def _check(self, ok: Any, what: str, hint: str | None = None) -> None:
        if not ok:
            raise BackendError(f"{what} ({self.label})", hint=hint)

    def _deserialize(self, trt: Any, sidecar: dict | None) -> Any:
        from ..engine.loading import load_engine
        from ..engine.sidecar import build_spec_of

        spec = build_spec_of(sidecar)
        version_compatible = "VERSION_COMPATIBLE" in (spec.get("builder_flags") or []) or \
            bool(self.options["allow_host_code"])
        dla = spec.get("dla") or {}
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._trt_runtime = trt.Runtime(self._logger)
        engine = load_engine(trt, self._trt_runtime, self.path.read_bytes(), version_compatible=version_compatible,
                             dla_core=dla.get("core"), logger=self._logger)
        if engine is None:
            raise ModelLoadError(f"TensorRT {trt.__version__} cannot deserialize {str(self.path)!r}",
                                 hint="the engine is corrupted, truncated, built by another TensorRT / GPU, or a "
                                 "version-compatible engine without its sidecar (open it with allow_host_code=True "
                                 "if you trust it); rebuild it with `jetsonkit build`")
        return engine

    def _output_max_shapes(self, context: Any, stream: Any) -> dict[str, tuple[int, ...] | None]:
        """Each output's largest shape over all profiles, asked of the engine with every input at its profile
        maximum; None for a data-dependent output (its shape stays -1 until the engine ran)."""
        out: dict[str, tuple[int, ...] | None] = {}
        for k in range(self.io.num_profiles):
            self._check(context.set_optimization_profile_async(k, stream.handle),
                        f"TensorRT refused optimization profile {k}")
            for t in self.io.inputs:
                if t.is_dynamic:
                    high = t.profiles[k].max if t.profiles else max_shape(t)
                    self._check(context.set_input_shape(t.name, high), f"TensorRT refused shape {list(high)} "
                                f"for input {t.name!r}")
            for t in self.io.outputs:
                shape = tuple(int(d) for d in context.get_tensor_shape(t.name))
                if any(d < 0 for d in shape) or out.get(t.name, ()) is None:
                    out[t.name] = None
                else:
                    prev = out.get(t.name) or shape
                    out[t.name] = tuple(max(a, b) for a, b in zip(prev, shape))
        return out

    def _load_impl(self) -> tuple[list[TensorInfo], list[TensorInfo]]:
        self.device = CudaDevice(int(self.options["device"]))
        trt = require("tensorrt", purpose="running TensorRT engines")
        self.trt, self.version = trt, parse_version(trt.__version__)
        try:
            sidecar = self._check_sidecar(trt.__version__)
            with self.device.active():
                self.engine = self._deserialize(trt, sidecar)
                self.io = read_engine_io(trt, self.engine)
                probe = self.engine.create_execution_context()
                output_max = self._output_max_shapes(probe, self.device.cuda.Stream())
                del probe
                self.data_dependent = [n for n, shape in output_max.items() if shape is None]
                if self.data_dependent and not self.version.has_output_allocator:
                    raise UnsupportedError(f"{self.path.name}: outputs {self.data_dependent} have data-dependent shapes; "
                                           f"jetsonkit reads them with an IOutputAllocator from TensorRT 10 on, not "
                                           f"{trt.__version__}", hint="run this engine with TensorRT 10 (JetPack 6.1+); "
                                           "for NMS, rebuild it with `jetsonkit build --nms efficient-nms` "
                                           "(static outputs)")
                self.sizes = size_buffers(self.io, output_max)
                zero_copy = self.options["zero_copy"]
                self.zero_copy = (self.device.integrated and self.device.can_map_host_memory) if zero_copy is None \
                    else bool(zero_copy)
                static = self.io.is_static and not self.data_dependent
                self.use_graphs = bool(self.options["cuda_graph"]) and static
                if self.options["cuda_graph"] and not self.use_graphs:
                    warn(f"{self.path.name}: cuda_graph=True needs static shapes; this engine has dynamic or "
                         "data-dependent ones, so requests are enqueued without graphs")
                self.timing = GpuTiming()
                n_contexts = max(1, int(self.options["contexts"]))
                if self.version.contexts_need_own_profile and n_contexts > self.io.num_profiles:
                    warn(f"{self.path.name}: TensorRT {trt.__version__} runs concurrent contexts safely only on "
                         f"distinct optimization profiles; this engine has {self.io.num_profiles} for {n_contexts} "
                         "contexts")
                self._contexts = [_ExecContext(self, i) for i in range(n_contexts)]
        except BaseException:
            self._release()
            raise
        self._pool: queue.Queue = queue.Queue()
        for ctx in self._contexts:
            self._pool.put(ctx)
        return tensor_infos(self.io)

    def _grow(self, slot: Slot, name: str, nbytes: int) -> HostDeviceBuffer:
        """A bigger buffer for a data-dependent output (called by TensorRT through the output allocator)."""
        old = slot.outputs[name]
        slot.outputs[name] = HostDeviceBuffer(self.device.cuda, nbytes, old.zero_copy)
        old.free()
        return slot.outputs[name]

    # ---- execution -------------------------------------------------------------------------------------------------
    def _set_profile(self, ctx: _ExecContext, profile: int, stream: Any) -> None:
        if ctx.profile != profile:
            self._check(ctx.context.set_optimization_profile_async(profile, stream.handle),
                        f"TensorRT refused optimization profile {profile}")
            ctx.profile = profile

    def _bind_and_run(self, ctx: _ExecContext, slot: Slot, stream: Any) -> dict[str, tuple[int, ...]]:
        """Set shapes and addresses, enqueue; return each output's shape for this request."""
        c = ctx.context
        for t in self.io.inputs:
            if t.is_dynamic:
                self._check(c.set_input_shape(t.name, tuple(slot.shapes[t.name])),
                            f"TensorRT refused shape {list(slot.shapes[t.name])} for input {t.name!r}")
        for t in self.io.tensors:
            if t.name not in self.data_dependent:
                self._check(c.set_tensor_address(t.name, slot.outputs.get(t.name, slot.inputs.get(t.name)).device_ptr),
                            f"TensorRT refused the address of {t.name!r}")
        if ctx.allocator is not None:
            ctx.allocator.slot = slot
            ctx.allocator.shapes = {}
        self._check(c.execute_async_v3(stream.handle), "TensorRT failed to enqueue",
                    hint="rerun with TensorRT's log at VERBOSE; check the input shapes against the profiles")
        shapes = {}
        for t in self.io.outputs:
            if t.name in self.data_dependent:
                shapes[t.name] = ctx.allocator.shapes[t.name]
            else:
                shapes[t.name] = tuple(int(d) for d in c.get_tensor_shape(t.name))
        return shapes

    def _enqueue(self, ctx: _ExecContext, profile: int, frame: Any = None):
        def run(slot: Slot, stream: Any) -> dict[str, tuple[int, ...]]:
            if frame is not None:  # pre-processing writes straight into the slot's device input on this stream
                first = self.io.inputs[0].name
                self._frame.gpu.run_into(frame, slot.inputs[first].device_ptr, stream)
            self._set_profile(ctx, profile, stream)
            if ctx.graphs is not None and slot.index in ctx.warmed and frame is None:
                shapes = ctx.graphs.run((slot.index, profile), stream, lambda s: self._bind_and_run(ctx, slot, s))
                return shapes or {t.name: t.shape for t in self.io.outputs}  # static engine: graphs only then
            ctx.warmed.add(slot.index)  # first run of a slot is plain (TensorRT lazy setup)
            return self._bind_and_run(ctx, slot, stream)
        return run

    def _submit(self, arrays: dict[str, np.ndarray], frame: Any = None, shapes: dict | None = None,
                stream: Any = None) -> InferHandle:
        shapes = shapes or {n: a.shape for n, a in arrays.items()}
        if stream is not None:
            self.device.check_stream(stream)
        ctx = self._acquire()
        try:
            profile = select_profile(self.io, shapes, preferred=ctx.index % self.io.num_profiles)
            out_dtypes = {t.name: t.dtype for t in self.io.outputs}
            return ctx.pipeline.submit(arrays, out_dtypes, self._enqueue(ctx, profile, frame), shapes, stream=stream)
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

    def infer_frame_async(self, frame: Any, fmt: str | None = None) -> InferHandle:
        """With a GPU ``Preprocess`` step (``preprocess=Preprocess(...)``) on a static engine: pre-process ``frame`` on
        the GPU straight into the engine's input buffer; otherwise the CPU frame path every backend shares."""
        feed = self._frame_feed()
        if feed.gpu is None or not self.io.is_static or feed.layout != "NCHW" or feed.gpu.device == "cpu":
            return super().infer_frame_async(frame, fmt)
        if hasattr(frame, "__cuda_array_interface__"):
            from ..preprocess.cuda import device_frame_info

            info = device_frame_info(frame, feed.gpu.src_format)[0]
        else:
            info = feed.gpu.check(frame)
        t = self.io.inputs[0]
        handle = self._submit({}, frame=frame, shapes={t.name: t.shape})
        handle.geometry = feed.geometry(info.width, info.height)
        return handle

    def _stored_preprocess(self):
        from ..engine.sidecar import read_sidecar, sidecar_path
        from ..preprocess.metadata import from_metadata

        if not sidecar_path(self.path).exists():
            return None
        return from_metadata(read_sidecar(self.path), where=str(sidecar_path(self.path)))

    def _release(self) -> None:
        """Free everything in dependency order inside the context (graphs, buffers, contexts, engine, runtime),
        then detach the primary context."""
        contexts, self._contexts = getattr(self, "_contexts", None), None
        device = getattr(self, "device", None)
        if device is None or device.context is None:
            return
        with device.active():
            for ctx in contexts or []:
                ctx.pipeline.close()
                if ctx.graphs is not None:
                    ctx.graphs.close()
                ctx.context = ctx.allocator = None
            pool = getattr(self, "_pool", None)
            while pool is not None and not pool.empty():  # drop the pool's references so contexts die here
                pool.get_nowait()
            del contexts
            self.engine = None
            self._trt_runtime = None
        device.release()

    def _close_impl(self) -> None:
        self._release()
