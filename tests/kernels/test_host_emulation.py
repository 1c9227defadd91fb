"""kernels/preprocess.cu compiled for the host (g++) against the numpy reference: the kernels' own arithmetic.

This runs every kernel's code path (indexing, pitches, fixed-point resize, colour, float16 rounding) on the CPU;
CUDA specifics (launch, memory, the hardware half conversion) are covered by the gpu tests.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from jetsonkit.preprocess import Preprocess, spec
from jetsonkit.preprocess import reference as ref
from jetsonkit.preprocess._params import JkParams

from .conftest import pitched

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET = spec.norm_spec(1 / 255, MEAN, STD)


def _step(fmt, ow, oh, **kw) -> Preprocess:
    """The CPU step whose numpy reference the kernels must equal (the GPU path launches them with its params)."""
    return Preprocess((oh, ow), src_format=fmt, mean=MEAN, std=STD, device="cpu", **kw)


def _frame(rng, fmt, w, h):
    """A random frame of about w x h (rounded up to even where the format needs it)."""
    w += (w % 2) * (fmt in ("nv12", "yuyv"))
    h += (h % 2) * (fmt == "nv12")
    shape = {"rgb": (h, w, 3), "bgr": (h, w, 3), "nv12": (h * 3 // 2, w), "yuyv": (h, w, 2)}[fmt]
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _bits(a):
    return a.view(np.uint16 if a.dtype == np.float16 else np.uint32)


def test_params_struct_layout_matches_ctypes(host_kernels):
    assert host_kernels.lib.jk_host_sizeof_params() == ctypes.sizeof(JkParams) == 100


CASES = [  # (frame w, h) -> (out w, h): odd sizes, tiny frames, 1-pixel borders, down- and up-scaling
    ((64, 48), (64, 48)), ((53, 37), (40, 40)), ((2, 2), (5, 3)), ((640, 638), (64, 64)), ((30, 200), (17, 33)),
    ((1920, 1080), (64, 64)),
]


@pytest.mark.parametrize("fmt", ["rgb", "bgr", "nv12", "yuyv"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_nchw_kernels_equal_reference_bit_for_bit(host_kernels, rng, fmt, dtype):
    for (w, h), (ow, oh) in CASES:
        frame = _frame(rng, fmt, w, h)
        h, w = (frame.shape[0] * 2 // 3, frame.shape[1]) if fmt == "nv12" else frame.shape[:2]
        for mode, order in (("letterbox", "rgb"), ("resize", "bgr")):
            step = _step(fmt, ow, oh, mode=mode, out_order=order, pad=114, dtype=dtype)
            got = host_kernels.nchw(frame, fmt, step.box(w, h), ow, oh, norm=step.norm, out_order=order, pad=114,
                                    dtype=dtype)
            want = step.reference(frame)
            np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=f"{fmt} {w}x{h}->{ow}x{oh} {mode}")


@pytest.mark.parametrize("fmt", ["rgb", "nv12", "yuyv"])
def test_pitched_frames_read_only_their_pixels(host_kernels, rng, fmt):
    frame = _frame(rng, fmt, 38, 26)
    view = pitched(frame, extra=11)  # padding bytes are 0xAB: reading them would change the output
    info = spec.check_frame(view, fmt)
    assert info.pitch == frame[0].nbytes + 11
    box = spec.letterbox_box(38, 26, 24, 24)
    got = host_kernels.nchw(view, fmt, box, 24, 24, norm=IMAGENET)
    np.testing.assert_array_equal(got, _step(fmt, 24, 24).reference(frame))


@pytest.mark.parametrize("matrix", sorted(spec.YUV_MATRICES))
@pytest.mark.parametrize("fmt", ["nv12", "yuyv"])
def test_rgb8_conversion_kernels_are_exact(host_kernels, rng, fmt, matrix):
    frame = _frame(rng, fmt, 46, 30)
    want = ref.to_rgb8(frame, fmt, matrix)
    np.testing.assert_array_equal(host_kernels.rgb8(frame, fmt, matrix=matrix), want)
    np.testing.assert_array_equal(host_kernels.rgb8(pitched(frame), fmt, out_order="bgr", matrix=matrix),
                                  want[..., ::-1])


def test_identity_normalisation_gives_the_uint8_picture(host_kernels, rng):
    frame = _frame(rng, "nv12", 100, 60)
    box = spec.letterbox_box(100, 60, 48, 48)
    got = host_kernels.nchw(frame, "nv12", box, 48, 48, norm=spec.norm_spec(1.0, 0.0, 1.0), pad=0)
    picture = ref.place_in_box(ref.nv12_to_rgb(frame), box, 48, 48, pad=0)
    np.testing.assert_array_equal(got[0].transpose(1, 2, 0), picture.astype(np.float32))


def test_host_float16_conversion_is_round_to_nearest_even(host_kernels, rng):
    special = np.array([0.0, -0.0, 65504.0, 65519.9, 65520.0, 1e9, -1e9, np.inf, -np.inf, 2.0**-24, 2.0**-25,
                        3 * 2.0**-26, 2.0**-14, 2.0**-14 * (1 - 2.0**-11), 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11],
                       dtype=np.float32)
    bits = rng.integers(0, 2**32, 300_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([special, bits[np.isfinite(bits)], rng.normal(0, 3, 100_000).astype(np.float32)])
    out = np.empty(x.size, dtype=np.uint16)
    host_kernels.lib.jk_host_f2h(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), x.size)
    with np.errstate(over="ignore"):  # values past 65504 become inf on both sides
        want = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(out, want)


def test_kernels_never_touch_memory_they_do_not_own(tmp_path):
    """tests/kernels/bounds_check.cpp under AddressSanitizer + UBSan: exact-size buffers, tiny / odd / pitched
    frames, extreme ratios, letterbox boxes; any out-of-bounds access or index overflow aborts."""
    import shutil
    import subprocess

    from .conftest import HERE, REPO

    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler (g++)")
    exe = tmp_path / "bounds"
    build = subprocess.run([cxx, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                            "-ffp-contract=off", "-I", str(REPO / "kernels"), "-o", str(exe),
                            str(HERE / "bounds_check.cpp")], capture_output=True, text=True, timeout=300)
    if build.returncode and "asan" in build.stderr.lower():
        pytest.skip(f"the compiler has no AddressSanitizer runtime: {build.stderr.strip().splitlines()[-1]}")
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("ok "), run.stderr[-2000:]
    assert int(run.stdout.split()[1]) == 240  # every launch ran
