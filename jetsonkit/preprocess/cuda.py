"""The CUDA path: load the compiled kernels into the current context and launch them on a caller's stream.

Host frames are copied into page-locked staging memory, uploaded asynchronously on the caller's stream, and
converted by one kernel that writes straight into the caller's device buffer (a TensorRT input binding, say):
no intermediate image and no extra device-to-device copy. Device frames (anything with
``__cuda_array_interface__``: CuPy, torch, numba) are read in place.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from . import _driver
from ._params import ALL_KERNELS, JkParams
from .compile import kernel_binary
from .spec import FrameInfo, check_layout

BLOCK = (32, 8)


@dataclass
class _Loaded:
    module: int
    functions: dict[str, int]
    target: str


_MODULES: dict[int, _Loaded] = {}  # per CUDA context
_LOCK = threading.Lock()


def loaded_kernels() -> _Loaded:
    """The kernels loaded into the current (or primary) context, compiled for its device on first use."""
    drv = _driver.driver()
    ctx = drv.ensure_context()
    with _LOCK:
        if ctx not in _MODULES:
            major, minor = drv.compute_capability()
            target = f"sm_{major}{minor}"
            module = drv.load_module(kernel_binary(target))
            _MODULES[ctx] = _Loaded(module, {name: drv.function(module, name) for name in ALL_KERNELS}, target)
        return _MODULES[ctx]


def frame_span(info: FrameInfo) -> int:
    """Bytes from a frame's first byte to its last (rows are pitched; the last row is not padded)."""
    row = {"rgb": 3, "bgr": 3, "yuyv": 2, "nv12": 1}[info.fmt] * info.width
    if info.fmt == "nv12":
        return info.uv_offset + (info.height // 2 - 1) * info.uv_pitch + info.width
    return (info.height - 1) * info.pitch + row


def device_frame_info(frame: object, fmt: str) -> tuple[FrameInfo, int]:
    """Validate a device frame through its __cuda_array_interface__; return its layout and address."""
    cai = frame.__cuda_array_interface__  # type: ignore[attr-defined]
    shape = tuple(int(s) for s in cai["shape"])
    if np.dtype(cai["typestr"]) != np.uint8:
        raise DataError(f"{fmt} device frame has dtype {np.dtype(cai['typestr'])}, expected uint8",
                        hint="camera frames are 8-bit")
    strides = cai.get("strides") or tuple(int(np.prod(shape[i + 1:])) for i in range(len(shape)))
    return check_layout(shape, tuple(strides), fmt), int(cai["data"][0])


class Staging:
    """Page-locked host memory + a device buffer for uploading host frames on one stream, reused across calls.

    The pinned buffer is rewritten only after the event recorded behind the previous upload has completed; the
    device buffer is rewritten by an upload queued behind the previous kernel on the same stream. So one Staging
    serves one stream (``Preprocess`` keeps one per stream handle).
    """

    def __init__(self):
        loaded_kernels()  # makes a context current on this thread (allocations need one)
        self.drv = _driver.driver()
        self.size = 0
        self.host = self.device = 0
        self.event = self.drv.event_create()
        self.pending = False

    def upload(self, frame: np.ndarray, span: int, stream: int) -> int:
        """Copy ``span`` bytes from the frame's first byte to the device on ``stream``; return the device address."""
        if self.pending:
            self.drv.event_sync(self.event)
        if span > self.size:
            self.release()
            self.host, self.device, self.size = self.drv.host_alloc(span), self.drv.mem_alloc(span), span
        raw = np.lib.stride_tricks.as_strided(frame, shape=(span,), strides=(1,))  # the pitched bytes as they lie
        ctypes.memmove(self.host, raw.ctypes.data, span)
        self.drv.htod_async(self.device, self.host, span, stream)
        self.drv.event_record(self.event, stream)
        self.pending = True
        return self.device

    def release(self) -> None:
        if self.size:
            if self.pending:
                self.drv.event_sync(self.event)
                self.pending = False
            self.drv.host_free(self.host)
            self.drv.mem_free(self.device)
            self.size = 0


def launch(kernel: str, src: int, uv: int, dst: int, params: JkParams, width: int, height: int, stream: int) -> None:
    """Launch one pre-processing kernel over a width x height grid of threads on ``stream``."""
    fn = loaded_kernels().functions[kernel]
    grid = ((width + BLOCK[0] - 1) // BLOCK[0], (height + BLOCK[1] - 1) // BLOCK[1])
    args = [ctypes.c_uint64(src), ctypes.c_uint64(uv), ctypes.c_uint64(dst), params]
    _driver.driver().launch(fn, grid, BLOCK, args, stream)
