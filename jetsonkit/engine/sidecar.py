"""The engine's sidecar ``<engine>.json``: what built it, for what GPU, from which files — and the load-time check.

A TensorRT engine only runs on the TensorRT version and GPU architecture that built it (unless built version- or
hardware-compatible). The sidecar records both sides so a mismatch is refused by name *before* deserialising,
with the command that rebuilds it. Nothing is prefixed into the engine file itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from .._io import write_json_atomic
from ..errors import IncompatibleArtifactError, InputError

__all__ = ["sidecar_path", "build_spec_of", "make_sidecar", "write_sidecar", "read_sidecar", "check_compatible", "cache_key",
           "version_compatible_ok"]

FORMAT = "jetsonkit.engine/1"


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    return Path(str(engine_path) + ".json")


def cache_key(*, trt_version: str, gpu: Mapping[str, Any] | None, l4t_release: str | None, build_spec: Mapping[str, Any],
              onnx_sha256: str, calibration_sha256: str | None) -> str:
    """SHA-256 over every value that changes the engine: an equal key means the engine on disk is still right."""
    material = {"jetsonkit": __version__, "trt": trt_version, "gpu": dict(gpu or {}), "l4t": l4t_release,
                "plan": build_spec, "onnx": onnx_sha256, "calibration": calibration_sha256}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def make_sidecar(*, engine_sha256: str, engine_bytes: int, trt_version: str, gpu: Mapping[str, Any] | None,
                 l4t_release: str | None, jetpack: str | None, build_spec: Mapping[str, Any], onnx_path: str, onnx_sha256: str,
                 calibration_path: str | None, calibration_sha256: str | None, rebuild_command: str,
                 report: Mapping[str, Any] | None = None) -> dict:
    key = cache_key(trt_version=trt_version, gpu=gpu, l4t_release=l4t_release, build_spec=build_spec, onnx_sha256=onnx_sha256,
                    calibration_sha256=calibration_sha256)
    return {
        "format": FORMAT,
        "jetsonkit_version": __version__,
        "tensorrt_version": trt_version,
        "gpu": dict(gpu or {}),
        "l4t_release": l4t_release,
        "jetpack": jetpack,
        "onnx": {"path": onnx_path, "sha256": onnx_sha256},
        "calibration": {"path": calibration_path, "sha256": calibration_sha256} if calibration_path else None,
        "engine": {"sha256": engine_sha256, "bytes": engine_bytes},
        "build_spec": dict(build_spec),
        "cache_key": key,
        "rebuild_command": rebuild_command,
        "report": dict(report) if report else None,
    }


def write_sidecar(engine_path: str | os.PathLike, sidecar: Mapping[str, Any]) -> Path:
    return write_json_atomic(sidecar_path(engine_path), dict(sidecar))


def read_sidecar(engine_path: str | os.PathLike) -> dict:
    """Load ``<engine>.json``; raise InputError naming the file when it is missing or not a jetsonkit sidecar."""
    path = sidecar_path(engine_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"engine {str(engine_path)!r} has no sidecar {str(path)!r}",
                         hint="rebuild it with `jetsonkit build`, which writes the sidecar beside the engine") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"sidecar {str(path)!r} is not readable JSON: {exc}", hint="rebuild the engine with `jetsonkit build`") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{str(path)!r} is not a jetsonkit engine sidecar (format {data.get('format') if isinstance(data, dict) else None!r})",
                         hint="rebuild the engine with `jetsonkit build`")
    if "build_spec" not in data and "plan" in data:  # sidecars written before the build spec had its own word
        data["build_spec"] = data.pop("plan")
    for key in ("tensorrt_version", "gpu", "build_spec"):
        if key not in data:
            raise InputError(f"sidecar {str(path)!r} lacks key {key!r}", hint="rebuild the engine with `jetsonkit build`")
    return data


def build_spec_of(sidecar: Mapping[str, Any] | None) -> dict:
    """The build spec a sidecar records (``{}`` without one); sidecars from before the rename call it ``plan``."""
    side = sidecar or {}
    return dict(side.get("build_spec") or side.get("plan") or {})


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in str(v).split(".")[:3] if p.isdigit())


def _gpu_fields(gpu: Any) -> tuple[str | None, str | None]:
    if gpu is None:
        return None, None
    if isinstance(gpu, Mapping):
        return gpu.get("name") or gpu.get("gpu_name"), gpu.get("compute_capability")
    return getattr(gpu, "gpu_name", None) or getattr(gpu, "name", None), getattr(gpu, "compute_capability", None)


# Version-compatible engines across majors (TensorRT 11.4.1 support matrix, "Engine Portability"): 8.x -> 10.x and
# 10.x -> 11.x runtimes; no other cross-major combination.
CROSS_MAJOR_VC = {(8, 9), (8, 10), (10, 11)}


def version_compatible_ok(built: str, runtime: str) -> bool:
    """May a version-compatible engine built with ``built`` (>= 8.6) run on ``runtime``?"""
    have, want = _vtuple(runtime), _vtuple(built)
    if want[:2] < (8, 6) or have < want:
        return False
    return have[0] == want[0] or (want[0], have[0]) in CROSS_MAJOR_VC


def check_compatible(sidecar: Mapping[str, Any], trt_version: str, gpu: Any, *, jetson: bool | None = None) -> list[str]:
    """Raise IncompatibleArtifactError when this engine cannot run on (trt_version, gpu); return soft notes.

    Rules (TensorRT developer guide, "Version Compatibility" / "Hardware Compatibility"; support matrix 11.4.1,
    "Engine Portability"): a plain engine needs the same TensorRT version and the same compute capability; a
    version-compatible one (built with 8.6+) runs on the same or a later version of its major, and 8.x ones also on
    10.x, 10.x ones on 11.x; an AMPERE_PLUS one on any compute capability >= 8.0 of the same platform kind —
    hardware compatibility is for discrete GPUs, so an engine built on a desktop / server GPU never runs on a
    Jetson (``jetson``: is this machine one; the sidecar's ``l4t_release`` says where the engine was built).
    ``gpu`` is a mapping with ``name`` / ``compute_capability`` or a MachineInfo.
    """
    rebuild = sidecar.get("rebuild_command") or "jetsonkit build <model.onnx> -o <engine>"
    spec = build_spec_of(sidecar)
    built_v = str(sidecar["tensorrt_version"])
    flags = spec.get("builder_flags") or []
    if "VERSION_COMPATIBLE" in flags:
        ok = version_compatible_ok(built_v, trt_version)
    else:
        ok = _vtuple(trt_version) == _vtuple(built_v)
    if not ok:
        kind = "version-compatible engine" if "VERSION_COMPATIBLE" in flags else "engine"
        raise IncompatibleArtifactError(f"{kind} built with TensorRT {built_v}, this machine has TensorRT {trt_version}",
                                        hint=f"rebuild here: {rebuild}")
    notes = []
    built_name, built_cc = _gpu_fields(sidecar.get("gpu"))
    name, cc = _gpu_fields(gpu)
    built_on_jetson = sidecar.get("l4t_release") is not None
    if jetson is None and not isinstance(gpu, Mapping):
        jetson = getattr(gpu, "is_jetson", None)
    if jetson is not None and jetson != built_on_jetson:
        raise IncompatibleArtifactError(
            f"engine built on {'a Jetson' if built_on_jetson else 'a discrete GPU'} ({built_name}), this machine is "
            f"{'a Jetson' if jetson else 'a discrete GPU'} ({name}): TensorRT engines do not move between them "
            "(hardware compatibility is for discrete GPUs only)", hint=f"rebuild here: {rebuild}")
    if built_cc and cc and built_cc != cc:
        hw_ok = spec.get("hardware_compatibility_level") == "AMPERE_PLUS" and _vtuple(cc) >= (8, 0)
        if not hw_ok:
            raise IncompatibleArtifactError(
                f"engine built for {built_name} (compute capability {built_cc}), this GPU is {name} (compute capability {cc})",
                hint=f"rebuild here: {rebuild}")
    if built_name and name and built_name != name:
        notes.append(f"engine tuned on {built_name}, running on {name}: it runs, but tactic choices may be slower here")
    return notes
