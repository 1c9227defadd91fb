#!/usr/bin/env python3
"""Dump the Python API of the real TensorRT binding wheels into jetsonkit/engine/trt_api/<version>.json.

The compiled module in each bindings wheel (``tensorrt_bindings/tensorrt.so``, CPython 3.11) links about ten C
entry points of libnvinfer / libnvonnxparser / libnvinfer_plugin (``nm -D --undefined-only`` lists them; 8.x adds
the UFF / Caffe parser ones). Stub shared libraries that export exactly those symbols (each returns NULL), compiled
here with the machine's C compiler, let the *real* module import on a machine without TensorRT or a GPU. Nothing
can be built or run (every factory returns NULL, so ``trt.Builder(...)`` raises TypeError), but pybind11's
``__doc__`` gives every overload signature, properties say whether they are writable, enums list their members,
and the trampoline base classes (ILogger, IProgressMonitor, IInt8EntropyCalibrator2, IOutputAllocator) are the
real ones.

Usage:
  scripts/trt_api_dump.py [--wheel-dir DIR] [--only 10.3] [--check]   # --check: compare with the committed JSON
The import itself runs in a subprocess (``--dump-into``), so this process never loads the stubs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = {  # dump name -> pip requirement (cp311, x86_64)
    "8.6": "tensorrt-bindings==8.6.1",
    "10.3": "tensorrt-cu12-bindings==10.3.0",
    "10.16": "tensorrt-cu12-bindings==10.16.1.11",
    "11.4": "tensorrt-cu13-bindings==11.4.0.106",
}
OUT = Path(__file__).resolve().parents[1] / "jetsonkit" / "engine" / "trt_api"
# C entry points the modules link (read with nm when it is installed; this list when not)
_ENTRY = re.compile(r"(_INTERNAL$|^get(Builder)?PluginRegistry$|^getNvOnnxParserVersion$|^initLibNvInferPlugins$"
                    r"|nvuffparser|nvcaffeparser)")
KNOWN_SYMBOLS = ("createInferBuilder_INTERNAL", "createInferRuntime_INTERNAL", "createInferRefitter_INTERNAL",
                 "createNvOnnxParser_INTERNAL", "createNvOnnxParserRefitter_INTERNAL", "getPluginRegistry",
                 "getBuilderPluginRegistry", "getNvOnnxParserVersion", "initLibNvInferPlugins",
                 "_ZN11nvuffparser15createUffParserEv", "_ZN11nvuffparser8FieldMapC1EPKcPKvNS_9FieldTypeEi",
                 "_ZN14nvcaffeparser117createCaffeParserEv", "_ZN14nvcaffeparser123shutdownProtobufLibraryEv")
_LIBS = ("libnvinfer", "libnvonnxparser", "libnvinfer_plugin", "libnvparsers")


# ---- wheels and stubs --------------------------------------------------------------------------------------------
def find_or_download(req: str, wheel_dir: Path) -> Path:
    """The wheel for ``req`` in ``wheel_dir``, downloaded with ``pip download --no-deps`` when missing."""
    dist, version = req.split("==")
    pattern = f"{dist.replace('-', '_')}-{version}-cp311-*.whl"
    found = sorted(wheel_dir.glob(pattern))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--platform",
                        "manylinux_2_17_x86_64", req, "-d", str(wheel_dir)], check=True, stdout=subprocess.DEVNULL)
        found = sorted(wheel_dir.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no wheel matching {pattern} in {wheel_dir}")
    return found[0]


def unpack(wheel: Path, into: Path) -> Path:
    """Extract the ``tensorrt_bindings`` package; return the folder to put on sys.path."""
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(into, [n for n in zf.namelist() if n.startswith("tensorrt_bindings/")])
    return into


def linked_symbols(module: Path) -> list[str]:
    """The TensorRT C symbols ``module`` needs (``nm -D --undefined-only``), or the known list without nm."""
    if shutil.which("nm") is None:
        return list(KNOWN_SYMBOLS)
    out = subprocess.run(["nm", "-D", "--undefined-only", str(module)], check=True, capture_output=True, text=True)
    return sorted({line.split()[-1] for line in out.stdout.splitlines()
                   if line.split() and line.split()[0] == "U" and _ENTRY.search(line.split()[-1])})


def build_stubs(module: Path, major: int, into: Path) -> Path:
    """Compile one stub .so per TensorRT library soname the module needs, all exporting its symbols as NULL."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler (cc / gcc) to build the TensorRT stub libraries")
    into.mkdir(parents=True, exist_ok=True)
    src = into / "stub.c"
    src.write_text("/* stand-ins for the TensorRT entry points: every one returns NULL */\n"
                   + "".join(f"void *{name}(void) {{ return 0; }}\n" for name in linked_symbols(module)))
    for lib in _LIBS:
        soname = f"{lib}.so.{major}"
        subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(into / soname), str(src)],
                       check=True, capture_output=True)
    return into


