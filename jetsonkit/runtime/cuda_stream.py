"""CUDA machinery for the TensorRT runner, independent of TensorRT: buffers, streams, events, pipelining, graphs.

pycuda is imported at first use (``require("pycuda.driver")``), never at import time. The pieces:

- :class:`CudaDevice`: the device's primary context, pushed on whichever thread is working (pycuda contexts are
  per thread), and what the device is (integrated GPU? can it map host memory?).
- :class:`HostDeviceBuffer`: page-locked host memory plus device memory of the same size, allocated once; on an
  integrated GPU (Jetson) optionally one *mapped* page-locked allocation that host and GPU share (zero-copy: the
  H2D / D2H copies disappear; CUDA C Programming Guide, "Mapped Memory").
- :class:`Pipeline`: ``depth`` slots of buffers on three streams (copy-in, compute, copy-out) chained by events, so
  copy-in of frame k+1 overlaps compute of frame k and copy-out of frame k-1 (CUDA C Best Practices Guide,
  "Asynchronous and Overlapping Transfers with Computation"). ``overlap=False`` gives the naive loop (one stream,
  one slot) to compare against. Every request records six events, so H2D / compute / D2H are timed by the GPU.
- :class:`GraphCache`: optional CUDA graph capture of a slot's compute for static shapes (one graph per slot,
  since each slot's buffers have their own addresses), replayed instead of re-enqueueing.

A stand-in "engine" is any ``enqueue(slot, stream)`` callable, so the tests drive all of this with a small CUDA
kernel on any NVIDIA GPU, without TensorRT.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import threading
import time
from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable, Iterator

import numpy as np

from .._deps import require
from .._progress import warn
from ..errors import BackendError, UnsupportedError, UsageError
from .handle import InferHandle


def cuda_driver() -> Any:
    """``pycuda.driver``, initialised (raises MissingDependencyError / UnsupportedError with the reason)."""
    cuda = require("pycuda.driver", purpose="GPU inference (TensorRT runner)")
    try:
        cuda.init()
    except Exception as exc:  # noqa: BLE001 - pycuda raises its own error types
        raise UnsupportedError(f"CUDA cannot start here: {exc}", hint="a GPU with an NVIDIA driver is needed") from exc
    return cuda


class CudaDevice:
    """One GPU's primary context; ``with device.active():`` makes it current on this thread."""

    def __init__(self, index: int = 0):
        self.cuda = cuda_driver()
        if index >= self.cuda.Device.count():
            raise UnsupportedError(f"GPU {index} does not exist ({self.cuda.Device.count()} GPU(s) here)")
        self.device = self.cuda.Device(index)
        self.context = self.device.retain_primary_context()
        attr = self.cuda.device_attribute
        self.name = self.device.name()
        self.integrated = bool(self.device.get_attribute(attr.INTEGRATED))
        self.can_map_host_memory = bool(self.device.get_attribute(attr.CAN_MAP_HOST_MEMORY))
        self.compute_capability = self.device.compute_capability()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        if self.context is None:
            raise BackendError(f"GPU {self.name}: the CUDA context was already released")
        self.context.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()

    def check_stream(self, stream: Any) -> None:
        """Refuse a caller's stream that belongs to another CUDA context than this device's primary one
        (``import pycuda.autoinit`` creates such a context; work on it cannot be ordered with ours)."""
        owner = stream_context(stream)
        if owner is not None and owner != int(self.context.handle):
            raise UsageError(f"the stream passed to infer_async belongs to CUDA context {owner:#x}, not to GPU "
                             f"{self.name}'s primary context {int(self.context.handle):#x}",
                             hint="use `import pycuda.autoprimaryctx` instead of pycuda.autoinit, or create the "
                             "stream inside `with runner.device.active():`")

    def release(self) -> None:
        """Detach the retained primary context (once); the device object is unusable afterwards."""
        context, self.context = self.context, None
        if context is not None:
            context.detach()


