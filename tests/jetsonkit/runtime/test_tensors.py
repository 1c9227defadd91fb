"""The input check every backend shares, and backend selection: pure Python, no model needed."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import InputSpecError, UsageError
from jetsonkit.runtime import TensorInfo, backend_for, check_feed, concrete_shape

IMG = TensorInfo("input", ("batch", 1, 28, 28), np.dtype(np.float32))
PROFILED = TensorInfo("images", ("?", 3, 64, 64), np.dtype(np.float16), min_shape=(1, 3, 64, 64),
                      max_shape=(8, 3, 64, 64))


def test_single_array_fills_the_only_input():
    x = np.zeros((4, 1, 28, 28), np.float32)
    out = check_feed("m.onnx", x, [IMG])
    assert list(out) == ["input"] and out["input"].shape == (4, 1, 28, 28)


def test_non_contiguous_input_is_made_contiguous():
    x = np.zeros((1, 28, 28, 2), np.float32)[..., :1].transpose(0, 3, 1, 2)
    assert not x.flags.c_contiguous
    assert check_feed("m", x, [IMG])["input"].flags.c_contiguous


def test_single_array_is_ambiguous_for_two_inputs():
    with pytest.raises(InputSpecError, match="2 inputs .*dict"):
        check_feed("m", np.zeros(1), [IMG, PROFILED])


def test_missing_and_unknown_names_in_one_message():
    with pytest.raises(InputSpecError) as err:
        check_feed("m.onnx", {"inptu": np.zeros((1, 1, 28, 28), np.float32)}, [IMG])
    msg = str(err.value)
    assert "missing 'input'" in msg and "unknown 'inptu'" in msg and "input:batchx1x28x28:float32" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.float16])
def test_wrong_dtype_names_the_fix(dtype):
    with pytest.raises(InputSpecError, match=r"dtype .* expects float32 .*astype\(np.float32\)"):
        check_feed("m", np.zeros((1, 1, 28, 28), dtype), [IMG])


def test_not_an_array():
    with pytest.raises(InputSpecError, match="is a list"):
        check_feed("m", [[0.0]], [IMG])


@pytest.mark.parametrize("shape,what", [((1, 28, 28), "rank 4"), ((1, 3, 28, 28), "axis 1 must be 1"),
                                        ((2, 1, 28, 27), "axis 3 must be 28")])
def test_wrong_shape(shape, what):
    with pytest.raises(InputSpecError, match=what):
        check_feed("m", np.zeros(shape, np.float32), [IMG])


def test_dynamic_dim_accepts_any_size():
    for n in (1, 7, 300):
        check_feed("m", np.zeros((n, 1, 28, 28), np.float32), [IMG])


def test_shape_outside_profile():
    check_feed("e.engine", np.zeros((8, 3, 64, 64), np.float16), [PROFILED])
    with pytest.raises(InputSpecError, match=r"outside the engine's optimization profile \(min \[1, 3, 64, 64\], "
                                             r"max \[8, 3, 64, 64\]\)"):
        check_feed("e.engine", np.zeros((9, 3, 64, 64), np.float16), [PROFILED])


def test_concrete_shape_uses_fill_and_profile_minimum():
    assert concrete_shape(IMG, fill=4) == (4, 1, 28, 28)
    raised = TensorInfo("x", ("?", 3), np.dtype(np.float32), min_shape=(2, 3), max_shape=(4, 3))
    assert concrete_shape(raised) == (2, 3)


@pytest.mark.parametrize("name,backend", [("a.onnx", "onnxruntime"), ("b.TFLITE", "litert"),
                                          ("c.engine", "tensorrt"), ("d.plan", "tensorrt")])
def test_backend_from_suffix(name, backend):
    assert backend_for(name) == backend


def test_backend_errors():
    with pytest.raises(UsageError, match="cannot tell the backend .*'.pt'"):
        backend_for("model.pt")
    with pytest.raises(UsageError, match="unknown backend 'tvm'"):
        backend_for("model.onnx", backend="tvm")
    assert backend_for("model.bin", backend="litert") == "litert"


def test_tensor_info_to_dict():
    d = PROFILED.to_dict()
    assert d == {"name": "images", "shape": ["?", 3, 64, 64], "dtype": "float16", "min_shape": [1, 3, 64, 64],
                 "max_shape": [8, 3, 64, 64]}
