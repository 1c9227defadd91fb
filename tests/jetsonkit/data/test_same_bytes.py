"""Image-folder calibration sees the bytes the runtime's camera path feeds: the same function, the same tensor."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.calibrate import calibrate
from jetsonkit.data import DataSpec, InputInfo
from jetsonkit.preprocess import Preprocess, PreprocessSpec
from jetsonkit.preprocess import metadata as pmeta

from .conftest import tiny_onnx, write_png

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture
def folder_and_frames(tmp_path):
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (37 + 4 * i, 53 - 3 * i, 3), dtype=np.uint8) for i in range(6)]
    for i, rgb in enumerate(frames):
        write_png(tmp_path / "imgs" / f"{i}.png", rgb)  # lossless: the decoded pixels are these
    return tmp_path / "imgs", frames


def _runtime(frames, mode="letterbox"):
    """The runtime's frame path: BGR camera frames through Preprocess on the CPU."""
    pre = Preprocess((8, 8), src_format="bgr", out_order="rgb", mode=mode, mean=MEAN, std=STD, pad=114, device="cpu")
    return np.concatenate([pre(np.ascontiguousarray(f[..., ::-1])) for f in frames])


@pytest.mark.parametrize("resize,mode", [("letterbox", "letterbox"), ("stretch", "resize")])
def test_image_folder_tensor_equals_the_runtime_frame_path(folder_and_frames, resize, mode):
    folder, frames = folder_and_frames
    spec = PreprocessSpec(resize=resize, mean=MEAN, std=STD, pad=114)  # size: read off the model input
    inputs = [InputInfo("x", (None, 3, 8, 8), np.dtype(np.float32))]
    got = np.concatenate([b["x"] for b in DataSpec.parse(folder, preprocess=spec).batches(inputs, batch_size=4)])
    assert got.tobytes() == _runtime(frames, mode).tobytes()


def test_calibration_uses_the_spec_stored_in_the_model(tmp_path, folder_and_frames):
    onnx = pytest.importorskip("onnx")
    folder, frames = folder_and_frames
    path = tiny_onnx(tmp_path / "m.onnx", 1)
    model = onnx.load(str(path))
    pmeta.set_onnx(model, PreprocessSpec(resize="letterbox", mean=MEAN, std=STD, pad=114))
    onnx.save(model, str(path))
    from_folder = calibrate(path, folder, "minmax").amaxes()
    from_runtime = calibrate(path, _runtime(frames), "minmax").amaxes()
    stretched = calibrate(path, _runtime(frames, "resize"), "minmax").amaxes()
    assert from_folder == from_runtime and from_folder["x"] != stretched["x"]
