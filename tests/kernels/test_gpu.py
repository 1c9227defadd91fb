"""The CUDA kernels on a real GPU against the numpy reference (``pytest -m gpu``; skipped without a GPU).

Tolerances (issue 9): uint8 paths exact; float32 <= 1e-3; float16 <= 1e-3 relative. The kernels are designed to be
bit-exact (integer resize and colour, explicit round-to-nearest float ops), so the tests also report how many
values differ at all.
"""

from __future__ import annotations

import ctypes
import importlib.util

import numpy as np
import pytest

from jetsonkit.preprocess import Preprocess, spec
from jetsonkit.preprocess import reference as ref

from .conftest import pitched

pytestmark = pytest.mark.gpu


@pytest.fixture
def drv():
    """The CUDA driver binding with the kernels loaded and a context current on this thread."""
    from jetsonkit.preprocess import _driver, cuda

    cuda.loaded_kernels()
    return _driver.driver()


MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZES = [((640, 480), (640, 640)), ((1920, 1080), (640, 640)), ((53, 37), (40, 40)), ((2, 2), (5, 3)),
         ((1, 1), (4, 4)), ((640, 638), (640, 640)), ((30, 200), (17, 33))]


def _frame(rng, fmt, w, h):
    w += (w % 2) * (fmt in ("nv12", "yuyv"))
    h += (h % 2) * (fmt == "nv12")
    shape = {"rgb": (h, w, 3), "bgr": (h, w, 3), "nv12": (h * 3 // 2, w), "yuyv": (h, w, 2)}[fmt]
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _assert_close(got, want, dtype, what):
    assert got.shape == want.shape and got.dtype == want.dtype, what
    g, w = got.astype(np.float64), want.astype(np.float64)
    if dtype == "float32":
        assert np.abs(g - w).max() <= 1e-3, what
    else:
        assert (np.abs(g - w) <= 1e-3 * np.maximum(1.0, np.abs(w))).all(), what
    differing = int((got.view(np.uint8) != want.view(np.uint8)).sum())
    print(f"{what}: {differing} differing bytes")  # expected 0: shown with -s


@pytest.mark.parametrize("fmt", ["rgb", "bgr", "nv12", "yuyv"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_kernel_matches_reference_on_random_frames(rng, fmt, dtype):
    for (w, h), (ow, oh) in SIZES:
        if fmt in ("nv12", "yuyv") and (w, h) == (1, 1):
            continue
        frame = _frame(rng, fmt, w, h)
        for mode, order in (("letterbox", "rgb"), ("resize", "bgr")):
            with Preprocess((oh, ow), src_format=fmt, out_order=order, mode=mode, mean=MEAN, std=STD, dtype=dtype,
                            device="cuda") as pre:
                want = pre.reference(frame)
                _assert_close(pre(frame), want, dtype, f"{fmt} {w}x{h}->{ow}x{oh} {mode} {dtype}")
                _assert_close(pre(pitched(frame)), want, dtype, f"pitched {fmt} {mode} {dtype}")


def test_uint8_paths_are_exact(rng, drv):
    from jetsonkit.preprocess import cuda
    from jetsonkit.preprocess._params import RGB8_KERNELS, make_params

    for fmt in ("nv12", "yuyv"):
        for matrix in spec.YUV_MATRICES:
            frame = _frame(rng, fmt, 62, 34)
            info = spec.check_frame(frame, fmt)
            staging = cuda.Staging()
            out = np.zeros((info.height, info.width, 3), np.uint8)
            dst = drv.mem_alloc(out.nbytes)
            try:
                src = staging.upload(frame, cuda.frame_span(info), 0)
                p = make_params(info, spec.Box(0, 0, 1, 1), 1, 1, norm=spec.norm_spec(1, 0, 1), matrix=matrix)
                cuda.launch(RGB8_KERNELS[fmt], src, src + info.uv_offset, dst, p, info.width, info.height, 0)
                drv.stream_sync(0)
                drv.dtoh(out.ctypes.data, dst, out.nbytes)
            finally:
                drv.mem_free(dst)
                staging.release()
            np.testing.assert_array_equal(out, ref.to_rgb8(frame, fmt, matrix))
    # the fused kernel with identity normalisation outputs the resized uint8 picture itself: exact
    frame = _frame(rng, "nv12", 1280, 720)
    with Preprocess((640, 640), src_format="nv12", scale=1.0, mean=0, std=1, device="cuda") as pre:
        np.testing.assert_array_equal(pre(frame), pre.reference(frame))


def test_run_into_writes_only_its_slot_on_a_stream(rng, drv):
    pre = Preprocess((64, 96), src_format="yuyv", mean=MEAN, std=STD, device="cuda")
    frame = _frame(rng, "yuyv", 101, 75)
    n = pre.output_nbytes
    canary = np.full(3 * n, 0x5A, np.uint8)
    buf = drv.mem_alloc(3 * n)
    try:
        drv.htod_async(buf, canary.ctypes.data, 3 * n, 0)
        drv.stream_sync(0)
        box = pre.run_into(frame, buf + n, stream=0)  # slot 1 of a batch of 3
        drv.stream_sync(0)
        back = np.empty(3 * n, np.uint8)
        drv.dtoh(back.ctypes.data, buf, 3 * n)
    finally:
        drv.mem_free(buf)
        pre.close()
    assert (back[:n] == 0x5A).all() and (back[2 * n:] == 0x5A).all()
    _assert_close(back[n:2 * n].view(np.float32).reshape(pre.output_shape), pre.reference(frame), "float32",
                  "run_into slot 1")
    assert box == pre.box(102, 75)


def test_one_object_on_two_streams_keeps_frames_apart(rng, drv):
    pre = Preprocess((48, 64), src_format="bgr", mean=MEAN, std=STD, device="cuda")
    frames = [_frame(rng, "bgr", 320, 240), _frame(rng, "bgr", 320, 240)]
    streams = [drv.stream_create(), drv.stream_create()]
    bufs = [drv.mem_alloc(pre.output_nbytes) for _ in streams]
    try:
        for _ in range(3):  # interleaved submissions: each stream must read its own upload
            for frame, stream, buf in zip(frames, streams, bufs):
                pre.run_into(frame, buf, stream)
        outs = []
        for stream, buf in zip(streams, bufs):
            drv.stream_sync(stream)
            out = np.empty(pre.output_shape, np.float32)
            drv.dtoh(out.ctypes.data, buf, pre.output_nbytes)
            outs.append(out)
    finally:
        pre.close()
        for stream, buf in zip(streams, bufs):
            drv.mem_free(buf)
            drv.stream_destroy(stream)
    for out, frame in zip(outs, frames):
        _assert_close(out, pre.reference(frame), "float32", "two streams")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="CuPy not installed")
def test_device_frames_streams_and_outputs_from_cupy(rng):
    import cupy as cp

    frame = _frame(rng, "nv12", 1920, 1080)
    pre = Preprocess(640, src_format="nv12", mean=MEAN, std=STD, dtype="float16", device="cuda")
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        d_frame = cp.asarray(frame)
        out = cp.empty(pre.output_shape, dtype=cp.float16)
        stream.synchronize()
    pre.run_into(d_frame, out, stream)  # device frame read in place, output written in place
    stream.synchronize()
    _assert_close(cp.asnumpy(out), pre.reference(frame), "float16", "cupy nv12 1080p")
    pre.close()


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_torch_tensors_and_stream(rng):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA")
    frame = _frame(rng, "bgr", 1280, 720)
    pre = Preprocess(640, src_format="bgr", mean=MEAN, std=STD, device="cuda")
    stream = torch.cuda.Stream()
    out = torch.empty(pre.output_shape, dtype=torch.float32, device="cuda")
    d_frame = torch.from_numpy(frame).cuda()
    torch.cuda.synchronize()  # the upload ran on torch's current stream, not on `stream`
    pre.run_into(d_frame, out, stream)
    stream.synchronize()
    _assert_close(out.cpu().numpy(), pre.reference(frame), "float32", "torch bgr 720p")
    pre.close()


def test_binary_cached_per_compute_capability(drv):
    from jetsonkit.preprocess import compile as kc
    from jetsonkit.preprocess import cuda

    loaded = cuda.loaded_kernels()
    assert loaded.target.startswith("sm_")
    assert list(kc.cache_dir().glob(f"preprocess-*-{loaded.target}.*"))
    assert ctypes.c_void_p(loaded.functions["jk_nv12_nchw_f16"]).value
