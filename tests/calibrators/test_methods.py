"""Range methods on cases whose answer is known, and the entropy search against a brute-force reference."""

import numpy as np
import pytest

from calibrators import (METHODS, Histogram, HistogramCollector, UnknownMethodError, compute_amax, kl_divergences,
                         merge_and_expand)


def test_gtc_slide_merge_example():
    np.testing.assert_array_equal(merge_and_expand([1, 0, 2, 3, 5, 3, 1, 7], 2), [2, 0, 2, 2, 4, 4, 4, 4])


def _kl_brute(b, i, levels=128):
    """The GTC 2017 slide's loop body, written out for one candidate."""
    p = b[:i].astype(float).copy()
    p[i - 1] += b[i:].sum()
    # Q: the un-folded bins merged into levels, spread over the bins where P is non-zero
    level = (np.arange(i) * levels) // i
    sums = np.bincount(level, weights=b[:i], minlength=levels)
    nonzero = np.bincount(level, weights=(p != 0), minlength=levels)
    q = np.where(p != 0, sums[level] / np.maximum(nonzero[level], 1), 0.0)
    p, q = p / p.sum(), q / q.sum()
    m = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[m] * np.log(p[m] / q[m])))


def test_vectorised_kl_matches_the_slide_loop(rng):
    b = rng.integers(0, 50, 700).astype(float)
    b[rng.integers(0, 700, 60)] = 0
    b[500:520] = 0  # a whole empty level for some candidates: P > 0 where Q = 0 (KL = inf)
    kl = kl_divergences(b)
    assert np.isinf(kl).any() and np.isfinite(kl).sum() > 400
    for i in range(128, 700, 7):
        assert kl[i - 128] == pytest.approx(_kl_brute(b, i), rel=1e-9, abs=1e-12), i


def test_uniform_keeps_nearly_the_whole_range(rng):
    h = Histogram.of(rng.uniform(-1, 1, 200_000))
    for method in METHODS:
        assert 0.97 <= compute_amax(h, method) <= 1.0, method


def test_gaussian_with_outliers_entropy_clips_minmax_does_not(rng):
    x = np.concatenate([rng.normal(0, 1, 200_000), [40.0, -35.0, 38.0]])
    h = Histogram.of(x)
    assert compute_amax(h, "minmax") == pytest.approx(40.0)
    ent = compute_amax(h, "entropy")
    assert 2.5 < ent < 8.0
    assert 3.0 < compute_amax(h, "percentile") < 6.0


def test_single_outlier_at_50_sigma(rng):
    x = rng.normal(0, 1, 100_000)
    x[123] = 50.0
    h = Histogram.of(x)
    assert compute_amax(h, "minmax") == pytest.approx(50.0)
    assert 3.0 < compute_amax(h, "entropy") < 6.0  # the lone value does not set the range
    assert 3.0 < compute_amax(h, "percentile") < 6.0


def test_single_huge_outlier_only_percentile_clips(rng):
    """Known limit of a 2048-bin histogram: at 10,000 sigma the whole bulk falls in bin 0, so no 128-level
    candidate can hold it and the entropy search keeps the outlier (TensorRT's algorithm does the same)."""
    x = rng.normal(0, 1, 100_000)
    x[123] = 1e4
    h = Histogram.of(x)
    assert h.used_bins > 1000 and h.counts[0] > 99_000
    assert compute_amax(h, "minmax") == pytest.approx(1e4)
    assert compute_amax(h, "entropy") > 9000
    assert compute_amax(h, "percentile") <= 2 * h.bin_width


def test_all_zero_gives_zero_for_every_method():
    h = Histogram.of(np.zeros((4, 16)))
    assert all(compute_amax(h, m) == 0.0 for m in METHODS)


@pytest.mark.parametrize("value", [0.37, -5.0, 3.0])
def test_constant_tensor_keeps_its_value(value):
    h = Histogram.of(np.full(1000, value))
    for method in METHODS:
        assert compute_amax(h, method) == pytest.approx(abs(value), rel=2e-3), method


def test_no_method_exceeds_observed_max(rng):
    h = Histogram.of(rng.exponential(1.0, 50_000))
    for method in METHODS:
        assert compute_amax(h, method) <= h.absmax


def test_collector_returns_per_tensor(rng):
    c = HistogramCollector()
    c.update("a", rng.normal(size=1000))
    c.update("b", rng.normal(size=1000) * 10)
    amax = compute_amax(c, "minmax")
    assert set(amax) == {"a", "b"} and amax["b"] > amax["a"]


def test_unknown_method():
    with pytest.raises(UnknownMethodError, match="'kl'.*entropy, percentile, mse, minmax"):
        compute_amax(Histogram(), "kl")


def test_percentile_option(rng):
    h = Histogram.of(rng.uniform(0, 1, 100_000))
    assert compute_amax(h, "percentile", percentile=50.0) == pytest.approx(0.5, abs=0.01)


def test_background_spike_does_not_set_the_entropy_range(rng):
    """A normalised image: 80 % background at -0.42, strokes up to 2.8 (the MNIST example's input)."""
    x = np.where(rng.random(200_000) < 0.8, -0.4242, rng.uniform(-0.4242, 2.8215, 200_000))
    h = Histogram.of(x)
    assert compute_amax(h, "entropy", spike_fraction=None) < 0.5  # TensorRT's algorithm as published
    assert compute_amax(h, "entropy") > 2.5


def test_flatten_spikes_lowers_only_dominant_bins():
    from calibrators import flatten_spikes

    b = np.array([5.0, 6.0, 1000.0, 4.0, 3.0])
    np.testing.assert_array_equal(flatten_spikes(b, 0.5), [5, 6, 6, 4, 3])
    np.testing.assert_array_equal(flatten_spikes(b, 0.999), b)
