"""The native C frame path gives the numpy reference's bytes (letterbox / stretch / center crop, colour swap,
normalisation, NCHW / NHWC, float32 / float16 / uint8), and JETSONKIT_NATIVE=0 falls back to numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jetsonkit.preprocess import PreprocessSpec, _native, fast, reference

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def native():
    if _native.function() is None:
        pytest.skip(f"no native path here: {_native.status()}")
    return _native.function()


CASES = list(itertools.product(["letterbox", "stretch", "center_crop"], ["rgb", "bgr"], ["NCHW", "NHWC"],
                               ["float32", "float16", "uint8"]))


@pytest.mark.parametrize("resize,color,layout,dtype", CASES)
def test_native_bytes_equal_numpy(native, resize, color, layout, dtype):
    rng = np.random.default_rng(len(resize) * 7 + len(dtype))
    norm = {} if dtype == "uint8" else {"mean": MEAN, "std": STD}
    spec = PreprocessSpec(size=(48, 64), resize=resize, color=color, layout=layout, dtype=dtype, crop=0.875,
                          pad=114, **norm)
    for h, w, fmt in [(37, 91, "bgr"), (120, 33, "rgb"), (48, 64, "bgr"), (5, 7, "rgb")]:
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        got, want = fast.to_tensor(spec, frame, fmt), reference.to_tensor(spec, frame, fmt)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes(), f"{h}x{w} {fmt}"


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_pitched_frame_and_float16_extremes(native):
    rng = np.random.default_rng(3)
    wide = rng.integers(0, 256, (60, 200, 3), dtype=np.uint8)
    frame = wide[:, 20:150]  # rows pitched (a view of a wider buffer)
    spec = PreprocessSpec(size=(32, 32), resize="letterbox", scale=300.0, mean=(0, 10, -5), std=(1e-3, 1, 2),
                          dtype="float16")  # values far outside float16's range: inf, and tiny subnormals
    assert fast.to_tensor(spec, frame, "bgr").tobytes() == reference.to_tensor(spec, frame, "bgr").tobytes()
    tiny = PreprocessSpec(size=(16, 16), scale=1e-7, dtype="float16")
    assert fast.to_tensor(tiny, frame, "rgb").tobytes() == reference.to_tensor(tiny, frame, "rgb").tobytes()


def test_native_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("JETSONKIT_NATIVE", "0")
    assert _native.function() is None and fast.backend() == "numpy (JETSONKIT_NATIVE=0)"
    frame = np.zeros((10, 10, 3), np.uint8)
    spec = PreprocessSpec(size=(8, 8))
    assert fast.to_tensor(spec, frame).tobytes() == reference.to_tensor(spec, frame).tobytes()