def prepare(name: str, wheel_dir: Path, work: Path) -> tuple[Path, Path]:
    """(sys.path folder, stub library folder) for dump ``name``."""
    wheel = find_or_download(WHEELS[name], wheel_dir)
    root = unpack(wheel, work / name / "site")
    stubs = build_stubs(root / "tensorrt_bindings" / "tensorrt.so", int(name.split(".")[0]), work / name / "stubs")
    return root, stubs


def real_module_env(root: Path, stubs: Path) -> dict:
    """Environment for a subprocess that imports the real bindings (``import tensorrt_bindings``)."""
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{stubs}{os.pathsep}{env.get('LD_LIBRARY_PATH', '')}"
    env["PYTHONPATH"] = f"{root}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


# ---- the dump (runs inside the subprocess) -----------------------------------------------------------------------
_QUAL = re.compile(r"tensorrt_bindings\.tensorrt\.")
_SIG = re.compile(r"^(?:\d+\.\s+)?([A-Za-z_]\w*)\((.*)\)\s*->\s*(.+?)\s*$")
_DEF = re.compile(r"(?m)^\s*def\s+([A-Za-z_]\w*)\(([^)]*)\)\s*:")


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse_signatures(doc: str | None, name: str, bound: bool = True) -> list[dict]:
    """pybind11 docstring -> [{"args": [{"name", "type", "default"?}], "returns"}] (``self`` dropped when bound)."""
    sigs = []
    for line in (doc or "").splitlines():
        m = _SIG.match(_QUAL.sub("", line.strip()))
        if not m or m.group(1) != name or m.group(2).strip() == "*args, **kwargs":
            continue
        args = []
        for part in split_top(m.group(2)):
            arg_name, _, rest = part.partition(":")
            arg_type, eq, default = rest.partition("=")
            arg = {"name": arg_name.strip(), "type": arg_type.strip() or "object"}
            if eq:
                arg["default"] = default.strip()
            args.append(arg)
        if bound and args:
            args = args[1:]
        sigs.append({"args": args, "returns": m.group(3)})
    return sigs


def _returns(doc: str | None) -> str:
    m = re.search(r"->\s*(.+)$", _QUAL.sub("", (doc or "").strip().splitlines()[0] if doc else ""))
    return m.group(1).strip() if m else "object"


def _is_enum(cls: type) -> bool:
    return hasattr(cls, "__members__") and isinstance(getattr(cls, "__members__"), dict)


