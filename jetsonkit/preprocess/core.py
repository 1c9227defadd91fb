"""``Preprocess``: a camera frame -> the network's (1, 3, H, W) input, on the CPU (numpy) or the GPU (CUDA).

    pre = Preprocess((640, 640), src_format="nv12", mean=0, std=1, scale=1 / 255, dtype="float16")
    x = pre(frame)                                   # numpy result (CPU reference or GPU + copy back)
    box = pre.run_into(frame, device_ptr, stream)    # GPU: write straight into a device buffer on a stream

The step is a :class:`~.config.PreprocessSpec` (``spec``) plus a source format, a YUV matrix and a device. The CPU
path is the one CPU implementation (:func:`.fast.to_tensor`: the numpy reference :func:`.reference.to_tensor`, or
the native C path with its bytes); the GPU path runs ``kernels/preprocess.cu`` and matches the reference bit for
bit (tests/kernels). Frames are validated before any launch.
"""

from __future__ import annotations

import threading

import numpy as np

from .._progress import info
from ..errors import ConfigError, JetsonkitError
from . import fast, reference
from ._params import NCHW_KERNELS, make_params
from .config import PreprocessSpec
from .spec import DTYPES, MODES, YUV_MATRICES, Box, FrameInfo, check_frame, norm_spec, output_box

DEVICES = ("auto", "cpu", "cuda")


def _size(size) -> tuple[int, int]:
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and 0 < v <= 16384 for v in hw):
        raise ConfigError(f"output size {size!r} is not a positive int or a (height, width) pair of ints <= 16384",
                          hint="for example Preprocess((640, 640), ...)")
    return int(hw[0]), int(hw[1])


def _per_channel(value) -> tuple[float, ...]:
    return (float(value),) if np.isscalar(value) else tuple(float(v) for v in value)


