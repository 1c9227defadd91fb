"""fake_quantize: round half to even, clamp ranges, per-channel scales."""

import numpy as np
import pytest

from calibrators import channel_amax, fake_quantize, int8_scale, quantize_int8


def test_round_half_to_even():
    # amax 127 -> scale 1: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2
    q, scale = quantize_int8(np.array([0.5, 1.5, 2.5, -0.5, -1.5]), 127.0)
    assert scale == 1.0
    np.testing.assert_array_equal(q, [0, 2, 2, 0, -2])


def test_clamp_activations_and_weights():
    x = np.array([-1000.0, 1000.0])
    np.testing.assert_array_equal(quantize_int8(x, 127.0)[0], [-128, 127])
    np.testing.assert_array_equal(quantize_int8(x, 127.0, narrow=True)[0], [-127, 127])


def test_per_channel_axis(rng):
    w = rng.normal(size=(3, 4, 2, 2)).astype(np.float32)
    amax = channel_amax(w, axis=0)
    fq = fake_quantize(w, amax, axis=0, narrow=True)
    step = (amax / 127)[:, None, None, None]
    assert np.all(np.abs(fq - w) <= step / 2 + 1e-7)
    with pytest.raises(ValueError, match="3 values but axis 1 has 4"):
        fake_quantize(w, amax, axis=1)


def test_zero_amax_gives_zeros():
    np.testing.assert_array_equal(fake_quantize(np.array([1.0, -2.0]), 0.0), [0.0, 0.0])


def test_scale_is_float32_amax_over_127():
    assert int8_scale(0.9963) == np.float32(0.9963 / 127)
    with pytest.raises(ValueError):
        int8_scale(-1.0)
