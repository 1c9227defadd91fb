"""jetsonkit.data batches on their own: splitting, conversions, image layouts (no model run)."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.data import DataSpec, InputInfo, check_batch
from jetsonkit.errors import DataError
from jetsonkit.preprocess import PreprocessSpec

NCHW = [InputInfo("x", (None, 3, 8, 6), np.dtype(np.float32))]
NHWC = [InputInfo("x", (None, 8, 6, 3), np.dtype(np.float32))]


def test_arrays_are_split_into_batches_with_the_input_name():
    stream = DataSpec.parse(np.zeros((10, 3, 8, 6), np.float64)).batches(NCHW, batch_size=4)
    batches = list(stream)
    assert stream.total == 10 and [len(b["x"]) for b in batches] == [4, 4, 2]
    assert batches[0]["x"].dtype == np.float32  # float64 data is converted for a float32 input


def test_dict_with_unequal_lengths_and_missing_input():
    with pytest.raises(DataError, match="different numbers of samples"):
        DataSpec.parse({"x": np.zeros((3, 1)), "y": np.zeros((4, 1))}).batches(NCHW)
    with pytest.raises(DataError, match="no data for model input 'x'"):
        check_batch({"other": np.zeros((1, 3, 8, 6))}, NCHW, 0)


def test_unsupported_source_type():
    with pytest.raises(DataError, match="type int is not supported"):
        DataSpec.parse(42)


@pytest.mark.parametrize("inputs, layout_shape", [(NCHW, (2, 3, 8, 6)), (NHWC, (2, 8, 6, 3))])
def test_image_folder_layouts_and_normalisation(tmp_path, inputs, layout_shape):
    from PIL import Image

    for i, value in enumerate((0, 255)):
        Image.fromarray(np.full((30, 20, 3), value, np.uint8)).save(tmp_path / f"{i}.png")
    layout = "NHWC" if inputs is NHWC else "NCHW"
    spec = PreprocessSpec(mean=(0.5,), std=(0.5,), layout=layout)
    stream = DataSpec.parse(tmp_path, preprocess=spec).batches(inputs, batch_size=8)
    (batch,) = list(stream)
    x = batch["x"]
    assert x.shape == layout_shape and x.dtype == np.float32
    np.testing.assert_allclose(x[0], -1.0) and np.testing.assert_allclose(x[1], 1.0)


def test_image_folder_needs_image_channels(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a.png")
    bad = [InputInfo("x", (None, 5, 4, 4), np.dtype(np.float32))]
    with pytest.raises(DataError, match="5 channels"):
        list(DataSpec.parse(tmp_path).batches(bad))


B4 = [InputInfo("x", (4, 3, 8, 6), np.dtype(np.float32))]


def test_static_batch_splits_arrays_and_rebatches_iterables(capsys):
    x = np.arange(10 * 3 * 8 * 6, dtype=np.float32).reshape(10, 3, 8, 6)
    stream = DataSpec.parse(x).batches(B4)
    got = list(stream)
    assert stream.total == 8 and [len(b["x"]) for b in got] == [4, 4]
    assert np.array_equal(np.concatenate([b["x"] for b in got]), x[:8])
    assert "last 2 samples do not fill a batch of 4" in capsys.readouterr().err
    uneven = list(DataSpec.parse(lambda: [x[:3], x[3:8], x[8:]]).batches(B4))  # 3 + 5 + 2 -> 4 + 4 (+ 2 left)
    assert [len(b["x"]) for b in uneven] == [4, 4]
    assert np.array_equal(np.concatenate([b["x"] for b in uneven]), x[:8])
    dynamic = list(DataSpec.parse(lambda: [x[:3], x[3:8], x[8:]]).batches(NCHW))  # a dynamic axis takes them as given
    assert [len(b["x"]) for b in dynamic] == [3, 5, 2]


def test_max_samples_and_too_few_for_a_static_batch():
    x = np.zeros((10, 3, 8, 6), np.float32)
    stream = DataSpec.parse(x).batches(NCHW, batch_size=4, max_samples=6)
    assert stream.total == 6 and [len(b["x"]) for b in stream] == [4, 2]
    with pytest.raises(DataError, match="has 3 samples, fewer than the model's static batch size 4"):
        DataSpec.parse(x[:3]).batches(B4)
    with pytest.raises(DataError, match="has 3 samples, fewer than the model's static batch size 4"):
        list(DataSpec.parse(iter([x[:3]])).batches(B4))


def test_npy_is_memory_mapped_and_npz_picks_arrays_by_name(tmp_path):
    x = np.random.default_rng(0).normal(size=(5, 3, 8, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    got, y = DataSpec.parse(tmp_path / "x.npy").load_xy()
    assert isinstance(got, np.memmap) and np.array_equal(got, x) and y is None
    np.savez(tmp_path / "named.npz", other=np.zeros(3), x=x, y=np.arange(5))
    (batch,) = list(DataSpec.parse(tmp_path / "named.npz").batches(NCHW, batch_size=8))
    assert np.array_equal(batch["x"], x)
    np.savez(tmp_path / "one.npz", images=x)  # one array, not y: the input
    assert np.array_equal(DataSpec.parse(tmp_path / "one.npz").load_xy()[0], x)
    np.savez(tmp_path / "xy_only_y.npz", images=x, y=np.arange(5))  # never y as x
    with pytest.raises(DataError, match=r"has arrays \['images', 'y'\], no input data named x"):
        DataSpec.parse(tmp_path / "xy_only_y.npz").load_xy()


def test_a_scalar_array_is_bad_data_not_a_crash(tmp_path):
    """Found by the parser fuzzing: ``np.savez(p, x=np.array(1.5))`` raised TypeError (exit 3)."""
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array(1.5))
    with pytest.raises(DataError, match="single value, not samples"):
        DataSpec.parse(str(path)).load_xy()
