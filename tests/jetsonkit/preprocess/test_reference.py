"""The numpy reference against independent, slower formulations, known values, odd sizes and borders."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from jetsonkit.preprocess import PreprocessSpec, spec
from jetsonkit.preprocess import reference as ref

# ---------------------------------------------------------------- resize


def _slow_resize(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Per-pixel bilinear with exact rational source positions (d + 1/2) * S / B - 1/2 on the 1/2048 grid."""

    def tap(d, box, size):
        s = (Fraction(2 * d + 1, 2) * size / box) - Fraction(1, 2)
        pos = max(0, math.floor(s * 2048))
        i, w = divmod(pos, 2048)
        if i >= size - 1:
            return size - 1, size - 1, 0
        return i, i + 1, w

    out = np.zeros((out_h, out_w, img.shape[2]), dtype=np.uint8)
    for oy in range(out_h):
        y0, y1, wy = tap(oy, out_h, img.shape[0])
        for ox in range(out_w):
            x0, x1, wx = tap(ox, out_w, img.shape[1])
            for c in range(img.shape[2]):
                top = int(img[y0, x0, c]) * (2048 - wx) + int(img[y0, x1, c]) * wx
                bot = int(img[y1, x0, c]) * (2048 - wx) + int(img[y1, x1, c]) * wx
                out[oy, ox, c] = (top * (2048 - wy) + bot * wy + 2**21) // 2**22
    return out