def dump_class(cls: type, qualname: str, classes: dict, module: object) -> None:
    entry: dict = {"bases": [b.__qualname__ for b in cls.__bases__ if b.__module__.startswith("tensorrt")]}
    if _is_enum(cls):
        entry["enum"] = {k: int(v) for k, v in cls.__members__.items()}
    methods, statics, props, consts, nested = {}, {}, {}, {}, []
    for attr, value in vars(cls).items():
        if attr.startswith("__") and attr != "__init__":
            continue
        if isinstance(value, type):
            nested.append((attr, value))
        elif isinstance(value, property):
            props[attr] = {"type": _returns(value.fget.__doc__ if value.fget else None), "writable": value.fset is not None}
        elif isinstance(value, staticmethod):
            statics[attr] = parse_signatures(value.__func__.__doc__, attr, bound=False)
        elif callable(value) and type(value).__name__ in ("instancemethod", "builtin_function_or_method", "function"):
            doc = getattr(value, "__doc__", None)
            if attr == "__init__" or not attr.startswith("_"):
                methods[attr] = parse_signatures(doc, attr) if doc else []
        elif type(value).__module__.startswith("tensorrt") and _is_enum(type(value)):
            consts[attr] = [type(value).__qualname__, int(value)]
        elif isinstance(value, (int, float, str)) and not attr.startswith("_") and "enum" not in entry:
            consts[attr] = [type(value).__name__, value]
    entry.update(methods=methods, static=statics, properties=props, constants=consts)
    hooks = {}
    for m in _DEF.finditer(cls.__doc__ or ""):
        params = [p.strip() for p in m.group(2).split(",") if p.strip()]
        hooks[m.group(1)] = params[1:] if params and params[0] == "self" else params
    if hooks:
        entry["python_overrides"] = hooks  # what the class doc shows a Python subclass implementing
    classes[qualname] = entry
    for attr, value in nested:
        if value.__module__.startswith("tensorrt") and value.__qualname__ == f"{cls.__qualname__}.{attr}":
            dump_class(value, f"{qualname}.{attr}", classes, module)


def dump_module(mod: object) -> dict:
    classes: dict = {}
    functions, python_functions, constants = {}, {}, {}
    for name, value in sorted(vars(mod).items()):
        if name.startswith("_") and name != "__version__":
            continue
        if isinstance(value, type) and value.__module__.startswith("tensorrt"):
            if value.__qualname__ == name:
                dump_class(value, name, classes, mod)
        elif type(value).__name__ == "builtin_function_or_method":
            functions[name] = parse_signatures(value.__doc__, name, bound=False)
        elif inspect.isfunction(value) and value.__module__.startswith("tensorrt"):
            python_functions[name] = [p.name for p in inspect.signature(value).parameters.values()]
        elif type(value).__module__.startswith("tensorrt") and _is_enum(type(value)):
            constants[name] = [type(value).__qualname__, int(value)]
    return {"version": mod.__version__, "functions": functions, "python_functions": python_functions,
            "constants": constants, "classes": classes}


# ---- driver --------------------------------------------------------------------------------------------------------
def dump_version(name: str, wheel_dir: Path, work: Path) -> dict:
    root, stubs = prepare(name, wheel_dir, work)
    out = work / name / "dump.json"
    subprocess.run([sys.executable, __file__, "--dump-into", str(out)], env=real_module_env(root, stubs), check=True)
    data = json.loads(out.read_text())
    data["wheel"] = WHEELS[name]
    return data


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel-dir", type=Path, help="folder holding (or receiving) the wheels; default: a temp folder")
    ap.add_argument("--only", choices=list(WHEELS), action="append", help="dump only these versions")
    ap.add_argument("--check", action="store_true", help="compare with the committed JSON instead of writing it")
    ap.add_argument("--dump-into", type=Path, help=argparse.SUPPRESS)  # internal: the subprocess side
    args = ap.parse_args()
    if args.dump_into:
        import tensorrt_bindings

        write_json(args.dump_into, dump_module(tensorrt_bindings))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    status = 0
    with tempfile.TemporaryDirectory(prefix="trt-api-") as tmp:
        wheel_dir = args.wheel_dir or Path(tmp) / "wheels"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        for name in args.only or WHEELS:
            data = dump_version(name, wheel_dir, Path(tmp))
            target = OUT / f"{name}.json"
            if args.check:
                same = json.loads(target.read_text()) == data
                print(f"{name}: {'same as' if same else 'DIFFERS from'} {target}")
                status |= not same
            else:
                write_json(target, data)
                print(f"{name}: {len(data['classes'])} classes from {data['wheel']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
