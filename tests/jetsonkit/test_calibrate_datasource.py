"""jetsonkit.datasource on its own: batching, conversions, image layouts (no model run)."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.datasource import ImageOptions, InputInfo, check_batch, open_data
from jetsonkit.errors import DataError

NCHW = [InputInfo("x", (None, 3, 8, 6), np.dtype(np.float32))]
NHWC = [InputInfo("x", (None, 8, 6, 3), np.dtype(np.float32))]


def test_arrays_are_split_into_batches_with_the_input_name():
    stream = open_data(np.zeros((10, 3, 8, 6), np.float64), NCHW, batch_size=4)
    batches = [check_batch(b, NCHW, i) for i, b in enumerate(stream)]
    assert stream.total == 10 and [len(b["x"]) for b in batches] == [4, 4, 2]
    assert batches[0]["x"].dtype == np.float32  # float64 data is converted for a float32 input


def test_dict_with_unequal_lengths_and_missing_input():
    with pytest.raises(DataError, match="different numbers of samples"):
        open_data({"x": np.zeros((3, 1)), "y": np.zeros((4, 1))}, NCHW)
    with pytest.raises(DataError, match="no data for model input 'x'"):
        check_batch({"other": np.zeros((1, 3, 8, 6))}, NCHW, 0)


def test_unsupported_source_type():
    with pytest.raises(DataError, match="type int is not supported"):
        open_data(42, NCHW)


@pytest.mark.parametrize("inputs, layout_shape", [(NCHW, (2, 3, 8, 6)), (NHWC, (2, 8, 6, 3))])
def test_image_folder_layouts_and_normalisation(tmp_path, inputs, layout_shape):
    from PIL import Image

    for i, value in enumerate((0, 255)):
        Image.fromarray(np.full((30, 20, 3), value, np.uint8)).save(tmp_path / f"{i}.png")
    stream = open_data(tmp_path, inputs, batch_size=8, image_options=ImageOptions(mean=(0.5,), std=(0.5,)))
    (batch,) = list(stream)
    x = batch["x"]
    assert x.shape == layout_shape and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -1.0) and np.testing.assert_allclose(x[1], 1.0)


def test_image_folder_needs_image_channels(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    bad = [InputInfo("x", (None, 5, 4, 4), np.dtype(np.float32))]
    with pytest.raises(DataError, match="5 channels"):
        open_data(tmp_path, bad)
