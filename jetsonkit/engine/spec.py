"""The build spec: the exact TensorRT calls one version needs for one model and one :class:`BuildSettings`.

Pure Python, no TensorRT: ``make_build_spec`` turns (ONNX facts, build settings, precision plan, target version,
machine) into a declarative :class:`BuildSpec` that ``builder.apply_spec`` replays on the real API and ``--dry-run`` prints.
Version rules (TensorRT release notes; developer guide "Working with Quantized Types" and "Strongly Typed Networks"):
explicit Q/DQ works everywhere and needs BuilderFlag.INT8 before 11.x; implicit INT8 (calibrator, cache, dynamic
ranges) exists up to 10.x only; FP16 and per-layer precision are builder settings up to 10.x and graph types on 11.x.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping

from ..errors import ConfigError, InputError, UnsupportedError
from .machine import MachineInfo
from .nms import choose_nms
from .onnx_info import OnnxInfo
from .options import BuildSettings, InputRange
from .versions import TrtVersion, parse_version

__all__ = ["BuildSpec", "make_build_spec", "default_workspace"]

GiB = 2**30


@dataclass
class BuildSpec:
    """Declarative TensorRT calls; every field maps to one TensorRT call in ``builder.apply_spec``."""

    trt_version: str
    precision: str
    network_flags: list[str] = field(default_factory=list)  # NetworkDefinitionCreationFlag members
    builder_flags: list[str] = field(default_factory=list)  # BuilderFlag members
    memory_pools: dict[str, int] = field(default_factory=dict)  # MemoryPoolType member -> bytes
    int8: dict | None = None  # {"mode", "calibration", "source"}
    layer_precisions: dict[str, str] = field(default_factory=dict)  # node -> precision the report must find
    layer_precision_mode: str = "none"  # "builder" (layer.precision, <= 10.x) | "graph" (11.x) | "none"
    profiles: list[dict[str, dict[str, list[int]]]] = field(default_factory=list)
    calibration_profile: int | None = None
    dla: dict | None = None  # {"core": n, "gpu_fallback": bool}
    timing_cache: str | None = None
    hardware_compatibility_level: str | None = None  # HardwareCompatibilityLevel member
    optimization_level: int | None = None
    profiling_verbosity: str = "DETAILED"  # the build report needs per-layer precision from the inspector
    progress_monitor: bool = False  # IProgressMonitor exists from TensorRT 10.0: build phases shown as progress
    graph_transform: str | None = None  # "to_fp16": FP16 graph, precision-plan fp32 layers fenced by Casts (11.x)
    sparse_eligible: list[str] = field(default_factory=list)  # nodes whose weights are 2:4 sparse in the ONNX
    nms: dict | None = None  # {"layer": INMSLayer | EfficientNMS_TRT, "requested", "nodes", "reason"} (engine.nms)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_text(self) -> str:
        """The spec as people read it (``jetsonkit build --dry-run``)."""
        lines = [f"TensorRT {self.trt_version} build spec ({self.precision})"]
        lines.append(f"  network flags      : {', '.join(self.network_flags) or '(none)'}")
        lines.append(f"  builder flags      : {', '.join(self.builder_flags) or '(none)'}")
        for pool, size in self.memory_pools.items():
            lines.append(f"  memory pool        : {pool} = {size / 2**20:.0f} MiB")
        if self.int8:
            lines.append(f"  INT8               : {self.int8['mode']} ({self.int8['source']})")
        if self.layer_precisions:
            lines.append(f"  layer precisions   : {len(self.layer_precisions)} via {self.layer_precision_mode}")
            lines.extend(f"    {n}: {p}" for n, p in self.layer_precisions.items())
        for i, prof in enumerate(self.profiles):
            for name, r in prof.items():
                mark = "  (calibration)" if i == self.calibration_profile else ""
                lines.append(f"  profile {i}          : {name} min {r['min']} opt {r['opt']} max {r['max']}{mark}")
        if self.dla:
            lines.append(f"  DLA                : core {self.dla['core']}, GPU fallback {'on' if self.dla['gpu_fallback'] else 'off'}")
        if self.graph_transform:
            lines.append(f"  graph transform    : {self.graph_transform} (jetsonkit.quantize.fp16, before parsing)")
        if self.timing_cache:
            lines.append(f"  timing cache       : {self.timing_cache}")
        if self.hardware_compatibility_level:
            lines.append(f"  hardware compat.   : {self.hardware_compatibility_level}")
        if self.optimization_level is not None:
            lines.append(f"  optimisation level : {self.optimization_level}")
        if self.sparse_eligible:
            lines.append(f"  2:4 sparse weights : {', '.join(self.sparse_eligible)}")
        if self.nms:
            lines.append(f"  NMS                : {self.nms['layer']} ({self.nms['reason']})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def default_workspace(machine: MachineInfo | None) -> int | None:
    """Workspace pool for tactic scratch memory: on a Jetson the GPU shares RAM with the CPU, so cap it at
    min(1 GiB, a quarter of memory); on a discrete GPU leave TensorRT's default (all device memory) — None."""
    if machine is None or machine.is_jetson:
        total = machine.total_memory if machine and machine.total_memory else None
        return min(GiB, total // 4) if total else GiB
    return None


def make_build_spec(info: OnnxInfo, settings: BuildSettings, trt_version: str | TrtVersion, *,
              machine: MachineInfo | None = None, layer_precisions: Mapping[str, str] | None = None) -> BuildSpec:
    """Compute the settings for ``trt_version``; raise the errors the issue lists for impossible requests."""
    v = parse_version(trt_version)
    spec = BuildSpec(trt_version=str(v), precision=settings.precision)
    if v.needs_explicit_batch_flag:
        spec.network_flags.append("EXPLICIT_BATCH")
    spec.progress_monitor = v.has_progress_monitor
    if v.always_strongly_typed:
        spec.notes.append("TensorRT 11 networks are strongly typed: precisions come from the graph's types and Q/DQ")
    _resolve_int8(spec, info, settings, v)
    _resolve_fp16(spec, info, settings, v)
    _resolve_layer_precisions(spec, info, dict(layer_precisions or {}), v)
    _resolve_sparsity(spec, info, settings, v)
    _resolve_profiles(spec, info, settings)
    _resolve_dla(spec, info, settings, v, machine)
    _resolve_memory_and_misc(spec, settings, v, machine)
    spec.nms = choose_nms(info, settings.nms, v)
    spec.builder_flags = list(dict.fromkeys(spec.builder_flags))
    return spec


def _resolve_int8(spec: BuildSpec, info: OnnxInfo, settings: BuildSettings, v: TrtVersion) -> None:
    if settings.precision not in ("int8", "best"):
        if info.has_qdq:
            spec.notes.append("the graph has Q/DQ nodes: those layers run INT8 whatever --precision says")
            if v.has_precision_flags:
                spec.builder_flags.append("INT8")
        return
    if settings.int8_mode == "qdq":
        if not info.has_qdq:
            alt = " (or --int8-mode calibrator on TensorRT <= 10.x)" if settings.calibration and v.has_implicit_int8 else ""
            raise InputError(f"INT8 asked for {info.path!r}, which has no Q/DQ nodes",
                             hint=f"run `jetsonkit quantize {info.path} --calib calib.json -o model.qdq.onnx` and build that{alt}")
        if v.has_precision_flags:
            spec.builder_flags.append("INT8")
        spec.int8 = {"mode": "qdq", "calibration": None, "source": "explicit Q/DQ nodes in the graph"}
        return
    if not v.has_implicit_int8:
        raise UnsupportedError(f"TensorRT {v.short} removed implicit INT8 (calibrators, calibration caches, dynamic ranges)",
                               hint=f"quantize the graph instead: `jetsonkit quantize {info.path} --calib calib.json -o model.qdq.onnx`, then build it with --int8-mode qdq")
    if info.has_qdq:
        raise InputError(f"{info.path!r} already has Q/DQ nodes; implicit INT8 mode {settings.int8_mode!r} cannot be mixed with them",
                         hint="use --int8-mode qdq for a Q/DQ graph")
    if not settings.calibration:
        raise InputError(f"INT8 mode {settings.int8_mode!r} needs a calibration table and {info.path!r} has no Q/DQ nodes",
                         hint="run `jetsonkit calibrate` and pass --calib calib.json")
    spec.builder_flags.append("INT8")
    sources = {"calibrator": "IInt8EntropyCalibrator2 replaying jetsonkit's table as a calibration cache",
               "cache": "calibration cache written from jetsonkit's table",
               "dynamic-range": "ITensor.set_dynamic_range(-amax, amax) per tensor from jetsonkit's table"}
    spec.int8 = {"mode": settings.int8_mode, "calibration": settings.calibration, "source": sources[settings.int8_mode]}
    if v.implicit_int8_deprecated:
        spec.notes.append("implicit INT8 is deprecated since TensorRT 10.1 and removed in 11.0; Q/DQ is the lasting path")


def _resolve_fp16(spec: BuildSpec, info: OnnxInfo, settings: BuildSettings, v: TrtVersion) -> None:
    if settings.precision == "int8" and v.has_precision_flags:
        spec.notes.append("--precision int8 lets TensorRT pick INT8 or FP32 per layer: layers without INT8 "
                          "kernels or scales run FP32; --precision best (INT8 + FP16) lets them fall back to FP16")
    if settings.precision not in ("fp16", "best"):
        return
    if v.has_precision_flags:
        spec.builder_flags.append("FP16")
        if v.precision_flags_deprecated:
            spec.notes.append("BuilderFlag.FP16 is deprecated since TensorRT 10.12")
    elif info.has_fp16:
        spec.notes.append("FP16 comes from the graph's float16 types (no builder flag on 11.x)")
    elif info.has_qdq:
        raise UnsupportedError(f"TensorRT {v.short} takes FP16 only from the graph's types, and {info.path!r} is an FP32 "
                               "graph with Q/DQ nodes", hint="convert the FP32 model to FP16 first (jetsonkit.quantize.fp16.to_fp16), then quantize it")
    else:
        spec.graph_transform = "to_fp16"
        spec.notes.append("TensorRT 11 takes FP16 from graph types: the FP32 graph is converted to FP16 before parsing "
                          "(I/O stay FP32; layers the precision plan keeps in fp32 are fenced by Casts)")


def _resolve_layer_precisions(spec: BuildSpec, info: OnnxInfo, wanted: dict[str, str], v: TrtVersion) -> None:
    if not wanted:
        return
    unknown = [n for n in wanted if n not in info.node_ops]
    if unknown:
        raise ConfigError(f"precision plan names node {unknown[0]!r}, which is not in {info.path!r}",
                          hint=f"use node names of this graph, e.g. {', '.join(list(info.node_ops)[:3])}")
    bad = {n: p for n, p in wanted.items() if p not in ("fp32", "fp16", "int8")}
    if bad:
        name, p = next(iter(bad.items()))
        raise ConfigError(f"precision plan gives node {name!r} precision {p!r}", hint="use fp32, fp16 or int8")
    spec.layer_precisions = dict(wanted)
    if not v.has_precision_flags:
        spec.layer_precision_mode = "graph"
        spec.notes.append("TensorRT 11: layer precisions must be in the graph (Q/DQ, Casts); the report verifies them")
        return
    spec.layer_precision_mode = "builder"
    spec.builder_flags.append("OBEY_PRECISION_CONSTRAINTS")
    if any(p == "fp16" for p in wanted.values()):
        spec.builder_flags.append("FP16")
    if any(p == "int8" for p in wanted.values()):
        if not (info.has_qdq or spec.int8):
            raise InputError(f"precision plan asks INT8 for some layers but {info.path!r} has no Q/DQ and no calibration",
                             hint="build the Q/DQ graph from `jetsonkit quantize`, or pass --calib with --int8-mode calibrator")
        spec.builder_flags.append("INT8")
    if v.precision_flags_deprecated:
        spec.notes.append("ILayer.precision and OBEY_PRECISION_CONSTRAINTS are deprecated since TensorRT 10.12")


def _resolve_sparsity(spec: BuildSpec, info: OnnxInfo, settings: BuildSettings, v: TrtVersion) -> None:
    if not settings.sparsity:
        return
    spec.builder_flags.append("SPARSE_WEIGHTS")
    spec.sparse_eligible = list(info.sparse_nodes)
    if not info.sparse_nodes:
        spec.notes.append("no Conv/Gemm/MatMul weight in the graph has the 2:4 pattern: nothing for sparse kernels "
                          "(run `jetsonkit prune` first)")
    low = settings.precision in ("fp16", "int8", "best") or info.has_qdq or info.has_fp16
    if not low:
        spec.notes.append("sparse kernels exist for FP16 and INT8 only: an FP32 build keeps every layer dense")


def _resolve_profiles(spec: BuildSpec, info: OnnxInfo, settings: BuildSettings) -> None:
    dynamic = info.dynamic_inputs()
    for i, prof in enumerate(settings.profiles):
        for name, rng in prof.items():
            if name not in info.inputs:
                raise ConfigError(f"profile {i} names input {name!r}, which {info.path!r} does not have",
                                  hint=f"inputs are: {', '.join(info.inputs)}")
            _check_against_dims(i, rng, info.inputs[name])
        missing = [n for n in dynamic if n not in prof]
        if missing:
            raise ConfigError(f"profile {i} gives no shapes for dynamic input {missing[0]!r} {dynamic[missing[0]]}",
                              hint=f"add --profile {missing[0]}:MIN,OPT,MAX")
        spec.profiles.append({n: {"min": list(r.min), "opt": list(r.opt), "max": list(r.max)} for n, r in prof.items()})
    if dynamic and not settings.profiles:
        name, dims = next(iter(dynamic.items()))
        example = "x".join("1" if not isinstance(d, int) or d < 1 else str(d) for d in dims)
        raise ConfigError(f"input {name!r} of {info.path!r} has dynamic dimensions {dims} and no optimization profile",
                          hint=f"add --profile {name}:{example},{example},{example} (MIN,OPT,MAX)")
    _check_calibration_shapes(spec, settings)


def _check_against_dims(i: int, rng: InputRange, dims: tuple) -> None:
    if len(dims) != len(rng.min):
        raise ConfigError(f"profile {i} input {rng.name!r}: rank {len(rng.min)} but the model's input has rank {len(dims)} {dims}")
    for d, dim in enumerate(dims):
        if isinstance(dim, int) and dim > 0 and not (rng.min[d] == rng.opt[d] == rng.max[d] == dim):
            raise ConfigError(f"profile {i} input {rng.name!r}: dimension {d} is fixed at {dim} in the model, "
                              f"profile gives {rng.min[d]}/{rng.opt[d]}/{rng.max[d]}", hint=f"use {dim} for that dimension")


def _check_calibration_shapes(spec: BuildSpec, settings: BuildSettings) -> None:
    if not settings.calibration_shapes or not settings.profiles:
        return
    covering = [i for i, prof in enumerate(settings.profiles)
                if all(n not in prof or prof[n].covers(s) for n, s in settings.calibration_shapes.items())]
    if not covering:
        name, shape = next(iter(settings.calibration_shapes.items()))
        raise ConfigError(f"no optimization profile covers the calibration shape {name} {tuple(shape)}",
                          hint="widen a profile's MIN..MAX to include it, or calibrate with shapes inside the profile")
    if spec.int8 and spec.int8["mode"] != "qdq":
        spec.calibration_profile = covering[0]


def _resolve_dla(spec: BuildSpec, info: OnnxInfo, settings: BuildSettings, v: TrtVersion,
              machine: MachineInfo | None) -> None:
    """DLA rules (TensorRT developer guide, "Working with DLA"): FP16 / INT8 layers only (INT8 may come from the
    graph's Q/DQ nodes at any --precision), static shapes only (a profile's min = opt = max), no hardware
    compatibility. TensorRT 11 has DLA only from 11.4.1 (AGX Orin, JetPack 7.2.2) and takes FP16 from the graph."""
    if settings.dla_core is None:
        return
    low = "FP16" in spec.builder_flags or spec.int8 or info.has_qdq or spec.graph_transform or \
        (v.always_strongly_typed and info.has_fp16)
    if not low:
        raise InputError("DLA runs FP16 and INT8 layers only, and this build is FP32",
                         hint="add --precision fp16 (or int8 / best) when using --dla")
    if not v.has_dla:
        raise UnsupportedError(f"TensorRT {v} has no DLA support (TensorRT 11 adds DLA from 11.4.1, AGX Orin)",
                               hint="build for DLA with TensorRT 10.x (JetPack 6) or 11.4.1+")
    for i, prof in enumerate(spec.profiles):
        for name, r in prof.items():
            if not r["min"] == r["opt"] == r["max"]:
                raise InputError(f"DLA needs static shapes, but profile {i} gives input {name!r} the range "
                                 f"{r['min']}..{r['max']}",
                                 hint=f"use one shape: --profile {name}:S,S,S (e.g. {'x'.join(map(str, r['opt']))})")
    if machine is not None and machine.dla_cores is not None:
        if machine.dla_cores == 0:
            raise InputError(f"DLA core {settings.dla_core} requested but this machine ({machine.gpu_name or 'no GPU'}) has no DLA",
                             hint="drop --dla (DLA exists on Jetson AGX / NX Xavier and Orin, not on Orin Nano or desktop GPUs)")
        if settings.dla_core >= machine.dla_cores:
            raise InputError(f"DLA core {settings.dla_core} requested but this machine has {machine.dla_cores}",
                             hint=f"use --dla 0..{machine.dla_cores - 1}")
    elif machine is None:
        spec.notes.append("DLA availability is checked on the build machine")
    spec.dla = {"core": settings.dla_core, "gpu_fallback": settings.gpu_fallback}
    if settings.gpu_fallback:
        spec.builder_flags.append("GPU_FALLBACK")


def _resolve_memory_and_misc(spec: BuildSpec, settings: BuildSettings, v: TrtVersion, machine: MachineInfo | None) -> None:
    workspace = settings.workspace or default_workspace(machine)
    if workspace:
        spec.memory_pools["WORKSPACE"] = workspace
    spec.timing_cache = settings.timing_cache
    if settings.version_compatible:
        if not v.has_version_compatible:
            raise UnsupportedError(f"version-compatible engines need TensorRT 8.6 or later, not {v.short}")
        spec.builder_flags.append("VERSION_COMPATIBLE")
    if settings.hardware_compatibility:
        if not v.has_hardware_compatibility:
            raise UnsupportedError(f"hardware-compatible engines need TensorRT 8.6 or later, not {v.short}")
        if settings.dla_core is not None:
            raise InputError("hardware compatibility and DLA cannot be combined", hint="drop one of --hardware-compat / --dla")
        if machine is not None and machine.is_jetson:
            raise UnsupportedError("hardware-compatible (Ampere+) engines are not supported on Jetson: TensorRT builds "
                                   "them for discrete GPUs only", hint="drop --hardware-compat; build on each Jetson")
        spec.hardware_compatibility_level = "AMPERE_PLUS"
    if settings.optimization_level is not None:
        if not v.has_optimization_level:
            raise UnsupportedError(f"builder optimisation levels need TensorRT 8.6 or later, not {v.short}")
        spec.optimization_level = settings.optimization_level