def stream_context(stream: Any) -> int | None:
    """The CUDA context a stream belongs to (driver API ``cuStreamGetCtx``), or None where it cannot be asked."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    ctx = ctypes.c_void_p()
    if lib.cuStreamGetCtx(ctypes.c_void_p(int(stream.handle)), ctypes.byref(ctx)) != 0:
        return None
    return int(ctx.value or 0)


class HostDeviceBuffer:
    """``nbytes`` of page-locked host memory and its device twin (or one mapped allocation when zero_copy)."""

    def __init__(self, cuda: Any, nbytes: int, zero_copy: bool = False):
        self.cuda, self.nbytes, self.zero_copy = cuda, nbytes, zero_copy
        if zero_copy:
            self.host = cuda.pagelocked_empty(nbytes, np.uint8, mem_flags=cuda.host_alloc_flags.DEVICEMAP)
            self.device = None
            self.device_ptr = int(self.host.base.get_device_pointer())
        else:
            self.host = cuda.pagelocked_empty(nbytes, np.uint8)
            self.device = cuda.mem_alloc(nbytes)
            self.device_ptr = int(self.device)

    def view(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """The host memory as an array of ``shape`` / ``dtype`` (no copy)."""
        n = prod(shape) * np.dtype(dtype).itemsize
        if n > self.nbytes:
            raise BackendError(f"a {list(shape)} {np.dtype(dtype).name} tensor ({n} B) does not fit its "
                               f"{self.nbytes} B buffer")
        return self.host[:n].view(dtype).reshape(shape)

    def to_device(self, nbytes: int, stream: Any) -> None:
        if not self.zero_copy:
            self.cuda.memcpy_htod_async(self.device_ptr, self.host[:nbytes], stream)

    def to_host(self, nbytes: int, stream: Any) -> None:
        if not self.zero_copy:
            self.cuda.memcpy_dtoh_async(self.host[:nbytes], self.device_ptr, stream)

    def free(self) -> None:
        """Free device and page-locked memory now (call with the context active), not later from the GC."""
        if self.device is not None:
            self.device.free()
            self.device = None
        if self.host is not None:
            base = self.host.base
            self.host = None
            if hasattr(base, "free"):
                base.free()


@dataclass
class Slot:
    """One in-flight request's buffers and events."""

    index: int
    inputs: dict[str, HostDeviceBuffer]
    outputs: dict[str, HostDeviceBuffer]
    events: dict[str, Any]
    handle: InferHandle | None = None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


_EVENTS = ("start", "h2d", "compute_start", "compute", "d2h_start", "done")


