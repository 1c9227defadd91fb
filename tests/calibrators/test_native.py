"""The native histogram scan (calibrators/_scan.c) against the numpy reference scan, and its build and fallbacks."""

from __future__ import annotations

import math
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calibrators import Histogram, NonFiniteError, _native
from calibrators.histogram import _BatchScan

HAS_CC = _native._compiler() is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler (cc / gcc / clang): the numpy scan runs instead")


@pytest.fixture
def fresh_native(monkeypatch, tmp_path):
    """A private cache folder and a forgotten load decision, so each test builds (or fails to) on its own."""
    monkeypatch.setenv("JETSONKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "_state", {})
    return tmp_path / "cache" / "calibrators"


def _vectors(rng) -> dict[str, np.ndarray]:
    relu = np.maximum(rng.normal(0, 1, 50_000), 0)
    growing = np.concatenate([rng.normal(0, 10.0 ** k, 5000) for k in range(-3, 4)])  # widens inside the call
    edge = np.full(9000, 0.25)
    edge[::7] = 0.5  # exactly a power of two: values on the top edge of the first width
    edge[8999] = 0.75  # ... and then a wider range in the last chunk
    zeros_then = np.concatenate([np.zeros(10_000), rng.normal(0, 1, 3000)])
    outlier = rng.normal(0, 1, 20_000)
    outlier[12345] = 1e6
    return {
        "relu": relu, "signed": rng.normal(0, 3, 40_001), "non-positive": -relu, "growing": growing,
        "top edge": edge, "zeros first": zeros_then, "all zeros": np.zeros(5000), "one outlier": outlier,
        "tiny (width below float32's normal range)": rng.normal(0, 1e-38, 6000),
        "huge": rng.normal(0, 1e37, 6000), "negative zero": np.array([-0.0, 0.0, -0.0, 1.5, -2.25]),
        "single value": np.array([3.0]), "odd length": rng.normal(0, 1, 4097),
    }


def _scan(path: str, v: np.ndarray, width: float | None) -> _BatchScan:
    scan = _BatchScan(2048, width)
    v = np.ascontiguousarray(v, dtype=np.float32).ravel()
    if path == "native":
        scan.scan_native(_native.scan_function(), v, "t", 0)
    else:
        scan.scan_numpy(v, "t", 0)
    return scan


@needs_cc
@pytest.mark.parametrize("width", [None, 2.0 ** -4], ids=["first batch", "running width 1/16"])
def test_native_scan_equals_numpy_scan_bit_for_bit(rng, fresh_native, width):
    assert _native.scan_function() is not None, _native.status()
    for label, v in _vectors(rng).items():
        native, numpy_ = _scan("native", v, width), _scan("numpy", v, width)
        assert native.width == numpy_.width, label
        if numpy_.raw is None:
            assert native.raw is None, label
        else:
            np.testing.assert_array_equal(native.raw, numpy_.raw, err_msg=label)
        assert (native.zeros, native.lo, native.hi) == (numpy_.zeros, numpy_.lo, numpy_.hi), label
        flat = np.asarray(v, np.float32).astype(np.float64)
        assert native.total == pytest.approx(flat.sum(), rel=1e-9, abs=1e-12 * max(1.0, np.abs(flat).max())), label
        assert native.total_sq == pytest.approx(np.dot(flat, flat), rel=1e-9), label


@needs_cc
def test_histograms_over_many_batches_agree_between_paths(rng, monkeypatch, fresh_native):
    """Whole Histogram objects, fed the same stream (first width, growth across batches, a NaN batch rejected)."""
    batches = [rng.normal(0, 0.1 * 3 ** k, (4, 3, 17, 19)) for k in range(6)]
    result = {}
    for path in ("native", "numpy"):
        monkeypatch.setenv("JETSONKIT_NATIVE", "1" if path == "native" else "0")
        h = Histogram()
        for i, b in enumerate(batches):
            h.update(b, batch=i)
        bad = batches[0].copy()
        bad[1, 2, 3, 4] = np.inf
        with pytest.raises(NonFiniteError, match=r"tensor 'x' in batch 9 holds 0 NaN and 1 Inf"):
            h.update(bad, tensor="x", batch=9)
        result[path] = h
    a, b = result["native"], result["numpy"]
    np.testing.assert_array_equal(a.counts, b.counts)
    assert (a.bin_width, a.count, a.zeros, a.minimum, a.maximum, a.batches) == \
        (b.bin_width, b.count, b.zeros, b.minimum, b.maximum, b.batches)
    assert a.stats()["std"] == pytest.approx(b.stats()["std"], rel=1e-6)


@needs_cc
def test_nan_leaves_the_histogram_unchanged_on_the_native_path(rng, fresh_native):
    h = Histogram()
    h.update(rng.normal(size=10_000))
    before = (h.counts.copy(), h.bin_width, h.count, h.zeros, h.total, h.batches)
    bad = rng.normal(0, 100, 10_000)  # would widen the range in its first chunk ...
    bad[9000] = np.nan  # ... but a later chunk holds NaN
    with pytest.raises(NonFiniteError, match="batch 3"):
        h.update(bad, batch=3)
    np.testing.assert_array_equal(h.counts, before[0])
    assert (h.bin_width, h.count, h.zeros, h.total, h.batches) == before[1:]


@needs_cc
def test_build_is_cached_and_reused(fresh_native, monkeypatch):
    assert _native.status().startswith("native ("), _native.status()
    built = list(fresh_native.glob("scan-*.so"))
    assert len(built) == 1 and not list(fresh_native.glob(".scan-*")), "one library, no temporary left behind"
    stamp = built[0].stat().st_mtime_ns
    real_run = _native.subprocess.run

    def refuse_compiling(cmd, **kwargs):
        if "--version" not in cmd:
            raise AssertionError("compiled again although the library is cached")
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(_native, "_state", {})  # a new process, as far as the loader knows
    monkeypatch.setattr(_native.subprocess, "run", refuse_compiling)
    assert _native.scan_function() is not None
    assert _native.status() == f"native ({built[0]})"
    assert built[0].stat().st_mtime_ns == stamp


def test_switched_off_runs_numpy(fresh_native, monkeypatch, rng):
    monkeypatch.setenv("JETSONKIT_NATIVE", "0")
    assert _native.scan_function() is None and _native.status() == "numpy (JETSONKIT_NATIVE=0)"
    h = Histogram.of(rng.normal(size=1000))  # still works, on the reference path
    assert h.count == 1000 and h.counts.sum() == 1000
    assert not fresh_native.exists(), "nothing is compiled when switched off"


def test_failing_compiler_falls_back_to_numpy_and_says_why(fresh_native, monkeypatch, tmp_path, rng):
    fake = tmp_path / "badcc"
    fake.write_text("#!/bin/sh\necho 'badcc: error: this compiler is broken' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CC", str(fake))
    assert _native.scan_function() is None
    assert _native.status() == f"numpy (native scan unavailable: {fake} failed: badcc: error: this compiler is broken)"
    assert not list(fresh_native.glob("*")), "a failed build leaves nothing in the cache"
    assert Histogram.of(rng.normal(size=100)).count == 100


def test_no_compiler_falls_back_to_numpy(fresh_native, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(_native.shutil, "which", lambda name: None)
    assert _native.scan_function() is None
    assert _native.status().startswith("numpy (no C compiler")


@needs_cc
def test_cache_folder_that_cannot_be_made_builds_in_a_private_folder(fresh_native, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("JETSONKIT_CACHE_DIR", str(blocker))  # .../a-file/calibrators cannot be created, even by root
    try:
        assert _native.scan_function() is not None, _native.status()
        assert "jetsonkit-calibrators-" in _native.status()
    finally:
        shutil.rmtree(_native.status().split("(", 1)[1].rsplit("/", 1)[0], ignore_errors=True)


def test_widths_are_powers_of_two_on_both_paths(rng):
    """The scan reports its width as an exponent; the histogram's width must be exactly 2^e."""
    h = Histogram.of(rng.normal(0, 7, 3000))
    mantissa, _ = math.frexp(h.bin_width)
    assert mantissa == 0.5 and h.absmax <= 2048 * h.bin_width < 2 * h.absmax


def test_bin_width_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        Histogram(bin_width=0.3)
    assert Histogram(bin_width=2.0 ** -5).bin_width == 2.0 ** -5


@needs_cc
def test_negative_zero_extremes_and_misaligned_views_agree(fresh_native, monkeypatch):
    raw = np.zeros(4 * 1001 + 1, np.uint8)
    view = np.frombuffer(raw.data, dtype=np.float32, offset=1, count=1000)  # floats at an odd byte address
    for data in (np.float32([-0.0, 0.0, 1.0]), np.float32([0.0, -0.0, -1.0]), view):
        got = {}
        for path in ("native", "numpy"):
            monkeypatch.setenv("JETSONKIT_NATIVE", "1" if path == "native" else "0")
            h = Histogram.of(data)
            got[path] = (h.counts.tobytes(), h.bin_width, math.copysign(1, h.minimum), math.copysign(1, h.maximum),
                         h.minimum, h.maximum)
        assert got["native"] == got["numpy"]


@needs_cc
def test_cc_with_a_wrapper_word_is_used_whole(fresh_native, monkeypatch):
    monkeypatch.setenv("CC", f"env {shutil.which('cc') or shutil.which('gcc')}")
    assert _native.scan_function() is not None, _native.status()


def test_undecodable_compiler_output_falls_back(fresh_native, monkeypatch, tmp_path):
    fake = tmp_path / "binarycc"
    fake.write_text("#!/bin/sh\nprintf '\\377\\376 broken\\n' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    assert _native.scan_function() is None
    assert _native.status().startswith("numpy (native scan unavailable: ") and "broken" in _native.status()


@needs_cc
def test_missing_source_falls_back(fresh_native, monkeypatch, tmp_path):
    monkeypatch.setattr(_native, "SOURCE", tmp_path / "gone.c")
    assert _native.scan_function() is None and "gone.c" in _native.status()


@needs_cc
def test_damaged_cached_library_is_rebuilt_privately(fresh_native):
    assert _native.scan_function() is not None
    (cached,) = fresh_native.glob("scan-*.so")
    assert cached.stat().st_mode & 0o044 == 0o044 & ~_umask(), "readable by others sharing the cache"
    cached.unlink()  # a new file, not an overwrite: this process still has the old one mapped
    cached.write_bytes(b"not a shared library")
    probe = ("import numpy as np, calibrators; h = calibrators.Histogram.of(np.arange(100.0)); "
             "print(h.count, calibrators.scan_status())")
    env = {**os.environ, "JETSONKIT_CACHE_DIR": str(fresh_native.parent)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(_native.__file__).parents[1])
    assert done.returncode == 0, done.stderr
    count, status = done.stdout.split(" ", 1)
    assert count == "100" and status.startswith("native (") and "jetsonkit-calibrators-" in status, status
    assert not Path(status.strip()[len("native ("):-1]).parent.exists(), "the private folder is removed at exit"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
