"""CI compile check: nvcc builds every kernel for sm_87 (Orin), sm_90 (Hopper) and PTX compute_87; the cache.

Skips only where nvcc is absent. NVRTC is checked too when a libnvrtc is found (the CUDA toolkit, or the
``nvidia-cuda-nvrtc`` wheel via JETSONKIT_NVRTC); it is not installed in CI (the wheel is 58 MB).
"""

from __future__ import annotations

import re

import pytest

from jetsonkit.errors import BackendError
from jetsonkit.preprocess import compile as kc
from jetsonkit.preprocess._params import ALL_KERNELS

NVCC = kc.nvcc_path()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc not installed (CUDA toolkit); the compile check needs it")


def _entries(ptx: bytes) -> set[str]:
    return {m.decode() for m in re.findall(rb"\.entry\s+(\w+)", ptx)}


@needs_nvcc
@pytest.mark.parametrize("target", ["sm_87", "sm_90", "compute_87"])
def test_nvcc_compiles_every_kernel(tmp_path, target):
    out = tmp_path / "k.bin"
    data = kc.compile_nvcc(NVCC, kc.kernel_path(), target, out_path=out, extra_flags=("--Werror", "all-warnings"))
    if target.startswith("compute"):
        assert _entries(data) == set(ALL_KERNELS)
    else:
        assert data[:4] == b"\x7fELF"
        for name in ALL_KERNELS:  # the cubin's symbol table names every extern "C" entry point unmangled
            assert name.encode() + b"\0" in data, name


@needs_nvcc
def test_nvcc_errors_are_one_line_with_the_command(tmp_path):
    bad = tmp_path / "bad.cu"
    bad.write_text(kc.kernel_path().read_text() + "\n#error deliberately broken\n")
    with pytest.raises(BackendError, match="nvcc could not compile") as err:
        kc.compile_nvcc(NVCC, bad, "sm_87")
    assert "\n" not in str(err.value)


@needs_nvcc
def test_cache_is_keyed_by_source_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("JETSONKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(kc, "nvrtc", lambda: None)  # exercise the nvcc route
    first = kc.kernel_binary("sm_87")
    files = list((tmp_path / "cache" / "kernels").glob("preprocess-*-sm_87.cubin"))
    assert len(files) == 1 and files[0].read_bytes() == first

    def no_compile(*a, **k):
        raise AssertionError("compiled again although the cache holds this source")

    monkeypatch.setattr(kc, "compile_nvcc", no_compile)
    assert kc.kernel_binary("sm_87") == first
    edited = tmp_path / "src"
    edited.mkdir()
    (edited / kc.KERNEL_FILE).write_text(kc.kernel_path().read_text() + "\n// edited\n")
    monkeypatch.setenv("JETSONKIT_KERNELS_DIR", str(edited))
    with pytest.raises(AssertionError, match="compiled again"):
        kc.kernel_binary("sm_87")  # a changed source has a new key: never a stale binary


def test_nvrtc_compiles_every_kernel_when_present():
    lib = kc.nvrtc()
    if lib is None:
        pytest.skip("no libnvrtc here (CUDA toolkit or nvidia-cuda-nvrtc wheel; point JETSONKIT_NVRTC at one)")
    assert _entries(kc.compile_nvrtc(lib, kc.kernel_path().read_bytes(), "compute_87")) == set(ALL_KERNELS)
    assert kc.compile_nvrtc(lib, kc.kernel_path().read_bytes(), "sm_87")[:4] == b"\x7fELF"


def test_missing_source_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JETSONKIT_KERNELS_DIR", str(tmp_path))
    with pytest.raises(Exception, match="kernel source .* not found"):
        kc.kernel_path()
