"""A small ctypes binding of the CUDA driver API (libcuda), loaded at first GPU use.

Why not pycuda: it has no wheels and builds only where CUDA headers exist, while the driver API is present on
every machine that has a GPU (Jetson included). Handles are plain integers, so a stream or a device pointer from
pycuda (``stream.handle``, ``int(allocation)``), CuPy (``stream.ptr``, ``array.data.ptr``) or torch
(``stream.cuda_stream``, ``tensor.data_ptr()``) can be passed straight in. Calls follow the CUDA Driver API
reference (cuModuleLoadData, cuLaunchKernel, cuMemcpyHtoDAsync_v2, cuDevicePrimaryCtxRetain ...).
"""

from __future__ import annotations

import ctypes
import functools

from ..errors import BackendError, UnsupportedError

_CC_MAJOR, _CC_MINOR = 75, 76  # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
_u64 = ctypes.c_uint64
_vp = ctypes.c_void_p


class Driver:
    """The driver library plus the calls the pre-processing path needs; every call is checked."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        self.check(lib.cuInit(0), "cuInit")

    def check(self, rc: int, call: str) -> None:
        if rc != 0:
            msg = ctypes.c_char_p()
            self.lib.cuGetErrorString(rc, ctypes.byref(msg))
            text = msg.value.decode() if msg.value else "unknown error"
            raise BackendError(f"CUDA driver call {call} failed with error {rc} ({text})")

    def ensure_context(self, device: int = 0) -> int:
        """The current context, or device ``device``'s primary context made current (as the CUDA runtime,
        CuPy and torch use it) when the thread has none."""
        ctx = _vp()
        self.check(self.lib.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        if ctx.value:
            return ctx.value
        dev = ctypes.c_int()
        self.check(self.lib.cuDeviceGet(ctypes.byref(dev), device), "cuDeviceGet")
        self.check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
        self.check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        return ctx.value

    def compute_capability(self) -> tuple[int, int]:
        """(major, minor) of the current context's device."""
        dev = ctypes.c_int()
        self.check(self.lib.cuCtxGetDevice(ctypes.byref(dev)), "cuCtxGetDevice")
        out = []
        for attr in (_CC_MAJOR, _CC_MINOR):
            v = ctypes.c_int()
            self.check(self.lib.cuDeviceGetAttribute(ctypes.byref(v), attr, dev), "cuDeviceGetAttribute")
            out.append(v.value)
        return out[0], out[1]

    def device_name(self) -> str:
        dev = ctypes.c_int()
        self.check(self.lib.cuCtxGetDevice(ctypes.byref(dev)), "cuCtxGetDevice")
        name = ctypes.create_string_buffer(256)
        self.check(self.lib.cuDeviceGetName(name, 256, dev), "cuDeviceGetName")
        return name.value.decode(errors="replace")

    def load_module(self, image: bytes) -> int:
        mod = _vp()
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod), ctypes.c_char_p(image)), "cuModuleLoadData")
        return mod.value

    def function(self, module: int, name: str) -> int:
        fn = _vp()
        self.check(self.lib.cuModuleGetFunction(ctypes.byref(fn), _vp(module), name.encode()),
                   f"cuModuleGetFunction({name})")
        return fn.value

    def launch(self, fn: int, grid: tuple[int, int], block: tuple[int, int], args: list, stream: int) -> None:
        """Launch ``fn``; ``args`` are ctypes objects, one per kernel parameter, passed by address."""
        params = (_vp * len(args))(*[ctypes.cast(ctypes.byref(a), _vp) for a in args])
        self.check(self.lib.cuLaunchKernel(_vp(fn), grid[0], grid[1], 1, block[0], block[1], 1, 0, _vp(stream),
                                           params, None), "cuLaunchKernel")

    def mem_alloc(self, nbytes: int) -> int:
        ptr = _u64()
        self.check(self.lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(max(1, nbytes))), "cuMemAlloc")
        return ptr.value

    def mem_free(self, ptr: int) -> None:
        self.check(self.lib.cuMemFree_v2(_u64(ptr)), "cuMemFree")

    def host_alloc(self, nbytes: int) -> int:
        """Page-locked host memory (needed for a truly asynchronous upload)."""
        ptr = _vp()
        self.check(self.lib.cuMemHostAlloc(ctypes.byref(ptr), ctypes.c_size_t(max(1, nbytes)), 0), "cuMemHostAlloc")
        return ptr.value

    def host_free(self, ptr: int) -> None:
        self.check(self.lib.cuMemFreeHost(_vp(ptr)), "cuMemFreeHost")

    def htod_async(self, dst: int, src: int, nbytes: int, stream: int) -> None:
        self.check(self.lib.cuMemcpyHtoDAsync_v2(_u64(dst), _vp(src), ctypes.c_size_t(nbytes), _vp(stream)),
                   "cuMemcpyHtoDAsync")

    def dtoh(self, dst: int, src: int, nbytes: int) -> None:
        self.check(self.lib.cuMemcpyDtoH_v2(_vp(dst), _u64(src), ctypes.c_size_t(nbytes)), "cuMemcpyDtoH")

    def stream_sync(self, stream: int) -> None:
        self.check(self.lib.cuStreamSynchronize(_vp(stream)), "cuStreamSynchronize")

    def stream_create(self) -> int:
        """A new non-blocking stream (CU_STREAM_NON_BLOCKING)."""
        s = _vp()
        self.check(self.lib.cuStreamCreate(ctypes.byref(s), 1), "cuStreamCreate")
        return s.value

    def stream_destroy(self, stream: int) -> None:
        self.check(self.lib.cuStreamDestroy_v2(_vp(stream)), "cuStreamDestroy")

    def event_create(self) -> int:
        ev = _vp()
        self.check(self.lib.cuEventCreate(ctypes.byref(ev), 0), "cuEventCreate")
        return ev.value

    def event_record(self, event: int, stream: int) -> None:
        self.check(self.lib.cuEventRecord(_vp(event), _vp(stream)), "cuEventRecord")

    def event_sync(self, event: int) -> None:
        self.check(self.lib.cuEventSynchronize(_vp(event)), "cuEventSynchronize")


