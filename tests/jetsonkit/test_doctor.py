"""jetsonkit.doctor: every check answers, never crashes, and tells how to get what is missing."""

from __future__ import annotations

import ctypes
import importlib.util

import pytest

from jetsonkit import doctor


def _has_gpu_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def test_all_checks_present_and_well_formed():
    checks = doctor.diagnose()
    names = [c.name for c in checks]
    for expected in ("python", "numpy", "torch", "onnx", "onnxruntime", "TensorRT", "CUDA driver", "pycuda", "LiteRT",
                     "Jetson / DLA", "nvcc", "calibration scan"):
        assert expected in names
    assert all(c.status in ("ok", "missing", "info") and c.detail for c in checks)
    text = doctor.format_checks(checks)
    assert len(text.splitlines()) == len(checks)


def test_versions_come_from_installed_metadata():
    import numpy

    checks = {c.name: c for c in doctor.diagnose()}
    assert checks["numpy"].detail == numpy.__version__


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_missing_says_how_to_get_it():
    check = {c.name: c for c in doctor.diagnose()}["TensorRT"]
    assert check.status == "missing" and "JetPack" in check.detail and "nvcr.io/nvidia/tensorrt" in check.detail


@pytest.mark.skipif(_has_gpu_driver(), reason="this machine has an NVIDIA driver")
def test_no_driver_is_reported_not_raised():
    checks = {c.name: c for c in doctor.diagnose()}
    assert checks["CUDA driver"].status == "missing" and "libcuda.so.1" in checks["CUDA driver"].detail
    assert checks["GPU"].status == "missing"


@pytest.mark.gpu
def test_gpu_compute_capability_and_sparse_cores():
    checks = {c.name: c for c in doctor.diagnose()}
    assert checks["CUDA driver"].status == "ok" and checks["CUDA driver"].detail.startswith("CUDA ")
    gpu = checks["GPU 0"].detail
    assert "compute capability" in gpu and "sm_" in gpu
    major = int(gpu.split("compute capability ")[1].split(".")[0])
    assert checks["GPU 0 2:4 sparse tensor cores"].detail.startswith("yes" if major >= 8 else "no")
