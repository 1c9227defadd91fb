"""The native histogram scan (``_scan.c``): compiled at run time with the C compiler present, loaded with ctypes.

Why: the numpy scan reads every value about ten times (min, max, zeros, two sums, index, offset, bincount) and
costs ~3.3 ns per value on a 2-core EPYC; the C scan reads it once, ~0.8 ns (``scripts/bench/calibrate.py``). The
numpy code stays the reference: both paths give the same counts bit for bit (tests/calibrators/test_native.py).

Build: ``$CC`` (else ``cc``, ``gcc``, ``clang``) with ``-O3 -march=native`` (retried without ``-march=native`` when
the compiler rejects it), plus the reassociation flags that let it vectorise the sums. No Python headers are
needed, so a bare L4T container or Raspberry Pi OS with ``gcc`` is enough. The library is cached under
``$JETSONKIT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/jetsonkit`` or ``~/.cache/jetsonkit``) in ``calibrators/``,
keyed by the source, the flags, the compiler's version line and this CPU (``-march=native`` code must not load on
another CPU sharing the home directory). Written atomically; a cache folder that cannot be written falls back to a
private temporary folder.

``JETSONKIT_NATIVE=0`` turns it off (the numpy scan runs); no compiler, a failed build or a library that does not
load does the same, and :func:`status` says why. Nothing here imports jetsonkit.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = ["scan_function", "status", "NO_WIDTH"]

SOURCE = Path(__file__).with_name("_scan.c")
NO_WIDTH = -(2 ** 31)  # JK_NO_WIDTH in _scan.c
FLAGS = ["-O3", "-std=c99", "-fPIC", "-shared", "-fno-trapping-math", "-fno-signed-zeros", "-fassociative-math"]
NATIVE_ARCH = "-march=native"
OK, NONFINITE, NOMEM = 0, 1, 2  # jk_scan's return codes

_lock = threading.Lock()
_state: dict = {}


def _cache_dir() -> Path:
    base = os.environ.get("JETSONKIT_CACHE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jetsonkit")
    return Path(base) / "calibrators"


def _compiler() -> str | None:
    for name in (os.environ.get("CC", "").split() or [None])[:1] + ["cc", "gcc", "clang"]:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_identity() -> str:
    """What ``-march=native`` depends on: the CPU model and feature flags (Linux), else the platform's words."""
    try:
        lines = Path("/proc/cpuinfo").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    keep = sorted({line.strip() for line in lines
                   if line.split(":")[0].strip() in ("model name", "flags", "Features", "CPU part", "CPU implementer")})
    return "\n".join(keep) or f"{platform.machine()} {platform.processor()}"


def _version_line(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""


def _build(cc: str, source: bytes, folder: Path) -> Path:
    """Compile to ``folder`` (atomically: a temporary name, then rename); raise RuntimeError with the reason."""
    ident = "\n".join([source.decode(), " ".join(FLAGS), _version_line(cc), _cpu_identity(), sys.platform])
    key = hashlib.sha256(ident.encode()).hexdigest()[:16]
    target = folder / f"scan-{key}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".scan-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        errors = ""
        for flags in (FLAGS + [NATIVE_ARCH], FLAGS):
            cmd = [cc, *flags, "-o", tmp, str(SOURCE), "-lm"]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as exc:
                raise RuntimeError(f"{cc} did not run: {exc}") from exc
            if out.returncode == 0:
                os.replace(tmp, target)
                return target
            errors = (out.stderr or out.stdout).strip().splitlines()
            errors = errors[-1] if errors else f"exit {out.returncode}"
        raise RuntimeError(f"{cc} failed: {errors}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load() -> tuple[object | None, str]:
    if os.environ.get("JETSONKIT_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, "numpy (JETSONKIT_NATIVE=0)"
    cc = _compiler()
    if cc is None:
        return None, "numpy (no C compiler: install gcc, or set CC, for the ~4x faster native scan)"
    source = SOURCE.read_bytes()
    try:
        try:
            path = _build(cc, source, _cache_dir())
        except OSError:  # the cache folder cannot be written: a private one for this process
            path = _build(cc, source, Path(tempfile.mkdtemp(prefix="jetsonkit-calibrators-")))
        lib = ctypes.CDLL(str(path))
    except (RuntimeError, OSError) as exc:
        return None, f"numpy (native scan unavailable: {exc})"
    fn = lib.jk_scan
    fn.restype = ctypes.c_int
    arr = np.ctypeslib.ndpointer
    fn.argtypes = [arr(np.float32, flags="C_CONTIGUOUS"), ctypes.c_int64, ctypes.c_int32,
                   ctypes.POINTER(ctypes.c_int32), arr(np.int64, flags="C_CONTIGUOUS"),
                   arr(np.float64, flags="C_CONTIGUOUS"), ctypes.POINTER(ctypes.c_int64)]
    return fn, f"native ({path})"


def _loaded() -> tuple[object | None, str]:
    key = os.environ.get("JETSONKIT_NATIVE", "1")  # re-decided when the switch changes (tests flip it)
    with _lock:
        if key not in _state:
            _state[key] = _load()
        return _state[key]


def scan_function():
    """``jk_scan`` as a ctypes function, or None when the numpy scan must run (see :func:`status`)."""
    return _loaded()[0]


def status() -> str:
    """Which scan runs, and why: ``"native (<library>)"`` or ``"numpy (<reason>)"``."""
    return _loaded()[1]