def _choose(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not supported", hint=f"use one of {', '.join(allowed)}")
    return value


class Preprocess:
    """Frame -> normalised NCHW network input. See the module docstring and docs/preprocess.md.

    ``size`` is the output (height, width) (or one int). ``src_format`` rgb | bgr | nv12 | yuyv; ``out_order``
    the channel order the network expects; ``mode`` letterbox (aspect kept, ``pad`` around) | resize (stretch);
    ``(x * scale - mean[c]) / std[c]`` per output channel; ``dtype`` float32 | float16; ``yuv_matrix`` bt601
    (limited range, default) | bt709 | bt601_full; ``device`` auto (GPU when a driver is present) | cpu | cuda.
    """

    def __init__(self, size, *, src_format: str = "rgb", out_order: str = "rgb", mode: str = "letterbox",
                 scale: float = 1 / 255, mean=0.0, std=1.0, pad: int = 114, dtype: str = "float32",
                 yuv_matrix: str = "bt601", device: str = "auto"):
        self.height, self.width = _size(size)
        self.src_format = _choose("src_format", src_format, ("rgb", "bgr", "nv12", "yuyv"))
        self.out_order = _choose("out_order", out_order, ("rgb", "bgr"))
        self.mode = _choose("mode", mode, MODES)
        self.dtype = _choose("dtype", dtype, DTYPES)
        self.yuv_matrix = _choose("yuv_matrix", yuv_matrix, tuple(YUV_MATRICES))
        self.device = _choose("device", device, DEVICES)
        if not isinstance(pad, (int, np.integer)) or not 0 <= pad <= 255:
            raise ConfigError(f"pad={pad!r} is not a uint8 value", hint="use an int in 0..255 (YOLO uses 114)")
        self.pad = int(pad)
        self.norm = norm_spec(scale, mean, std)  # checked here first: the messages name Preprocess's arguments
        self.spec = PreprocessSpec(size=(self.height, self.width), resize="stretch" if mode == "resize" else mode,
                                   pad=self.pad, color=self.out_order, scale=scale, mean=_per_channel(mean),
                                   std=_per_channel(std), dtype=self.dtype)  # the CPU path's definition
        self._staging: dict[int, object] = {}  # stream handle -> cuda.Staging (one upload buffer per stream)
        self._lock = threading.Lock()

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.height, self.width)

    @property
    def output_nbytes(self) -> int:
        """Bytes one frame's output takes in a device buffer."""
        return 3 * self.height * self.width * np.dtype(self.dtype).itemsize

    def box(self, frame_w: int, frame_h: int) -> Box:
        """Where a frame of that size lands in the output (map detections back with ``Box.to_frame``)."""
        return output_box(self.mode, frame_w, frame_h, self.width, self.height)

    def check(self, frame: np.ndarray) -> FrameInfo:
        """Validate a host frame for this step's format; DataError with the fix otherwise."""
        return check_frame(frame, self.src_format)

    def reference(self, frame: np.ndarray) -> np.ndarray:
        """The numpy result (what the kernels and the native C path must equal)."""
        return reference.to_tensor(self.spec, frame, self.src_format, self.yuv_matrix)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.run(frame)

    def run(self, frame: np.ndarray) -> np.ndarray:
        """Frame -> (1, 3, H, W) numpy array, on the device this step resolved to."""
        if self._resolve_device() == "cpu":
            return fast.to_tensor(self.spec, frame, self.src_format, self.yuv_matrix)
        return self._run_cuda_to_host(frame)

    def run_into(self, frame, device_ptr, stream=None) -> Box:
        """Write the preprocessed frame into device memory at ``device_ptr`` (``output_nbytes`` bytes) on ``stream``.

        ``frame``: a host numpy array (uploaded through pinned staging memory on the same stream) or a device
        array with ``__cuda_array_interface__`` (read in place). ``device_ptr``: an int, a pycuda allocation or a
        CUDA array; ``stream``: an int CUstream or a pycuda / CuPy / torch stream (None: the legacy default
        stream). Returns at once; the work is ordered on ``stream``. Returns the letterbox ``Box``. Host frames
        use one staging buffer per stream, so threads may share this object if each uses its own stream.
        """
        from . import _driver, cuda

        cuda.loaded_kernels()  # compiles / loads once; makes a context current on this thread
        stream_h = _driver.stream_handle(stream)
        dst = _driver.device_pointer(device_ptr)
        if hasattr(frame, "__cuda_array_interface__"):
            info_, src = cuda.device_frame_info(frame, self.src_format)
        else:
            info_ = self.check(frame)
            with self._lock:
                staging = self._staging.get(stream_h) or self._staging.setdefault(stream_h, cuda.Staging())
            src = staging.upload(frame, cuda.frame_span(info_), stream_h)
        box = self.box(info_.width, info_.height)
        params = make_params(info_, box, self.width, self.height, norm=self.norm, out_order=self.out_order,
                             pad=self.pad, matrix=self.yuv_matrix)
        kernel = NCHW_KERNELS[(self.src_format, self.dtype)]
        cuda.launch(kernel, src, src + info_.uv_offset, dst, params, self.width, self.height, stream_h)
        return box

    def _run_cuda_to_host(self, frame) -> np.ndarray:
        from . import _driver, cuda

        cuda.loaded_kernels()
        drv = _driver.driver()
        out = np.empty(self.output_shape, dtype=self.dtype)
        dst = drv.mem_alloc(self.output_nbytes)
        try:
            self.run_into(frame, dst, None)
            drv.stream_sync(0)
            drv.dtoh(out.ctypes.data, dst, self.output_nbytes)
        finally:
            drv.mem_free(dst)
        return out

    def _resolve_device(self) -> str:
        if self.device == "auto":
            from . import cuda

            try:
                cuda.loaded_kernels()
                self.device = "cuda"
            except JetsonkitError as exc:
                info(f"preprocess: using the CPU (numpy) path: {exc}")
                self.device = "cpu"
        return self.device

    def close(self) -> None:
        """Free the staging buffers (the compiled kernels stay loaded for the process)."""
        with self._lock:
            stagings, self._staging = list(self._staging.values()), {}
        for staging in stagings:
            staging.release()

    def __enter__(self) -> "Preprocess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
