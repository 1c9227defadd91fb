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
import importlib
import threading
import time
from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable, Iterator

import numpy as np

from .._deps import require
from ..errors import BackendError, UnsupportedError
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
        self.context.push()
        try:
            yield
        finally:
            self.cuda.Context.pop()


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

    def submit(self, arrays: dict[str, np.ndarray], out_shapes: dict[str, tuple[int, ...]],
               out_dtypes: dict[str, np.dtype], enqueue: Callable[[Slot, Any], None],
               in_shapes: dict[str, tuple[int, ...]] | None = None, stream: Any = None) -> InferHandle:
        """Copy ``arrays`` in, run ``enqueue(slot, compute_stream)``, copy outputs out; all asynchronous.

        ``in_shapes`` names input shapes that ``enqueue`` fills itself (GPU pre-processing), beside ``arrays``.
        ``stream``: run this request's three phases on the caller's stream instead of the pipeline's own.
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
            ev["compute_start"].record(s["compute"])
            enqueue(slot, s["compute"])
            ev["compute"].record(s["compute"])
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
    (cuStreamBeginCapture / cuStreamEndCapture / cuGraphInstantiateWithFlags / cuGraphLaunch)."""

    def __init__(self, drv: Any):
        self.drv = drv

    def _ok(self, result: tuple, what: str) -> Any:
        err, *rest = result
        if int(err) != 0:
            raise BackendError(f"{what} failed: CUDA error {int(err)}")
        return rest[0] if rest else None

    def capture(self, stream: Any, enqueue: Callable[[Any], None]) -> Any:
        drv, handle = self.drv, self.drv.CUstream(stream.handle)
        mode = drv.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
        self._ok(drv.cuStreamBeginCapture(handle, mode), "cuStreamBeginCapture")
        try:
            enqueue(stream)
        finally:
            graph = self._ok(drv.cuStreamEndCapture(handle), "cuStreamEndCapture")
        return self._ok(drv.cuGraphInstantiateWithFlags(graph, 0), "cuGraphInstantiateWithFlags")

    def launch(self, graph_exec: Any, stream: Any) -> None:
        self._ok(self.drv.cuGraphLaunch(graph_exec, self.drv.CUstream(stream.handle)), "cuGraphLaunch")


class GraphCache:
    """CUDA graphs of a slot's compute, captured on first use per key (slot, shapes) and replayed after.

    Capture goes through cuda-python's driver API when installed (``pip install cuda-python``), else through
    pycuda's stream capture where that pycuda has it; with neither, UnsupportedError at the first capture (the
    TensorRT runner then reports it: open the engine with ``cuda_graph=False``).
    """

    def __init__(self, cuda: Any):
        self.cuda = cuda
        drv = _cuda_python_driver()
        self._driver = _DriverGraph(drv) if drv is not None else None
        self._graphs: dict[tuple, Any] = {}

    def _capture(self, stream: Any, enqueue: Callable[[Any], None]) -> Any:
        if self._driver is not None:
            return self._driver.capture(stream, enqueue)
        if not hasattr(stream, "begin_capture"):
            raise UnsupportedError("CUDA graph capture needs cuda-python or a pycuda with stream capture",
                                   hint="pip install cuda-python, or open the engine with cuda_graph=False")
        stream.begin_capture()
        try:
            enqueue(stream)
        finally:
            graph = stream.end_capture()
        return graph.instantiate()

    def run(self, key: tuple, stream: Any, enqueue: Callable[[Any], None]) -> None:
        graph_exec = self._graphs.get(key)
        if graph_exec is None:
            graph_exec = self._graphs[key] = self._capture(stream, enqueue)
        if self._driver is not None:
            self._driver.launch(graph_exec, stream)
        else:
            graph_exec.launch(stream)

    def __len__(self) -> int:
        return len(self._graphs)
