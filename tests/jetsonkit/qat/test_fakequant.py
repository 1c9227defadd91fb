"""The torch fake quantizer against the shared numpy arithmetic (calibrators.fake_quantize) and its gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import calibrators  # noqa: E402
from jetsonkit.qat.fakequant import ActivationQuantizer, WeightQuantizer, fake_quant, max_scales  # noqa: E402


def test_activation_matches_numpy_arithmetic_including_ties(rng):
    amax = 3.0
    s = np.float32(amax / 127)
    ties = (np.arange(-140, 140) + 0.5).astype(np.float32) * s  # exact halves: round half to even decides
    x = np.concatenate([rng.normal(0, 2, 5000).astype(np.float32), ties, [1e6, -1e6]]).astype(np.float32)
    got = ActivationQuantizer("t", amax)(torch.from_numpy(x)).numpy()
    want = calibrators.fake_quantize(x, amax)
    np.testing.assert_array_equal(got, want)
    assert got.min() == pytest.approx(-128 * s) and got.max() == pytest.approx(127 * s)


def test_weight_per_channel_matches_numpy_and_narrow_range(rng):
    w = rng.normal(0, 0.1, (8, 4, 3, 3)).astype(np.float32)
    w[3] = 0.0  # an all-zero channel: scale 1, codes 0
    q = WeightQuantizer(torch.from_numpy(w), axis=0)
    got = q(torch.from_numpy(w)).numpy()
    amax = calibrators.channel_amax(w, 0)
    want = calibrators.fake_quantize(w, amax, axis=0, narrow=True)
    np.testing.assert_array_equal(got, want)
    scales = q.scales(torch.from_numpy(w)).numpy()
    assert scales[3] == 1.0 and np.all(np.abs(got / scales.reshape(-1, 1, 1, 1)) <= 127 + 1e-4)


def test_straight_through_gradient_is_one_inside_and_zero_outside():
    x = torch.tensor([-200.0, -1.3, 0.2, 0.77, 300.0], requires_grad=True)
    fake_quant(x, torch.tensor(1.0), narrow=False).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_learned_scale_gradient_is_lsq_step_gradient_in_log2():
    q = ActivationQuantizer("t", amax=127.0, learn_scale=True)  # scale 1
    x = torch.tensor([0.3, -0.6, 500.0, -500.0])
    q(x).sum().backward()
    # d/ds of round(clamp(x/s))*s: round(v) - v inside, the clamp bound outside; times ds/dlog2 = s ln 2
    expected = ((0 - 0.3) + (-1 + 0.6) + 127 + (-128)) * math.log(2)
    assert float(q.log2_scale.grad) == pytest.approx(expected, rel=1e-5)


def test_bad_amax_is_refused():
    with pytest.raises(ValueError, match="positive finite"):
        ActivationQuantizer("t", 0.0)
    assert max_scales(torch.zeros(2, 3), 0).tolist() == [1.0, 1.0]