class GpuTiming:
    """Per-request GPU times (ms) from CUDA events, and host enqueue times; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.samples: dict[str, list[float]] = {"enqueue": [], "h2d": [], "compute": [], "d2h": []}

    def add(self, **values: float) -> None:
        with self._lock:
            for key, value in values.items():
                self.samples[key].append(value)

    def summary_ms(self) -> dict[str, dict[str, float]]:
        from .benchmark import latency_stats_ms

        with self._lock:
            return {k: latency_stats_ms(np.asarray(v) / 1e3) for k, v in self.samples.items() if v}


class Pipeline:
    """``depth`` slots on copy-in / compute / copy-out streams; ``submit`` returns an InferHandle at once."""

    def __init__(self, device: CudaDevice, sizes: dict[str, int], input_names: list[str], output_names: list[str],
                 *, depth: int = 2, overlap: bool = True, zero_copy: bool = False, timing: GpuTiming | None = None):
        if zero_copy and not device.can_map_host_memory:
            raise UnsupportedError(f"{device.name} cannot map host memory, so zero-copy buffers are not possible")
        self.device, self.cuda = device, device.cuda
        self.timing = timing or GpuTiming()
        self._lock = threading.Lock()
        self._next = 0
        with device.active():
            if overlap:
                self.streams = {"h2d": self.cuda.Stream(), "compute": self.cuda.Stream(), "d2h": self.cuda.Stream()}
            else:
                one = self.cuda.Stream()
                self.streams, depth = {"h2d": one, "compute": one, "d2h": one}, 1
            self.slots = [Slot(i, {n: HostDeviceBuffer(self.cuda, sizes[n], zero_copy) for n in input_names},
                               {n: HostDeviceBuffer(self.cuda, sizes[n], zero_copy) for n in output_names},
                               {e: self.cuda.Event() for e in _EVENTS}) for i in range(depth)]
        self._last_compute: Any = None  # the compute event of the latest request, on whichever stream it ran

    def submit(self, arrays: dict[str, np.ndarray], out_dtypes: dict[str, np.dtype],
               enqueue: Callable[[Slot, Any], dict[str, tuple[int, ...]]],
               in_shapes: dict[str, tuple[int, ...]] | None = None, stream: Any = None) -> InferHandle:
        """Copy ``arrays`` in, run ``enqueue(slot, compute_stream)`` (it returns each output's shape, known once the
        engine ran its shape logic), copy outputs out; all asynchronous.

        ``in_shapes`` names input shapes that ``enqueue`` fills itself (GPU pre-processing), beside ``arrays``.
        ``stream``: run this request's three phases on the caller's stream instead of the pipeline's own. Every
        enqueue waits for the previous one's compute event, whichever stream that ran on, so the pipeline's user
        (one execution context) never runs on two streams at once.
        """
        t0 = time.perf_counter()
        with self._lock, self.device.active():
            slot = self.slots[self._next]
            self._next = (self._next + 1) % len(self.slots)
            if slot.handle is not None:
                slot.handle.wait()  # the slot's previous request must be copied out before its buffers are reused
            slot.shapes = {**(in_shapes or {}), **{n: a.shape for n, a in arrays.items()}}
            ev = slot.events
            s = self.streams if stream is None else {"h2d": stream, "compute": stream, "d2h": stream}
            for name, array in arrays.items():
                np.copyto(slot.inputs[name].view(array.shape, array.dtype), array)
            ev["start"].record(s["h2d"])
            for name, array in arrays.items():
                slot.inputs[name].to_device(array.nbytes, s["h2d"])
            ev["h2d"].record(s["h2d"])
            s["compute"].wait_for_event(ev["h2d"])
            if self._last_compute is not None:
                s["compute"].wait_for_event(self._last_compute)
            ev["compute_start"].record(s["compute"])
            out_shapes = enqueue(slot, s["compute"])
            ev["compute"].record(s["compute"])
            self._last_compute = ev["compute"]
            s["d2h"].wait_for_event(ev["compute"])
            ev["d2h_start"].record(s["d2h"])
            for name, shape in out_shapes.items():
                slot.outputs[name].to_host(prod(shape) * np.dtype(out_dtypes[name]).itemsize, s["d2h"])
            ev["done"].record(s["d2h"])
            handle = InferHandle(poll=lambda: self._query(slot),
                                 finish=lambda timeout: self._finish(slot, out_shapes, out_dtypes, timeout),
                                 label=f"GPU slot {slot.index}")
            slot.handle = handle
        self.timing.add(enqueue=(time.perf_counter() - t0) * 1e3)
        return handle

    def _query(self, slot: Slot) -> bool:
        with self.device.active():
            return bool(slot.events["done"].query())

    def _finish(self, slot: Slot, out_shapes: dict, out_dtypes: dict, timeout: float | None) -> dict[str, np.ndarray]:
        ev = slot.events
        with self.device.active():
            if timeout is None:
                ev["done"].synchronize()
            else:
                deadline = time.perf_counter() + timeout
                while not ev["done"].query():
                    if time.perf_counter() > deadline:
                        raise TimeoutError(f"GPU request not finished after {timeout} s")
                    time.sleep(50e-6)
            outputs = {n: slot.outputs[n].view(shape, out_dtypes[n]).copy() for n, shape in out_shapes.items()}
            self.timing.add(h2d=ev["start"].time_till(ev["h2d"]), compute=ev["compute_start"].time_till(ev["compute"]),
                            d2h=ev["d2h_start"].time_till(ev["done"]))
        return outputs

    def synchronize(self) -> None:
        for slot in self.slots:
            if slot.handle is not None:
                slot.handle.wait()

    def close(self) -> None:
        """Finish in-flight requests, then free every buffer now, inside the context (no GC-time frees on
        another thread, no reference cycle through the handles)."""
        self.synchronize()
        with self.device.active():
            for slot in self.slots:
                for buf in list(slot.inputs.values()) + list(slot.outputs.values()):
                    buf.free()
                slot.handle, slot.inputs, slot.outputs, slot.events = None, {}, {}, {}
            # the last references to events and streams go here, so pycuda destroys them with the context current
            self.slots, self.streams, self._last_compute = [], {}, None


def _cuda_python_driver() -> Any | None:
    """cuda-python's driver module (``cuda.bindings.driver``, or ``cuda.cuda`` before 12.6), or None."""
    for name in ("cuda.bindings.driver", "cuda.cuda"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


class _DriverGraph:
    """A CUDA graph captured and launched through cuda-python's driver API on pycuda's stream handle
    (cuStreamBeginCapture / cuStreamEndCapture / cuGraphInstantiateWithFlags / cuGraphLaunch; destroyed with
    cuGraphExecDestroy / cuGraphDestroy)."""

    def __init__(self, drv: Any):
        self.drv = drv

    def _ok(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise BackendError(f"{what} failed: CUDA error {int(err)}")
        return rest[0] if rest else None

    def capture(self, stream: Any, enqueue: Callable[[Any], None]) -> tuple[Any, Any]:
        """(graph, graph_exec); on any failure the capture is ended and the partial graph destroyed."""
        drv, handle = self.drv, self.drv.CUstream(stream.handle)
        mode = drv.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
        self._ok(drv.cuStreamBeginCapture(handle, mode), "cuStreamBeginCapture")
        graph = None
        try:
            enqueue(stream)
        finally:
            err, graph = drv.cuStreamEndCapture(handle)
            if int(err) != 0:
                graph = None
        if graph is None:
            raise BackendError("cuStreamEndCapture failed: the enqueue is not capturable")
        try:
            return graph, self._ok(drv.cuGraphInstantiateWithFlags(graph, 0), "cuGraphInstantiateWithFlags")
        except BackendError:
            drv.cuGraphDestroy(graph)
            raise

    def launch(self, graph_exec: Any, stream: Any) -> None:
        self._ok(self.drv.cuGraphLaunch(graph_exec, self.drv.CUstream(stream.handle)), "cuGraphLaunch")

    def destroy(self, graph: Any, graph_exec: Any) -> None:
        self.drv.cuGraphExecDestroy(graph_exec)
        self.drv.cuGraphDestroy(graph)


class GraphCache:
    """CUDA graphs of a slot's compute, captured on first use per key (slot, shapes) and replayed after.

    Capture needs cuda-python's driver API (``pip install cuda-python``; no pycuda release has stream capture).
    Without it, or when a capture fails, requests are enqueued without graphs and a note says why once.
    ``close()`` destroys every graph and graph exec (call it with the context active).
    """

    def __init__(self, cuda: Any, driver: Any = None):
        self.cuda = cuda
        drv = driver if driver is not None else _cuda_python_driver()
        self._driver = _DriverGraph(drv) if drv is not None else None
        self._graphs: dict[tuple, tuple[Any, Any]] = {}
        self.disabled: str | None = None if self._driver is not None else \
            "CUDA graphs need cuda-python (pip install cuda-python); requests are enqueued without graphs"
        self._noted = False

    def _note(self) -> None:
        if not self._noted:
            warn(self.disabled or "")
            self._noted = True

    def run(self, key: tuple, stream: Any, enqueue: Callable[[Any], Any]) -> Any:
        """Replay the graph for ``key`` (capturing it first); returns what a plain ``enqueue`` returns."""
        if self.disabled:
            self._note()
            return enqueue(stream)
        entry = self._graphs.get(key)
        result: list = []
        if entry is None:
            try:
                entry = self._graphs[key] = self._driver.capture(stream, lambda s: result.append(enqueue(s)))
            except BackendError as exc:
                self.disabled = f"CUDA graph capture failed ({exc}); requests are enqueued without graphs"
                self._note()
                return enqueue(stream)
        self._driver.launch(entry[1], stream)
        return result[0] if result else None

    def close(self) -> None:
        graphs, self._graphs = self._graphs, {}
        for graph, graph_exec in graphs.values():
            self._driver.destroy(graph, graph_exec)

    def __len__(self) -> int:
        return len(self._graphs)
