"""What this machine can do: packages, TensorRT, CUDA driver and GPU, sparse tensor cores, DLA.

Everything here is read without importing the heavy packages (``importlib.metadata`` for versions) and without
CUDA beyond the driver API through ctypes (``cuInit``, ``cuDriverGetVersion``, ``cuDeviceGet*`` from
``libcuda.so.1``, as documented in the CUDA Driver API reference). No GPU, no driver, no TensorRT: each is a line
saying so, never a crash. Sparse tensor cores (2:4) exist from compute capability 8.0 (Ampere; NVIDIA, "Accelerating
Sparse Deep Neural Networks", Mishra et al. 2021); DLA exists on Jetson AGX Xavier / Xavier NX / AGX Orin / Orin NX.
"""

from __future__ import annotations

import ctypes
import importlib.metadata as metadata
import importlib.util
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Check", "diagnose", "format_checks", "cpu_name", "machine_summary"]

TENSORRT_HOWTO = ("not installed: on a Jetson it ships with JetPack (sudo apt install nvidia-tensorrt python3-libnvinfer); "
                  "elsewhere use NVIDIA's container nvcr.io/nvidia/tensorrt:<yy.mm>-py3")
# (label, distribution names to try, import name) — versions come from metadata, nothing is imported
_PACKAGES = (
    ("numpy", ("numpy",), "numpy"),
    ("torch", ("torch",), "torch"),
    ("onnx", ("onnx",), "onnx"),
    ("onnxscript", ("onnxscript",), "onnxscript"),
    ("onnx-graphsurgeon", ("onnx-graphsurgeon", "onnx_graphsurgeon"), "onnx_graphsurgeon"),
    ("onnxruntime", ("onnxruntime", "onnxruntime-gpu"), "onnxruntime"),
    ("polygraphy", ("polygraphy",), "polygraphy"),
    ("pycuda", ("pycuda",), "pycuda"),
    ("LiteRT", ("ai-edge-litert", "tflite-runtime"), None),
)
_CU_DEVICE_ATTRIBUTE_CC_MAJOR, _CU_DEVICE_ATTRIBUTE_CC_MINOR = 75, 76


@dataclass
class Check:
    """One line of the doctor's report: ``status`` is "ok", "missing" or "info"."""

    name: str
    status: str
    detail: str


def diagnose() -> list[Check]:
    """All checks, in report order."""
    checks = [Check("python", "ok", f"{platform.python_version()} ({sys.executable}) on {platform.machine()}")]
    checks += [_package_check(*p) for p in _PACKAGES]
    checks.append(_tensorrt_check())
    checks += _cuda_checks()
    checks.append(_jetson_check())
    checks.append(_nvcc_check())
    checks.append(_scan_check())
    return checks


def format_checks(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    mark = {"ok": "ok ", "missing": "-- ", "info": "   "}
    return "\n".join(f"{mark.get(c.status, '   ')} {c.name:<{width}}  {c.detail}" for c in checks)


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def _dist_version(names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _package_check(label: str, dists: tuple[str, ...], module: str | None) -> Check:
    found = _dist_version(dists)
    if found:
        return Check(label, "ok", found[1] if found[0] == dists[0] else f"{found[1]} ({found[0]})")
    if module and importlib.util.find_spec(module) is not None:
        return Check(label, "ok", "installed (version unknown)")
    from ._deps import install_line

    hint = install_line(module) if module else "pip install 'jetsonkit[pi]' (or: pip install ai-edge-litert)"
    return Check(label, "missing", f"not installed: {hint}")


def _tensorrt_check() -> Check:
    found = _dist_version(("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_dispatch"))
    if found:
        return Check("TensorRT", "ok", found[1])
    if importlib.util.find_spec("tensorrt") is not None:  # JetPack installs it without pip metadata
        version = _tensorrt_version_from_file()
        return Check("TensorRT", "ok", version or "installed (version unknown)")
    return Check("TensorRT", "missing", TENSORRT_HOWTO)


def _tensorrt_version_from_file() -> str | None:
    spec = importlib.util.find_spec("tensorrt")
    if not spec or not spec.origin:
        return None
    try:
        text = Path(spec.origin).read_text(errors="ignore")
    except OSError:
        return None
    m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    return m.group(1) if m else None


def _cuda_checks() -> list[Check]:
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return [Check("CUDA driver", "missing", "no NVIDIA driver (libcuda.so.1 not found): CPU-only machine"),
                Check("GPU", "missing", "none: TensorRT engines and GPU kernels need an NVIDIA GPU")]
    version = ctypes.c_int(0)
    if cuda.cuInit(0) != 0:
        return [Check("CUDA driver", "missing", "libcuda.so.1 found but cuInit failed (driver/GPU not usable)"),
                Check("GPU", "missing", "none usable")]
    cuda.cuDriverGetVersion(ctypes.byref(version))
    v = version.value
    checks = [Check("CUDA driver", "ok", f"CUDA {v // 1000}.{(v % 1000) // 10}")]
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return checks + [Check("GPU", "missing", "driver present, no GPU")]
    for i in range(count.value):
        checks += _device_checks(cuda, i)
    return checks


def _device_checks(cuda, index: int) -> list[Check]:
    dev = ctypes.c_int(0)
    cuda.cuDeviceGet(ctypes.byref(dev), index)
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, dev)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_CC_MAJOR, dev)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_CC_MINOR, dev)
    sm = f"sm_{major.value}{minor.value}"
    sparse = "yes" if major.value >= 8 else "no (needs sm_80 or newer)"
    return [Check(f"GPU {index}", "ok", f"{name.value.decode(errors='replace')}, compute capability "
                                        f"{major.value}.{minor.value} ({sm})"),
            Check(f"GPU {index} 2:4 sparse tensor cores", "ok" if major.value >= 8 else "info", sparse)]


def _jetson_check() -> Check:
    model = None
    for p in ("/proc/device-tree/model", "/sys/firmware/devicetree/base/model"):
        try:
            model = Path(p).read_text(errors="ignore").strip("\x00\n ")
            break
        except OSError:
            continue
    release = Path("/etc/nv_tegra_release")
    if not (model and "jetson" in model.lower()) and not release.exists():
        return Check("Jetson / DLA", "info", "not a Jetson: no DLA")
    has_dla = bool(model) and any(k in model.lower() for k in ("xavier", "agx orin", "orin nx"))
    dla = "DLA cores expected (AGX/NX module)" if has_dla else "no DLA on this module (or unknown)"
    return Check("Jetson / DLA", "ok", f"{model or 'Jetson (L4T)'}: {dla}")


def _nvcc_check() -> Check:
    nvcc = shutil.which("nvcc") or next((str(p) for p in (Path("/usr/local/cuda/bin/nvcc"),) if p.exists()), None)
    if not nvcc:
        return Check("nvcc", "missing", "not found (only needed to compile-check the CUDA pre-processing kernels)")
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return Check("nvcc", "missing", f"{nvcc} does not run: {exc}")
    m = re.search(r"release ([\d.]+)", out)
    return Check("nvcc", "ok", f"{m.group(1) if m else 'unknown version'} ({nvcc})")


def _scan_check() -> Check:
    """Which histogram scan calibration uses: the C one (built on first use with the C compiler) or numpy's."""
    import calibrators

    native = calibrators.native_scan()
    return Check("calibration scan", "ok" if native else "info", calibrators.scan_status())


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary() -> str:
    """One line for benchmark reports: CPU model, cores, Python version."""
    import os

    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"

