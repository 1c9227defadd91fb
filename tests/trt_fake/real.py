"""The real TensorRT binding modules on a CPU machine: wheels from PyPI (cached), stub libraries compiled here
(scripts/trt_api_dump.py), the module imported in a subprocess. Test support only."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wheel_cache() -> Path:
    """Where downloaded binding wheels are kept between runs ($JETSONKIT_TRT_WHEELS, else the jetsonkit cache)."""
    if os.environ.get("JETSONKIT_TRT_WHEELS"):
        return Path(os.environ["JETSONKIT_TRT_WHEELS"])
    base = os.environ.get("JETSONKIT_CACHE_DIR") or Path.home() / ".cache" / "jetsonkit"
    return Path(base) / "trt-wheels"


def dump_script():
    spec = importlib.util.spec_from_file_location("trt_api_dump", ROOT / "scripts" / "trt_api_dump.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class RealBindings:
    """``run(version, code)``: stdout of ``code`` run with the real ``tensorrt_bindings`` of that version."""

    def __init__(self, work: Path):
        self.work, self.mod, self._ready = work, dump_script(), {}
        wheel_cache().mkdir(parents=True, exist_ok=True)

    def env(self, version: str) -> dict:
        if version not in self._ready:
            root, stubs = self.mod.prepare(version, wheel_cache(), self.work)
            self._ready[version] = self.mod.real_module_env(root, stubs)
            self._ready[version]["PYTHONPATH"] += os.pathsep + str(ROOT)
        return self._ready[version]

    def run(self, version: str, code: str) -> str:
        proc = subprocess.run([sys.executable, "-c", code], env=self.env(version), capture_output=True, text=True,
                              timeout=120)
        if proc.returncode:
            raise AssertionError(f"real TensorRT {version} bindings: {proc.stderr.strip()[-2000:]}")
        return proc.stdout
