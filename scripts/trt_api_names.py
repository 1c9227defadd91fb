#!/usr/bin/env python3
"""Extract the Python API names of real TensorRT binding wheels into jetsonkit/engine/trt_api/<version>.txt.

The wheels (FACTS.md) are small, and their compiled module ``tensorrt_bindings/tensorrt.so`` needs libnvinfer to
import, but every class / method / property / enum name pybind11 registers is a C string in it. This script does
what ``strings -n 3`` does (runs of printable ASCII) and keeps identifier-like runs, dropping C++ mangled symbols.
Note: linkers merge a string that is the tail of another (``INT8`` inside ``UINT8``), so a name can be present in
the API yet appear only as a suffix of a listed string; the API-surface test accounts for that.

Usage: scripts/trt_api_names.py [--wheel-dir DIR]   (downloads with `pip download --no-deps` when DIR lacks them)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = {  # list name -> pip requirement
    "8.6": "tensorrt-bindings==8.6.1",
    "10.3": "tensorrt-cu12-bindings==10.3.0",
    "10.16": "tensorrt-cu12-bindings==10.16.1.11",
    "11.4": "tensorrt-cu13-bindings==11.4.0.106",
}
OUT = Path(__file__).resolve().parents[1] / "jetsonkit" / "engine" / "trt_api"
_RUN = re.compile(rb"[\x20-\x7e]{3,}")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{2,63}$")
_MANGLED = re.compile(r"nvinfer|pybind|^_Z|^_|^N\d|^P?F[vN]|^St\d|^GLIBC|^CXXABI|^GCC|^Py[A-Z]")


_DOC_REF = re.compile(r":class:`([A-Za-z_]\w*)`|\b([A-Z][A-Za-z0-9]+)\.([A-Za-z_]\w*)")


def api_names(blob: bytes) -> list[str]:
    """Identifier-like printable runs of a compiled module, plus the API names its docstrings cite
    (``:class:`DataType``` and ``DataType.FLOAT``: a class whose registration string was tail-merged still shows
    there), sorted, without mangled C++ symbols."""
    runs = [m.group().decode() for m in _RUN.finditer(blob)]
    names = {r for r in runs if _IDENT.match(r)}
    for run in runs:
        for m in _DOC_REF.finditer(run):
            names.update(g for g in m.groups() if g and _IDENT.match(g))
    return sorted(n for n in names if not _MANGLED.search(n))


def module_bytes(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if re.search(r"tensorrt_bindings/tensorrt[^/]*\.so$", n))
        return zf.read(member)


def python_names(wheel: Path) -> list[str]:
    """Public functions and names the package's own ``__init__.py`` defines (e.g. ``nptype``, ``volume``)."""
    import ast

    with zipfile.ZipFile(wheel) as zf:
        init = next((n for n in zf.namelist() if n.endswith("tensorrt_bindings/__init__.py")), None)
        if init is None:
            return []
        tree = ast.parse(zf.read(init).decode("utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return sorted(n for n in names if not n.startswith("_"))


def find_or_download(req: str, wheel_dir: Path) -> Path:
    dist, version = req.split("==")
    pattern = f"{dist.replace('-', '_')}-{version}-*.whl"
    found = sorted(wheel_dir.glob(pattern))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", req, "-d", str(wheel_dir)], check=True)
        found = sorted(wheel_dir.glob(pattern))
    if not found:
        sys.exit(f"trt_api_names: no wheel matching {pattern} in {wheel_dir}")
    return found[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel-dir", type=Path, help="folder holding (or receiving) the wheels; default: a temp folder")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = args.wheel_dir or Path(tmp)
        for name, req in WHEELS.items():
            wheel = find_or_download(req, wheel_dir)
            names = sorted(set(api_names(module_bytes(wheel))) | set(python_names(wheel)))
            header = (f"# {req} ({wheel.name}): identifier-like strings of tensorrt_bindings/tensorrt.so"
                      " + public names of tensorrt_bindings/__init__.py\n")
            (OUT / f"{name}.txt").write_text(header + "\n".join(names) + "\n")
            print(f"{name}: {len(names)} names from {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