@functools.lru_cache(maxsize=1)
def driver() -> Driver:
    """The process's driver binding; UnsupportedError (one line, with the fix) where there is no driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise UnsupportedError(f"no NVIDIA GPU driver here (libcuda.so.1: {exc})",
                               hint="use Preprocess(..., device='cpu') or run on a machine with an NVIDIA GPU") from exc
    return Driver(lib)


def stream_handle(stream: object) -> int:
    """A CUstream as an int from None (legacy default stream), an int, or a pycuda / CuPy / torch stream."""
    if stream is None:
        return 0
    if isinstance(stream, int):
        return stream
    for attr in ("handle", "ptr", "cuda_stream"):  # pycuda, CuPy, torch
        value = getattr(stream, attr, None)
        if isinstance(value, int):
            return value
    raise BackendError(f"cannot read a CUDA stream handle from {type(stream).__name__}",
                       hint="pass an int CUstream, or a pycuda / CuPy / torch stream")


def device_pointer(buf: object) -> int:
    """A device address as an int from an int, a pycuda allocation, or anything with __cuda_array_interface__."""
    cai = getattr(buf, "__cuda_array_interface__", None)
    try:
        ptr = int(cai["data"][0]) if cai is not None else int(buf)  # int() also reads a pycuda DeviceAllocation
    except (TypeError, ValueError):
        raise BackendError(f"cannot read a device pointer from {type(buf).__name__}",
                           hint="pass an int, a pycuda DeviceAllocation, or a CuPy / torch CUDA array") from None
    if ptr <= 0:
        raise BackendError(f"device pointer {ptr} is not a device address", hint="pass the buffer's device address")
    return ptr
