"""The convert stage's contract: ConvertSettings (CLI flags and recipe targets read off it), run_convert's result,
and what `jetsonkit convert` shows (one "wrote" line, none of LiteRT's native chatter)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_convert_process_says_wrote_once_and_no_xnnpack_info(mnist_onnx, tmp_path):
    """The library logs no "wrote" line of its own (the CLI's summary says it), and LiteRT's C++ "INFO: Created
    TensorFlow Lite XNNPACK delegate" (fd 2, past Python: a subprocess sees it) is discarded by the process; the
    int8 path calibrates and checks the model with XNNPACK, where the line used to appear."""
    out = tmp_path / "m.tflite"
    cmd = [sys.executable, "-m", "jetsonkit", "convert", str(mnist_onnx), "-o", str(out), "--precision", "int8",
           "--data", "mnist:train:500"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    both = done.stdout + done.stderr
    assert "XNNPACK" not in both, both
    assert [line for line in both.splitlines() if line.startswith("wrote")] == \
        [line for line in done.stdout.splitlines() if line.startswith("wrote ")] and both.count("wrote ") == 1, both
    assert "lowering" in done.stderr  # the library's progress lines still show


def test_chatter_guard_is_the_processs_alone():
    """In-process callers (tests, programs using the library) get no fd redirection: the guard is installed by the
    CLI process only while its command runs."""
    from jetsonkit import _native
    from jetsonkit.cli.streams import native_output

    assert _native._guard is None
    with native_output(quiet=False, as_json=False):
        assert _native._guard is not None
    assert _native._guard is None
    with native_output(quiet=True, as_json=False):
        assert _native._guard is None  # --quiet already discards all of fd 2
