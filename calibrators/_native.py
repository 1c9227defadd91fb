"""The native histogram scan (``_scan.c``): compiled at run time with the C compiler present, loaded with ctypes.

Why: the numpy scan reads every value about ten times (min, max, zeros, two sums, index, offset, bincount) and
costs ~3.3 ns per value on a 2-core EPYC; the C scan reads it once, ~0.9 ns (``scripts/bench/calibrate.py``). The
numpy code stays the reference: both paths give the same counts bit for bit (tests/calibrators/test_native.py).

Build: ``$CC`` (split as the shell would, so ``ccache gcc`` works; else ``cc``, ``gcc``, ``clang``) with
``-O3 -march=native`` (retried without ``-march=native`` when the compiler rejects it), plus the reassociation
flags that let it vectorise the sums. No Python headers are needed, so a bare L4T container or Raspberry Pi OS
with ``gcc`` is enough. The library is cached under ``$JETSONKIT_CACHE_DIR`` (default ``$XDG_CACHE_HOME/jetsonkit``
or ``~/.cache/jetsonkit``) in ``calibrators/``, keyed by the source, the compiler command and flags, the compiler's
version line and this CPU (``-march=native`` code must not load on another CPU sharing the home directory).
Written atomically, readable by all who share the cache; a cache folder that cannot be written, or a cached
library that does not load, falls back to a private folder removed at exit.

``JETSONKIT_NATIVE=0`` turns it off (the numpy scan runs); no compiler, a failed build or any other failure here
does the same (calibration never fails because of this module), and :func:`status` says why. Nothing here imports
jetsonkit.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import platform
import shlex
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


class _BuildError(Exception):
    """The compiler ran and failed (or did not run): retrying elsewhere would not help."""


def _cache_dir() -> Path:
    base = os.environ.get("JETSONKIT_CACHE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jetsonkit")
    return Path(base) / "calibrators"


def _compiler() -> list[str] | None:
    """The compiler command: ``$CC`` as the shell would split it (``ccache gcc`` works), else cc / gcc / clang."""
    words = shlex.split(os.environ.get("CC", ""))
    if words and shutil.which(words[0]):
        return [shutil.which(words[0]), *words[1:]]
    for name in ("cc", "gcc", "clang"):
        if shutil.which(name):
            return [shutil.which(name)]
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


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise _BuildError(f"{' '.join(cmd[:1])} did not run: {exc}") from exc


def _key(cc: list[str], source: bytes, flags: list[str] = FLAGS) -> str:
    version = _run([*cc, "--version"])
    first = (version.stdout or version.stderr).splitlines()[:1]
    ident = "\n".join([source.decode(errors="replace"), " ".join(cc), " ".join(flags), *first, _cpu_identity(),
                       sys.platform])
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _build(cc: list[str], source: bytes, folder: Path, key: str, *, path: Path = SOURCE, flags: list[str] = FLAGS,
           name: str = "scan") -> Path:
    """Compile ``path`` to ``folder`` (atomically: a temporary name, then rename); _BuildError says why it failed.
    (Also used by jetsonkit.preprocess._native for its own source, flags and name.)"""
    target = folder / f"{name}-{key}.so"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        error = ""
        for attempt in (flags + [NATIVE_ARCH], flags):
            out = _run([*cc, *attempt, "-o", tmp, str(path), "-lm"])
            if out.returncode == 0:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o755 & ~umask)  # mkstemp made it 0600: others sharing the cache must load it too
                os.replace(tmp, target)
                return target
            lines = (out.stderr or out.stdout).strip().splitlines()
            error = lines[-1] if lines else f"exit {out.returncode}"
        raise _BuildError(f"{cc[0]} failed: {error}")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _private_folder() -> Path:
    """A folder for this process alone, removed at exit (the library stays mapped after its file is gone)."""
    folder = Path(tempfile.mkdtemp(prefix="jetsonkit-calibrators-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _open(path: Path):
    fn = ctypes.CDLL(str(path)).jk_scan
    fn.restype = ctypes.c_int
    arr = np.ctypeslib.ndpointer
    fn.argtypes = [arr(np.float32, flags="C_CONTIGUOUS,ALIGNED"), ctypes.c_int64, ctypes.c_int32,
                   ctypes.POINTER(ctypes.c_int32), arr(np.int64, flags="C_CONTIGUOUS"),
                   arr(np.float64, flags="C_CONTIGUOUS"), ctypes.POINTER(ctypes.c_int64)]
    return fn


def _load() -> tuple[object | None, str]:
    if os.environ.get("JETSONKIT_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, "numpy (JETSONKIT_NATIVE=0)"
    cc = _compiler()
    if cc is None:
        return None, "numpy (no C compiler: install gcc, or set CC, for the ~3.5x faster native scan)"
    try:
        source = SOURCE.read_bytes()
        key = _key(cc, source)
        try:
            path = _build(cc, source, _cache_dir(), key)
        except (OSError, RuntimeError):  # no usable cache folder (unwritable, or no home directory)
            path = _build(cc, source, _private_folder(), key)
        try:
            return _open(path), f"native ({path})"
        except OSError:  # a damaged cached library: build a fresh one for this process
            path = _build(cc, source, _private_folder(), key)
            return _open(path), f"native ({path})"
    except Exception as exc:  # noqa: BLE001 - any failure here means: run the numpy scan, and say why
        return None, f"numpy (native scan unavailable: {exc})"


def _loaded() -> tuple[object | None, str]:
    # re-decided when a setting changes (tests flip them; a long-lived process may too)
    key = tuple(os.environ.get(k, "") for k in ("JETSONKIT_NATIVE", "CC", "JETSONKIT_CACHE_DIR", "XDG_CACHE_HOME"))
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
