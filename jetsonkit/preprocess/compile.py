"""Compile ``kernels/preprocess.cu`` for the GPU present, and cache the binary per compute capability.

Compilers, in order: NVRTC (``libnvrtc``, loaded with ctypes from the CUDA toolkit, JetPack, or the
``nvidia-cuda-nvrtc`` wheel) and ``nvcc``. The cubin is cached under ``$JETSONKIT_CACHE_DIR`` (default
``$XDG_CACHE_HOME/jetsonkit`` or ``~/.cache/jetsonkit``) in ``kernels/``, keyed by the source's SHA-256, the
compiler and its version, and the target (``sm_87``): a changed kernel or toolkit never loads a stale binary.
NVRTC calls follow the NVRTC user guide (nvrtcCreateProgram, nvrtcCompileProgram, nvrtcGetCUBIN).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .._io import sha256_bytes, write_bytes_atomic
from ..errors import BackendError, UnsupportedError

KERNEL_FILE = "preprocess.cu"


def kernel_dir() -> Path:
    """The folder of the ``.cu`` sources: ``$JETSONKIT_KERNELS_DIR``; else ``jetsonkit._kernels``, which an installed
    jetsonkit (wheel or editable) maps onto the repository's kernels/ folder; else kernels/ beside jetsonkit/ (a
    source checkout on ``PYTHONPATH``)."""
    if os.environ.get("JETSONKIT_KERNELS_DIR"):
        return Path(os.environ["JETSONKIT_KERNELS_DIR"])
    import importlib.util

    try:
        spec = importlib.util.find_spec("jetsonkit._kernels")
    except ImportError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "kernels"


def kernel_path() -> Path:
    """The kernel source (see :func:`kernel_dir`)."""
    path = kernel_dir() / KERNEL_FILE
    if not path.is_file():
        raise UnsupportedError(f"kernel source {path} not found",
                               hint="reinstall jetsonkit (jetsonkit._kernels ships the .cu files) or set JETSONKIT_KERNELS_DIR")
    return path


def cache_dir() -> Path:
    base = os.environ.get("JETSONKIT_CACHE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jetsonkit")
    path = Path(base) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _nvrtc_candidates() -> list[str]:
    names = [os.environ.get("JETSONKIT_NVRTC", ""), ctypes.util.find_library("nvrtc") or ""]
    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", ""), "/usr/local/cuda"]
    for root in filter(None, roots):
        names += sorted(glob.glob(f"{root}/lib64/libnvrtc.so*"))
        names += sorted(glob.glob(f"{root}/targets/*/lib/libnvrtc.so*"))
    for site in sys.path:  # the nvidia-cuda-nvrtc wheels (cu12: nvidia/cuda_nvrtc/lib, cu13: nvidia/cu13/lib)
        names += sorted(glob.glob(f"{site}/nvidia/cuda_nvrtc/lib/libnvrtc.so*"))
        names += sorted(glob.glob(f"{site}/nvidia/cu1*/lib/libnvrtc.so*"))
    return [n for n in names if n and "alt" not in os.path.basename(n) and "builtins" not in n]


@functools.lru_cache(maxsize=1)
def nvrtc() -> ctypes.CDLL | None:
    """libnvrtc, or None when no copy is found."""
    for name in _nvrtc_candidates():
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def nvrtc_version(lib: ctypes.CDLL) -> str:
    major, minor = ctypes.c_int(), ctypes.c_int()
    lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor))
    return f"{major.value}.{minor.value}"


def compile_nvrtc(lib: ctypes.CDLL, source: bytes, target: str) -> bytes:
    """``target`` 'sm_XY' -> cubin, 'compute_XY' -> PTX (NUL-terminated, as cuModuleLoadData wants)."""
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source, KERNEL_FILE.encode(), 0, None, None)
    if rc:
        raise BackendError(f"nvrtcCreateProgram failed with error {rc}")
    try:
        opts = [f"--gpu-architecture={target}".encode()]
        rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if rc:
            first = log.value.decode(errors="replace").strip().splitlines()[:1]
            raise BackendError(f"NVRTC could not compile {KERNEL_FILE} for {target}: {first[0] if first else rc}",
                               hint="an edited kernel must compile with NVRTC; "
                               "a GPU newer than this NVRTC needs a newer CUDA toolkit")
        kind = "CUBIN" if target.startswith("sm_") else "PTX"
        getattr(lib, f"nvrtcGet{kind}Size")(prog, ctypes.byref(size))
        out = ctypes.create_string_buffer(size.value)
        getattr(lib, f"nvrtcGet{kind}")(prog, out)
        return out.raw
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def nvcc_path() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for root in filter(None, [os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]):
        if os.access(f"{root}/bin/nvcc", os.X_OK):
            return f"{root}/bin/nvcc"
    return None


def nvcc_version(nvcc: str) -> str:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    return out.strip().splitlines()[-1] if out.strip() else "unknown"


def compile_nvcc(nvcc: str, source_path: Path, target: str, out_path: Path | None = None,
                 extra_flags: tuple[str, ...] = ()) -> bytes:
    """``target`` 'sm_XY' -> cubin, 'compute_XY' -> PTX, via ``nvcc -cubin`` / ``nvcc -ptx``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = out_path or Path(tmp) / "kernel.bin"
        kind = "-cubin" if target.startswith("sm_") else "-ptx"
        cmd = [nvcc, kind, f"-arch={target}", *extra_flags, "-o", str(out), str(source_path)]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if run.returncode:
            first = (run.stderr or run.stdout).strip().splitlines()[:1]
            why = first[0] if first else f"exit {run.returncode}"
            raise BackendError(f"nvcc could not compile {source_path} for {target}: {why}", hint=" ".join(cmd))
        data = out.read_bytes()
    return data + b"\0" if kind == "-ptx" else data


def _compilers(path: Path, source: bytes, target: str) -> list[tuple[str, object]]:
    """(compiler id with version, zero-argument compile function) for every compiler found, NVRTC first."""
    found = []
    lib = nvrtc()
    if lib is not None:
        found.append((f"nvrtc-{nvrtc_version(lib)}", lambda: compile_nvrtc(lib, source, target)))
    nvcc = nvcc_path()
    if nvcc is not None:
        found.append((f"nvcc-{nvcc_version(nvcc)}", lambda: compile_nvcc(nvcc, path, target)))
    return found


def kernel_binary(target: str) -> bytes:
    """The compiled kernels for ``target`` ('sm_87'), from the cache or freshly compiled (then cached)."""
    path = kernel_path()
    source = path.read_bytes()
    compilers = _compilers(path, source, target)
    if not compilers:
        raise UnsupportedError("no CUDA compiler found to build the pre-processing kernels (neither libnvrtc nor nvcc)",
                               hint="install the CUDA toolkit (JetPack has it) or pip install nvidia-cuda-nvrtc")
    errors = []
    for compiler, build in compilers:
        key = sha256_bytes(source + b"\0" + compiler.encode() + b"\0" + target.encode())[:16]
        cached = cache_dir() / f"preprocess-{key}-{target}.{'cubin' if target.startswith('sm_') else 'ptx'}"
        if cached.is_file():
            return cached.read_bytes()
        try:
            data = build()
        except BackendError as exc:  # try the next compiler; report all if none works
            errors.append(str(exc))
            continue
        write_bytes_atomic(cached, data)
        return data
    raise BackendError("; ".join(errors))
