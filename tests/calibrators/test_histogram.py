"""Streaming histogram: exact growth, constant memory, NaN / Inf rejection, per-channel ranges.

Every test here runs twice: on the native C scan and on the numpy reference scan.
"""

import numpy as np
import pytest

from calibrators import ChannelRange, Histogram, HistogramCollector, NonFiniteError, _native


@pytest.fixture(autouse=True, params=["native", "numpy"])
def scan_path(request, monkeypatch):
    monkeypatch.setenv("JETSONKIT_NATIVE", "1" if request.param == "native" else "0")
    if request.param == "native" and _native.scan_function() is None:
        pytest.skip(f"native scan not built here: {_native.status()}")
    return request.param


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


def _reference_counts(batches, width, num_bins=2048):
    """The straightforward histogram at ``width``: floor(|x| / w) in float64, |x| == num_bins * w in the last bin."""
    v = np.abs(np.concatenate([np.asarray(b, np.float32).ravel() for b in batches]).astype(np.float64))
    return np.bincount(np.minimum(np.floor(v / width), num_bins - 1).astype(np.int64), minlength=num_bins)


def _streams(rng):
    """Batch sequences: signed, ReLU-like (>= 0), all <= 0, growing ranges, zeros first, exact bin edges."""
    relu = [np.maximum(rng.normal(0, s, (3, 5000)), 0).astype(np.float32) for s in (0.01, 0.3, 7.0)]
    edges = [np.array([0.0, 0.5, 1.0, -1.0, 0.25], np.float32),  # 1.0 = 2048 * 2^-11: exactly on the top edge
             rng.normal(0, 1, 3000).astype(np.float32),
             np.array([3.0, 4.0, -4.0, 0.0], np.float32)]  # the range grows past the earlier top edge
    return {
        "signed, growing": [rng.normal(0, s, 7000).astype(np.float32) for s in (1e-3, 1.0, 50.0, 2.0)],
        "relu": relu,
        "non-positive": [-r for r in relu],
        "zeros first": [np.zeros(300, np.float32), np.zeros((2, 7), np.float32), rng.normal(0, 1, 4000)],
        "exact edges": edges,
        "huge and tiny": [rng.normal(0, 1e-36, 500), rng.normal(0, 1e20, 500).astype(np.float32)],
        "float64 and ints": [rng.normal(0, 2, 1000), rng.integers(-9, 9, 1000)],
    }


@pytest.mark.parametrize("chunk", [None, 64, 1000])
def test_fast_path_equals_straightforward_reference(rng, monkeypatch, chunk):
    """Fast path (chunks, one-sign shortcut, interleaved bincount, exact widening within and across batches) vs
    a plain float64 floor-and-count at the final width: same counts bin for bin, same zeros, min, max."""
    import calibrators.histogram as histogram

    if chunk:
        monkeypatch.setattr(histogram, "_CHUNK", chunk)  # small chunks: the range also grows inside a batch
    for label, batches in _streams(rng).items():
        h = Histogram()
        for i, b in enumerate(batches):
            h.update(b, batch=i)
        np.testing.assert_array_equal(h.counts, _reference_counts(batches, h.bin_width), err_msg=label)
        flat = np.concatenate([np.asarray(b, np.float32).ravel() for b in batches]).astype(np.float64)
        assert h.zeros == np.count_nonzero(flat == 0), label
        assert (h.minimum, h.maximum, h.count) == (flat.min(), flat.max(), flat.size), label
        s = h.stats()
        assert s["mean"] == pytest.approx(flat.mean(), rel=1e-5, abs=1e-6 * np.abs(flat).max()), label
        assert s["std"] == pytest.approx(flat.std(), rel=1e-5), label


def test_growth_after_a_value_on_the_top_edge_is_exact():
    """|x| == 2048 w sits in the last bin; after the width doubles it belongs to bin 1024, as one pass gives."""
    h = Histogram()
    h.update(np.array([1.0, 0.5], np.float32))  # width 2^-11: 1.0 is exactly the top edge
    assert h.bin_width == 2.0 ** -11 and h.counts[2047] == 1
    h.update(np.array([1.5], np.float32))
    once = Histogram(bin_width=h.bin_width)
    once.update(np.array([1.0, 0.5, 1.5], np.float32))
    np.testing.assert_array_equal(h.counts, once.counts)
    assert h.counts[1024] == 1 and h.counts[1536] == 1


def test_rejected_batch_leaves_histogram_unchanged(rng, monkeypatch):
    import calibrators.histogram as histogram

    monkeypatch.setattr(histogram, "_CHUNK", 100)
    h = Histogram()
    h.update(rng.normal(size=1000))
    before = (h.counts.copy(), h.bin_width, h.count, h.zeros, h.total, h.batches)
    bad = rng.normal(0, 100, 1000)  # would widen the range ...
    bad[700] = np.nan  # ... but a later chunk holds NaN
    with pytest.raises(NonFiniteError, match="batch 3"):
        h.update(bad, batch=3)
    np.testing.assert_array_equal(h.counts, before[0])
    assert (h.bin_width, h.count, h.zeros, h.total, h.batches) == before[1:]
