"""2:4 masks, pattern checks and the eligibility rules (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.sparsity.eligibility import shape_reason
from jetsonkit.sparsity.masks import bad_group_fraction, holds_2to4, mask_2to4, retained_magnitude, zero_fraction


def test_mask_keeps_two_largest_magnitudes_per_group():
    w = np.array([[0.1, -3.0, 2.0, 0.5, 4.0, 4.0, -4.0, 1.0]])
    assert mask_2to4(w).tolist() == [[False, True, True, False, True, True, False, False]]  # tie: lower index


def test_conv_mask_runs_along_input_channels_for_every_position(rng):
    w = rng.standard_normal((8, 16, 3, 3))
    mask = mask_2to4(w, axis=1)
    groups = np.moveaxis(w, 1, -1).reshape(8, 3, 3, 4, 4)
    kept = np.moveaxis(mask, 1, -1).reshape(8, 3, 3, 4, 4)
    assert (kept.sum(-1) == 2).all()
    top2 = np.sort(np.abs(groups), axis=-1)[..., 2:].sum(-1)
    assert np.allclose((np.abs(groups) * kept).sum(-1), top2)
    assert holds_2to4(w * mask, axis=1) and not holds_2to4(w, axis=1)
    assert zero_fraction(w * mask) == 0.5


def test_bad_groups_and_retained_magnitude():
    w = np.array([[1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]])
    assert bad_group_fraction(w) == 0.5
    assert retained_magnitude(np.array([[1.0, 1.0, 2.0, 0.0]])) == pytest.approx(0.75)
    assert retained_magnitude(np.zeros((2, 4))) == 1.0


def test_channels_not_multiple_of_four_raise():
    with pytest.raises(ValueError, match="not a multiple of 4"):
        mask_2to4(np.ones((8, 6)))


@pytest.mark.parametrize("out_c,in_c,groups,expected", [
    (32, 16, 1, ""), (10, 128, 1, "out=10"), (32, 3, 1, "in=3"), (32, 32, 32, "groups=32"), (12, 8, 1, "out=12")])
def test_shape_rules(out_c, in_c, groups, expected):
    reason = shape_reason(out_c, in_c, groups)
    assert (expected in reason) if expected else reason == ""
