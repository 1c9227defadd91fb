"""Fixtures for the pre-processing kernel tests: kernels/preprocess.cu compiled for the host (host_harness.cpp)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from jetsonkit.preprocess import spec
from jetsonkit.preprocess._params import JkParams, NCHW_KERNELS, RGB8_KERNELS, make_params

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


class HostKernels:
    """kernels/preprocess.cu built as a host shared library; runs each kernel as a loop over its grid."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        lib.jk_host_run.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.POINTER(JkParams)]

    def nchw(self, frame, fmt, box, dst_w, dst_h, *, norm, out_order="rgb", pad=114, dtype="float32", matrix="bt601"):
        info = spec.check_frame(frame, fmt)
        p = make_params(info, box, dst_w, dst_h, norm=norm, out_order=out_order, pad=pad, matrix=matrix)
        out = np.full((1, 3, dst_h, dst_w), np.nan, dtype=dtype)
        self._run(NCHW_KERNELS[(fmt, dtype)], frame, info, out, p)
        return out

    def rgb8(self, frame, fmt, *, out_order="rgb", matrix="bt601"):
        info = spec.check_frame(frame, fmt)
        p = make_params(info, spec.Box(0, 0, 1, 1), 1, 1, norm=spec.norm_spec(1, 0, 1), out_order=out_order,
                        matrix=matrix)
        out = np.zeros((info.height, info.width, 3), dtype=np.uint8)
        self._run(RGB8_KERNELS[fmt], frame, info, out, p)
        return out

    def _run(self, kernel, frame, info, out, p):
        src = frame.__array_interface__["data"][0]
        rc = self.lib.jk_host_run(kernel.encode(), src, src + info.uv_offset, out.ctypes.data, ctypes.byref(p))
        assert rc == 0, f"unknown kernel {kernel}"


@pytest.fixture(scope="session")
def host_kernels(tmp_path_factory) -> HostKernels:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler (g++) to build kernels/preprocess.cu for the CPU")
    out = tmp_path_factory.mktemp("hostk") / "libjkhost.so"
    cmd = [cxx, "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-Wall", "-Werror", "-I", str(REPO / "kernels"),
           "-o", str(out), str(HERE / "host_harness.cpp")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return HostKernels(ctypes.CDLL(str(out)))


def pitched(frame: np.ndarray, extra: int = 13) -> np.ndarray:
    """The same pixels as a row-pitched view of a wider buffer (pitch = row bytes + extra), padding filled with 0xAB."""
    rows = frame.shape[0]
    row_bytes = frame[0].nbytes
    buf = np.full((rows, row_bytes + extra), 0xAB, dtype=np.uint8)
    buf[:, :row_bytes] = frame.reshape(rows, row_bytes)
    view = buf[:, :row_bytes].view(np.uint8)
    return np.lib.stride_tricks.as_strided(view, shape=frame.shape,
                                           strides=(row_bytes + extra,) + frame.strides[1:])