def _float_bilinear(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Continuous-weight bilinear, half-pixel centres, edge replicate (the textbook definition), float64."""
    def coords(box, size):
        s = np.clip((np.arange(box) + 0.5) * size / box - 0.5, 0, size - 1)
        i0 = np.floor(s).astype(int)
        return i0, np.minimum(i0 + 1, size - 1), s - i0

    x0, x1, fx = coords(out_w, img.shape[1])
    y0, y1, fy = coords(out_h, img.shape[0])
    f = img.astype(np.float64)
    fx = fx[None, :, None]
    top = f[y0][:, x0] * (1 - fx) + f[y0][:, x1] * fx
    bot = f[y1][:, x0] * (1 - fx) + f[y1][:, x1] * fx
    return top * (1 - fy[:, None, None]) + bot * fy[:, None, None]


@pytest.mark.parametrize("src,dst", [((7, 5), (11, 13)), ((13, 9), (4, 3)), ((1, 1), (3, 2)), ((6, 1), (2, 5)),
                                     ((5, 8), (5, 8)), ((3, 17), (16, 1))])
def test_resize_matches_exact_rational_formulation(rng, src, dst):
    img = rng.integers(0, 256, (src[1], src[0], 3), dtype=np.uint8)
    np.testing.assert_array_equal(ref.resize_bilinear_u8(img, *dst), _slow_resize(img, *dst))


@pytest.mark.parametrize("src,dst", [((640, 480), (640, 480)), ((97, 61), (320, 200)), ((1920, 1080), (640, 360)),
                                     ((33, 250), (7, 19))])
def test_resize_within_one_level_of_continuous_bilinear(rng, src, dst):
    img = rng.integers(0, 256, (src[1], src[0], 3), dtype=np.uint8)
    fixed = ref.resize_bilinear_u8(img, *dst).astype(np.float64)
    assert np.abs(fixed - _float_bilinear(img, *dst)).max() <= 1.0


def test_resize_identity_constant_and_known_upscale(rng):
    img = rng.integers(0, 256, (9, 14, 3), dtype=np.uint8)
    np.testing.assert_array_equal(ref.resize_bilinear_u8(img, 14, 9), img)
    const = np.full((5, 7, 3), 200, dtype=np.uint8)
    assert (ref.resize_bilinear_u8(const, 23, 3) == 200).all()
    # 2 -> 4 pixels: centres at -0.25, 0.25, 0.75, 1.25 -> edge, 0.75a+0.25b, 0.25a+0.75b, edge
    row = np.array([[[0], [100]]], dtype=np.uint8)
    assert ref.resize_bilinear_u8(row, 4, 1)[0, :, 0].tolist() == [0, 25, 75, 100]
    # 4 -> 2 pixels: centres at 0.5 and 2.5 -> means of neighbours (rounded half up)
    row = np.array([[[10], [21], [30], [41]]], dtype=np.uint8)
    assert ref.resize_bilinear_u8(row, 2, 1)[0, :, 0].tolist() == [16, 36]


def test_axis_taps_stay_in_bounds_for_extreme_ratios():
    for box, src in [(1, 1), (1, 4096), (4096, 1), (640, 1920), (1919, 3), (2, 3)]:
        i0, i1, w = ref.axis_taps(box, src)
        assert i0.min() >= 0 and i1.max() <= src - 1 and ((w >= 0) & (w < 2048)).all()
        assert (i1 - i0 <= 1).all() and (w[i1 == i0] == 0).all()


# ---------------------------------------------------------------- letterbox


@pytest.mark.parametrize("src,dst,box", [
    ((1920, 1080), (640, 640), (0, 140, 640, 360)),
    ((640, 480), (640, 640), (0, 80, 640, 480)),
    ((480, 640), (640, 640), (80, 0, 480, 640)),
    ((640, 639), (640, 640), (0, 0, 640, 639)),  # one-pixel border, bottom (the smaller half goes top/left)
    ((641, 640), (640, 640), (0, 0, 640, 639)),  # round(640 * 640/641) = 639
    ((100, 100), (640, 480), (80, 0, 480, 480)),
    ((1, 1000), (64, 64), (31, 0, 1, 64)),  # never a zero-width box
])
def test_letterbox_geometry(src, dst, box):
    assert spec.letterbox_box(*src, *dst) == spec.Box(*box)


def test_letterbox_pads_outside_the_box_only(rng):
    img = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    box = spec.letterbox_box(640, 480, 320, 320)
    canvas = ref.place_in_box(img, box, 320, 320, pad=114)
    assert (canvas[:box.y] == 114).all() and (canvas[box.y + box.h:] == 114).all()
    np.testing.assert_array_equal(canvas[box.y:box.y + box.h], ref.resize_bilinear_u8(img, box.w, box.h))


def test_box_maps_points_back_to_the_frame():
    box = spec.letterbox_box(1920, 1080, 640, 640)
    assert box.to_frame(box.x, box.y, 1920, 1080) == (0.0, 0.0)
    assert box.to_frame(box.x + box.w, box.y + box.h, 1920, 1080) == (1920.0, 1080.0)


# ---------------------------------------------------------------- colour


def _derived_matrix(kr: float, kb: float, limited: bool):
    """Float YUV -> RGB from the luma weights (ITU-R BT.601 / BT.709 definitions)."""
    kg = 1 - kr - kb
    ky, kc, y_off = (255 / 219, 255 / 224, 16) if limited else (1.0, 1.0, 0)
    return y_off, ky, 2 * (1 - kr) * kc, 2 * kb * (1 - kb) / kg * kc, 2 * kr * (1 - kr) / kg * kc, 2 * (1 - kb) * kc


MATRIX_DEFS = {"bt601": (0.299, 0.114, True), "bt709": (0.2126, 0.0722, True), "bt601_full": (0.299, 0.114, False)}


@pytest.mark.parametrize("name", sorted(MATRIX_DEFS))
def test_integer_matrices_are_the_standard_ones_times_256(name):
    y_off, *coef = _derived_matrix(*MATRIX_DEFS[name])
    assert spec.YUV_MATRICES[name] == (y_off, *[round(c * 256) for c in coef])


@pytest.mark.parametrize("name", sorted(MATRIX_DEFS))
def test_yuv_to_rgb_within_one_level_of_float_definition(rng, name):
    y, u, v = (rng.integers(0, 256, 200_000, dtype=np.uint8) for _ in range(3))
    y_off, ky, rv, gu, gv, bu = _derived_matrix(*MATRIX_DEFS[name])
    c, d, e = ky * (y.astype(float) - y_off), u - 128.0, v - 128.0
    want = np.clip(np.stack([c + rv * e, c - gu * d - gv * e, c + bu * d], -1), 0, 255)
    assert np.abs(ref.yuv_to_rgb(y, u, v, name).astype(float) - want).max() <= 1.0


def test_yuv_known_colours():
    def rgb(y, u, v, m="bt601"):
        return ref.yuv_to_rgb(np.array([y]), np.array([u]), np.array([v]), m)[0].tolist()

    assert rgb(16, 128, 128) == [0, 0, 0]
    assert rgb(235, 128, 128) == [255, 255, 255]
    assert rgb(0, 128, 128, "bt601_full") == [0, 0, 0] and rgb(128, 128, 128, "bt601_full") == [128, 128, 128]
    assert rgb(81, 90, 240) == [255, 0, 0]  # BT.601 100 % red
    assert rgb(145, 54, 34) == [0, 255, 1]  # green; B = (298*129 - 516*74 + 128) >> 8 = 1 (the float formula: 0.9)
    assert rgb(41, 240, 110) == [0, 0, 255]  # blue


def _nv12_from_planes(y, u, v):
    h, w = y.shape
    uv = np.stack([u, v], -1).reshape(h // 2, w)
    return np.concatenate([y, uv], 0)


def test_nv12_and_yuyv_share_chroma_by_block(rng):
    h, w = 6, 10
    y = rng.integers(16, 236, (h, w), dtype=np.uint8)
    u = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    v = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    got = ref.nv12_to_rgb(_nv12_from_planes(y, u, v))
    for r in range(h):
        for c in range(w):
            want = ref.yuv_to_rgb(y[r:r + 1, c], u[r // 2, c // 2:c // 2 + 1], v[r // 2, c // 2:c // 2 + 1])[0]
            np.testing.assert_array_equal(got[r, c], want)
    yuyv = np.zeros((h, w, 2), dtype=np.uint8)
    yuyv[..., 0] = y
    yuyv[:, 0::2, 1] = np.repeat(u, 2, 0)
    yuyv[:, 1::2, 1] = np.repeat(v, 2, 0)
    np.testing.assert_array_equal(ref.yuyv_to_rgb(yuyv), got)  # same chroma per 2x2 block -> same picture


# ---------------------------------------------------------------- normalise and the whole step


def test_normalise_order_and_float16(rng):
    norm = spec.norm_spec(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    img = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = ref.normalize_nchw(img, norm)
    assert out.shape == (1, 3, 5, 7) and out.dtype == np.float32
    for c in range(3):
        x = img[..., c].astype(np.float32)
        want = ((x * np.float32(1 / 255)) - np.float32(norm.mean[c])) * np.float32(1 / norm_std(c))
        np.testing.assert_array_equal(out[0, c], want.astype(np.float32))
    half = ref.normalize_nchw(img, norm, "float16")
    assert half.dtype == np.float16 and np.abs(half.astype(np.float32) - out).max() <= 2.0**-9


def norm_std(c):
    return (0.229, 0.224, 0.225)[c]


@pytest.mark.parametrize("fmt", ["rgb", "bgr", "nv12", "yuyv"])
def test_whole_step_equals_convert_then_resize_then_normalise(rng, fmt):
    h, w = 38, 54
    shape = {"rgb": (h, w, 3), "bgr": (h, w, 3), "nv12": (h * 3 // 2, w), "yuyv": (h, w, 2)}[fmt]
    frame = rng.integers(0, 256, shape, dtype=np.uint8)
    box = spec.letterbox_box(w, h, 32, 32)
    # identity normalisation: the output is the uint8 picture itself
    step = PreprocessSpec(size=(32, 32), resize="letterbox", pad=7, color="bgr", scale=1.0)
    out = ref.to_tensor(step, frame, fmt)
    to_rgb = {"rgb": lambda f: f, "bgr": lambda f: f[..., ::-1], "nv12": ref.nv12_to_rgb, "yuyv": ref.yuyv_to_rgb}
    rgb = to_rgb[fmt](frame)
    picture = ref.place_in_box(rgb, box, 32, 32, pad=7)[..., ::-1]
    np.testing.assert_array_equal(out[0].transpose(1, 2, 0), picture.astype(np.float32))
