"""``jetsonkit inspect model.engine``: what an engine holds and whether it runs here.

From the sidecar (any machine): TensorRT version, GPU, JetPack, build spec, build report, rebuild command; and the
compatibility verdict against this machine. From TensorRT itself (only where TensorRT and a GPU driver exist: a
TensorRT Runtime must never be created without a driver): I/O tensors, optimization profiles, and per-layer
precision and tactic from the engine inspector — what ``polygraphy inspect model`` / trtexec's
``--dumpLayerInfo`` show.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._deps import available
from ..errors import IncompatibleArtifactError, InputError
from ..engine.machine import detect_machine
from ..engine.sidecar import build_spec_of, check_compatible, read_sidecar, sidecar_path

__all__ = ["inspect_engine", "inspection_text"]


def _verdict(sidecar: dict | None, trt_version: str | None, machine: Any) -> dict:
    if trt_version is None:
        return {"runs_here": None, "why": "TensorRT is not installed here"}
    if sidecar is None:
        return {"runs_here": None, "why": "no sidecar: TensorRT version and GPU cannot be compared before loading"}
    if machine.gpu_name is None:
        return {"runs_here": False, "why": "no NVIDIA GPU driver here"}
    gpu = {"name": machine.gpu_name, "compute_capability": machine.compute_capability}
    try:
        notes = check_compatible(sidecar, trt_version, gpu, jetson=machine.is_jetson)
    except IncompatibleArtifactError as exc:
        return {"runs_here": False, "why": str(exc)}
    return {"runs_here": True, "why": "; ".join(notes) or f"same TensorRT {trt_version} and GPU"}


def _from_tensorrt(trt: Any, path: Path, sidecar: dict | None) -> dict:
    from ..engine.loading import load_engine
    from ..engine.report import parse_inspector_json
    from .tensorrt_backend import read_engine_io

    spec = build_spec_of(sidecar)
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    engine = load_engine(trt, runtime, path.read_bytes(),
                         version_compatible="VERSION_COMPATIBLE" in (spec.get("builder_flags") or []),
                         dla_core=(spec.get("dla") or {}).get("core"), logger=logger)
    if engine is None:
        return {"loaded": False}
    io = read_engine_io(trt, engine)
    tensors = [{"name": t.name, "mode": "input" if t.is_input else "output", "dtype": str(t.dtype),
                "shape": list(t.shape),
                "profiles": [{"min": list(p.min), "opt": list(p.opt), "max": list(p.max)} for p in t.profiles]}
               for t in io.tensors]
    layers = parse_inspector_json(engine.create_engine_inspector().get_engine_information(
        trt.LayerInformationFormat.JSON))
    return {"loaded": True, "num_profiles": io.num_profiles, "io": tensors,
            "layers": [{"name": l.name, "type": l.layer_type, "precision": l.precision, "tactic": l.tactic}
                       for l in layers]}


def _other_format(path: Path) -> str | None:
    """What a file plainly is when it is a model format other than a TensorRT engine (by its first bytes)."""
    with path.open("rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":  # the TFLite FlatBuffer file identifier
        return "a TFLite model"
    if head[:2] == b"PK":  # a zip: torch.save / TorchScript archives
        return "a zip archive (a PyTorch checkpoint?)"
    if path.suffix.lower() == ".onnx" or head[:1] == b"\x08":  # ONNX ModelProto: field 1 (ir_version) first
        return "an ONNX model"
    return None


def inspect_engine(path: str | os.PathLike) -> dict:
    """Everything known about ``path`` here: sidecar facts, the run-here verdict, and TensorRT's own view."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"engine {str(path)!r} does not exist", hint="build one with `jetsonkit build model.onnx`")
    other = _other_format(path)
    if other:
        raise InputError(f"{str(path)!r} is {other}, not a TensorRT engine",
                         hint="inspect the .engine that `jetsonkit build` wrote (build one from an ONNX model)")
    sidecar = read_sidecar(path) if sidecar_path(path).exists() else None
    trt = None
    if available("tensorrt"):
        import tensorrt as trt  # noqa: F811 - imported only where installed
    machine = detect_machine()
    out = {"engine": str(path), "bytes": path.stat().st_size, "sidecar": sidecar,
           "machine": machine.to_dict(), "tensorrt": getattr(trt, "__version__", None)}
    out.update(_verdict(sidecar, out["tensorrt"], machine))
    if trt is not None and machine.gpu_name is not None and out["runs_here"] is not False:
        out["engine_info"] = _from_tensorrt(trt, path, sidecar)
    return out


def inspection_text(info: dict) -> str:
    """The inspection as people read it."""
    lines = [f"{info['engine']} ({info['bytes'] / 2**20:.2f} MiB)"]
    side = info.get("sidecar")
    if side:
        gpu = side.get("gpu") or {}
        lines.append(f"  built with TensorRT {side['tensorrt_version']} for {gpu.get('name')} "
                     f"(compute capability {gpu.get('compute_capability')}), JetPack {side.get('jetpack') or '-'}")
        spec = build_spec_of(side)
        lines.append(f"  precision {spec.get('precision')}, builder flags {', '.join(spec.get('builder_flags') or []) or '-'}")
        lines.append(f"  rebuild: {side.get('rebuild_command')}")
    else:
        lines.append("  no sidecar (<engine>.json): build facts unknown")
    verdict = {True: "yes", False: "NO", None: "unknown"}[info["runs_here"]]
    lines.append(f"  runs here: {verdict} ({info['why']})")
    eng = info.get("engine_info")
    if eng and eng.get("loaded"):
        for t in eng["io"]:
            lines.append(f"  {t['mode']:6s} {t['name']}: {t['dtype']} {t['shape']}")
            for k, p in enumerate(t["profiles"]):
                lines.append(f"         profile {k}: min {p['min']} opt {p['opt']} max {p['max']}")
        lines.append(f"  {len(eng['layers'])} layers (precision, tactic):")
        lines.extend(f"    {l['name']}: {l['precision'] or '?'} {l['tactic'] or ''}".rstrip() for l in eng["layers"])
    elif eng is not None:
        lines.append("  TensorRT could not deserialise it here")
    else:
        lines.append("  I/O and layers need TensorRT and a GPU here (a TensorRT runtime is never created without one)")
    return "\n".join(lines)
