"""The machine an engine is built on or loaded on: GPU name, compute capability, DLA cores, JetPack / L4T release.

GPU facts come from the CUDA driver API through ctypes (``cuDeviceGetName``, ``cuDeviceGetAttribute`` with
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75 / MINOR = 76, CUDA Driver API reference), so no Python CUDA
package is needed; nothing here creates a TensorRT runtime (one needs a GPU driver).
The L4T release is read from ``/etc/nv_tegra_release`` (first line ``# R36 (release), REVISION: 4.0, ...``).
"""

from __future__ import annotations

import ctypes
import os
import re
from dataclasses import asdict, dataclass

__all__ = ["MachineInfo", "parse_nv_tegra_release", "detect_machine", "JETPACK_OF_L4T"]

# L4T major -> JetPack (NVIDIA's JetPack pages, see docs/tensorrt.md): R35.x = JetPack 5.x, R36.x = JetPack 6.x,
# R38.2 = JetPack 7.0 and R38.4 = 7.1 (Thor), R39.x = JetPack 7.2 (Orin and Thor)
JETPACK_OF_L4T = {"35": "5", "36": "6", "38": "7", "39": "7.2"}


@dataclass
class MachineInfo:
    gpu_name: str | None = None
    compute_capability: str | None = None  # "8.7"
    total_memory: int | None = None  # bytes of GPU memory (on Jetson: the shared RAM)
    dla_cores: int | None = None  # None: not known (no TensorRT builder asked)
    l4t_release: str | None = None  # "36.4.0"
    jetpack: str | None = None

    @property
    def is_jetson(self) -> bool:
        return self.l4t_release is not None

    def to_dict(self) -> dict:
        return asdict(self)


_TEGRA_RE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


def parse_nv_tegra_release(text: str) -> str | None:
    """``# R36 (release), REVISION: 4.0, GCID: ...`` -> ``"36.4.0"``; None when the text has no release line."""
    m = _TEGRA_RE.search(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _cuda_gpu() -> tuple[str | None, str | None, int | None]:
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None, None, None
    dev, major, minor, mem = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_size_t()
    name = ctypes.create_string_buffer(256)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(dev), 0) != 0:
        return None, None, None
    cuda.cuDeviceGetName(name, 256, dev)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)
    total = mem.value if cuda.cuDeviceTotalMem_v2(ctypes.byref(mem), dev) == 0 else None
    return name.value.decode(errors="replace"), f"{major.value}.{minor.value}", total


def detect_machine(tegra_release_path: str = "/etc/nv_tegra_release", dla_cores: int | None = None) -> MachineInfo:
    """Describe this machine; GPU fields stay None where there is no driver."""
    gpu, cc, total = _cuda_gpu()
    release = None
    if os.path.exists(tegra_release_path):
        with open(tegra_release_path, encoding="utf-8", errors="replace") as f:
            release = parse_nv_tegra_release(f.read())
    jetpack = JETPACK_OF_L4T.get(release.split(".")[0]) if release else None
    return MachineInfo(gpu, cc, total, dla_cores, release, jetpack)
