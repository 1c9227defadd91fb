"""Streaming histogram: exact growth, constant memory, NaN / Inf rejection, per-channel ranges."""

import numpy as np
import pytest

from calibrators import ChannelRange, Histogram, HistogramCollector, NonFiniteError


def test_growth_by_merging_equals_one_pass(rng):
    small = rng.normal(0, 0.01, 10_000).astype(np.float32)
    big = rng.normal(0, 5.0, 10_000).astype(np.float32)
    streamed = Histogram()
    streamed.update(small)
    width_before = streamed.bin_width
    streamed.update(big)
    assert streamed.bin_width > width_before * 100  # it grew by merging pairs many times
    at_once = Histogram(bin_width=streamed.bin_width)
    at_once.update(np.concatenate([small, big]))
    np.testing.assert_array_equal(streamed.counts, at_once.counts)
    assert streamed.counts.sum() == 20_000


def test_width_is_power_of_two_and_max_in_upper_half(rng):
    h = Histogram.of(rng.uniform(-3, 3, 5000))
    mantissa, _ = np.frexp(h.bin_width)
    assert mantissa == 0.5
    assert h.num_bins // 2 < h.used_bins <= h.num_bins


def test_memory_constant_in_samples(rng):
    c = HistogramCollector()
    c.update("t", rng.normal(size=(8, 100)))
    before = c.nbytes()
    for i in range(20):
        c.update("t", rng.normal(size=(8, 100)) * (i + 1), batch=i)
    assert c.nbytes() == before == 2048 * 8
    assert c["t"].samples == 8 * 21


def test_zeros_before_first_nonzero_are_kept():
    h = Histogram()
    h.update(np.zeros(100))
    assert h.bin_width is None
    h.update(np.array([0.0, 1.0]))
    assert h.counts[0] == 101 and h.counts.sum() == 102
    assert h.stats()["zero_fraction"] == pytest.approx(101 / 102)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_names_tensor_and_batch(bad):
    c = HistogramCollector()
    x = np.ones((2, 3), np.float32)
    x[1, 2] = bad
    with pytest.raises(NonFiniteError, match=r"'conv1_out'.*batch 7") as info:
        c.update("conv1_out", x, batch=7)
    assert info.value.tensor == "conv1_out" and info.value.batch == 7
    assert isinstance(info.value, ValueError)


def test_stats_are_exact(rng):
    x = rng.normal(2.0, 3.0, 4000)
    h = Histogram()
    for part in np.split(x, 4):
        h.update(part)
    s = h.stats()
    assert s["mean"] == pytest.approx(x.mean()) and s["std"] == pytest.approx(x.std())
    assert s["min"] == pytest.approx(x.min()) and s["absmax"] == pytest.approx(np.abs(x).max())


def test_channel_range_streams_per_channel_minmax(rng):
    w = rng.normal(size=(4, 3, 3, 3))
    cr = ChannelRange(axis=0)
    cr.update(w[:, :2])
    cr.update(w[:, 2:])
    np.testing.assert_allclose(cr.amax(), np.abs(w).reshape(4, -1).max(axis=1))
    with pytest.raises(ValueError, match="channels"):
        cr.update(np.ones((5, 3)))
