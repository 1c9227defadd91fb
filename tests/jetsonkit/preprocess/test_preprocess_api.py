"""Preprocess on the CPU: validation before launch (one-line errors with the fix), options, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from jetsonkit.errors import ConfigError, DataError, UnsupportedError
from jetsonkit.preprocess import Preprocess, check_frame
from jetsonkit.preprocess import reference as ref
from jetsonkit.preprocess import spec


@pytest.mark.parametrize("fmt,frame,needle", [
    ("nv12", np.zeros((61, 44), np.uint8), "not a multiple of 3"),
    ("nv12", np.zeros((7, 44), np.uint8), "not a multiple of 3"),  # H = 5: an odd height cannot be whole rows
    ("nv12", np.zeros((48, 45), np.uint8), "odd"),
    ("yuyv", np.zeros((10, 7, 2), np.uint8), "width 7 is odd"),
    ("rgb", np.zeros((10, 7, 4), np.uint8), "expected (H, W, 3)"),
    ("rgb", np.zeros((10, 7, 3), np.float32), "dtype float32"),
    ("bgr", np.zeros((0, 7, 3), np.uint8), "empty"),
    ("rgb", np.zeros((10, 7, 3), np.uint8)[:, ::-1], "strides"),
    ("rgb", np.zeros((10, 7, 3), np.uint8)[::-1], "pitch"),
    ("rgb", np.zeros((3, 10, 7), np.uint8).transpose(1, 2, 0), "strides"),
    ("rgb", [[1, 2, 3]], "not a numpy array"),
])
def test_bad_frames_fail_before_launch_with_one_line(fmt, frame, needle):
    with pytest.raises((DataError, ConfigError)) as err:
        check_frame(frame, fmt)
    assert needle in str(err.value) and "\n" not in str(err.value)
    with pytest.raises((DataError, ConfigError)):
        Preprocess(32, src_format=fmt, device="cpu")(frame)


def test_unsupported_format_and_options():
    with pytest.raises(ConfigError, match="unsupported frame format 'i420'"):
        check_frame(np.zeros((6, 4), np.uint8), "i420")
    for kwargs, needle in [({"src_format": "rgba"}, "src_format"), ({"dtype": "int8"}, "dtype"),
                           ({"mode": "crop"}, "mode"), ({"pad": 300}, "pad"), ({"std": (1, 0, 1)}, "zero std"),
                           ({"mean": (1, 2)}, "mean has 2 values"), ({"yuv_matrix": "bt2020"}, "yuv_matrix"),
                           ({"device": "tpu"}, "device")]:
        with pytest.raises(ConfigError, match=needle):
            Preprocess(64, **kwargs)
    with pytest.raises(ConfigError, match="output size"):
        Preprocess((0, 64))


def test_cpu_path_is_the_reference_and_reports_geometry(rng):
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    pre = Preprocess((384, 640), src_format="bgr", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     dtype="float16", device="cpu")
    out = pre(frame)
    assert out.shape == pre.output_shape == (1, 3, 384, 640) and out.dtype == np.float16
    assert pre.output_nbytes == out.nbytes
    box = pre.box(1280, 720)
    assert box == spec.Box(0, 12, 640, 360)
    norm = spec.norm_spec(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    resized = ref.place_in_box(frame[..., ::-1], box, 640, 384, pad=114)  # BGR frame -> RGB, letterboxed
    want = ref.normalize_nchw(resized, norm, "float16")
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(pre.reference(frame), want)
    pad = np.float16((114 / 255 - 0.485) / 0.229)
    assert abs(float(out[0, 0, 0, 0]) - float(pad)) < 1e-2  # the letterbox rows hold the normalised pad value


def test_auto_device_falls_back_to_cpu_without_a_driver(rng):
    from jetsonkit.preprocess import _driver

    try:
        _driver.driver()
        pytest.skip("a CUDA driver is present here; the fallback is only observable without one")
    except UnsupportedError:
        pass
    pre = Preprocess(16, src_format="rgb")
    pre(rng.integers(0, 256, (9, 9, 3), dtype=np.uint8))
    assert pre.device == "cpu"
    with pytest.raises(UnsupportedError, match="no NVIDIA GPU driver"):
        Preprocess(16, device="cuda")(np.zeros((4, 4, 3), np.uint8))


def test_import_needs_numpy_only():
    code = ("import sys, jetsonkit; p = jetsonkit.Preprocess(8, device='cpu'); "
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'cupy', 'pycuda') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_handles_from_pycuda_cupy_torch_shaped_objects():
    """Our own plumbing only: how stream / pointer handles are read (no CUDA involved)."""
    from types import SimpleNamespace

    from jetsonkit.errors import BackendError
    from jetsonkit.preprocess import _driver

    assert _driver.stream_handle(None) == 0 and _driver.stream_handle(77) == 77
    assert _driver.stream_handle(SimpleNamespace(handle=5)) == 5  # pycuda.driver.Stream
    assert _driver.stream_handle(SimpleNamespace(ptr=6)) == 6  # cupy.cuda.Stream
    assert _driver.stream_handle(SimpleNamespace(cuda_stream=7)) == 7  # torch.cuda.Stream
    with pytest.raises(BackendError, match="stream handle"):
        _driver.stream_handle("default")
    assert _driver.device_pointer(SimpleNamespace(__cuda_array_interface__={"data": (4096, False)})) == 4096

    class Allocation:  # pycuda.driver.DeviceAllocation converts with int()
        def __int__(self):
            return 8192

    assert _driver.device_pointer(Allocation()) == 8192
    with pytest.raises(BackendError, match="device pointer"):
        _driver.device_pointer(np.zeros(3))
    with pytest.raises(BackendError, match="not a device address"):
        _driver.device_pointer(0)


@pytest.mark.parametrize("fmt,shape,strides,span,uv", [
    ("rgb", (4, 5, 3), (16, 3, 1), 3 * 16 + 15, 0),
    ("yuyv", (3, 6, 2), (12, 2, 1), 2 * 12 + 12, 0),
    ("nv12", (6, 8), (10, 1), 4 * 10 + 10 + 8, 40),  # Y rows 0..3, UV rows 4..5 at pitch 10
])
def test_device_frame_layout_and_upload_span(fmt, shape, strides, span, uv):
    from types import SimpleNamespace

    from jetsonkit.preprocess import cuda

    frame = SimpleNamespace(__cuda_array_interface__={"shape": shape, "strides": strides, "typestr": "|u1",
                                                      "data": (1 << 20, False), "version": 3})
    info, ptr = cuda.device_frame_info(frame, fmt)
    assert ptr == 1 << 20 and info.pitch == strides[0] and info.uv_offset == uv
    assert cuda.frame_span(info) == span
    bad = SimpleNamespace(__cuda_array_interface__={"shape": shape, "strides": None, "typestr": "<f4",
                                                    "data": (1, False), "version": 3})
    with pytest.raises(DataError, match="dtype float32"):
        cuda.device_frame_info(bad, fmt)
