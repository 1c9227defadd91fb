"""The engine builder: replays a BuildSpec on TensorRT's Python API, writes the engine, sidecar and report.

TensorRT API directly, not Polygraphy's loaders: the build spec already holds every setting, so the layer that touches
TensorRT is a few calls per build-spec field (``apply_spec``), small enough to be replayed per version on a strict fake
generated from that version's real bindings (tests/jetsonkit/engine/test_trt_replay.py). ``tensorrt`` is
imported at first use only.
A class that must subclass a TensorRT type is built inside a factory (the Polygraphy pattern).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import _progress
from ..errors import BackendError, InputError
from .int8_cache import encode_calibration_cache
from .spec import BuildSpec
from .versions import parse_version
from .report import BuildReport

__all__ = ["BuildResult", "apply_spec", "parse_onnx", "make_logger", "make_cache_calibrator", "make_progress_monitor",
           "set_timing_cache"]

_DTYPE = {"fp32": "FLOAT", "fp16": "HALF", "int8": "INT8"}


@dataclass
class BuildResult:
    """What the build stage (:func:`~jetsonkit.engine.engine.run_build`) hands back: the engine (or, for a dry
    run, where it would go), its sidecar, the build spec, the build report (a fresh build only)."""

    engine_path: str
    sidecar: dict | None
    spec: BuildSpec
    report: BuildReport | None
    cached: bool
    dry_run: bool = False

    def to_dict(self) -> dict:
        if self.dry_run:
            return {"build_spec": self.spec.to_dict(), "engine": self.engine_path}
        return {"engine": self.engine_path, "cached": self.cached, "sidecar": self.sidecar}

    def summary(self) -> str:
        """For people: the build spec (dry run), or the engine written / found up to date and its report."""
        if self.dry_run:
            return self.spec.to_text()
        text = f"{'up to date' if self.cached else 'built'}: {self.engine_path}"
        return text + ("\n" + self.report.to_text() if self.report else "")


def make_logger(trt: Any, lines: list[str]):
    """A TensorRT logger that keeps INFO and above in ``lines`` for the build report."""

    class _CapturingLogger(trt.ILogger):
        def __init__(self):
            super().__init__()  # pybind11 base initialiser (trt.ILogger.__init__)

        def log(self, severity, msg):
            lines.append(str(msg))

    return _CapturingLogger()


def make_progress_monitor(trt: Any):
    """Build phases as progress lines (TensorRT >= 10.0 ``IProgressMonitor``: phase_start / step_complete /
    phase_finish, the latter two per the Python API reference; returning True from step_complete continues)."""

    class _PhaseProgress(trt.IProgressMonitor):
        def __init__(self):
            super().__init__()  # pybind11 base initialiser (trt.IProgressMonitor.__init__)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.steps[phase_name] = num_steps
            if parent_phase is None:
                _progress.info(f"TensorRT: {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step):
            return True

        def phase_finish(self, phase_name):
            self.steps.pop(phase_name, None)

    return _PhaseProgress()


def make_cache_calibrator(trt: Any, cache: bytes):
    """An entropy calibrator that hands TensorRT a ready cache, so TensorRT reads scales instead of calibrating."""

    class _TableCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()  # pybind11 base initialiser (trt.IInt8EntropyCalibrator2.__init__)

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            return None

        def read_calibration_cache(self):
            return cache

        def write_calibration_cache(self, data):
            return None

    return _TableCalibrator()


def _network_flags(trt: Any, spec: BuildSpec) -> int:
    flags = 0
    for name in spec.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return flags


def _apply_layer_precisions(trt: Any, network: Any, spec: BuildSpec) -> None:
    wanted = spec.layer_precisions
    skip_int8 = bool(spec.int8 and spec.int8["mode"] == "qdq") or (spec.int8 is None)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        want = wanted.get(layer.name)
        if want is None or (want == "int8" and skip_int8):  # INT8 of a Q/DQ graph lives in its Q/DQ nodes
            continue
        layer.precision = getattr(trt.DataType, _DTYPE[want])


def _network_tensors(network: Any) -> list:
    """Every tensor of the network: its inputs and each layer's outputs."""
    tensors = [network.get_input(i) for i in range(network.num_inputs)]
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        tensors += [layer.get_output(j) for j in range(layer.num_outputs)]
    return tensors


def _apply_dynamic_ranges(network: Any, amax: dict[str, float]) -> int:
    """Set each tensor's symmetric range; return how many network tensors had none in the table."""
    missing = 0
    for t in _network_tensors(network):
        a = amax.get(t.name)
        if a is None:
            missing += 1
        else:
            t.set_dynamic_range(-a, a)
    return missing


def _warn_unranged(network: Any, amax: dict[str, float], mode: str) -> int:
    """Implicit INT8 quantizes only tensors with a range: say how many stay in higher precision (0: none)."""
    tensors = _network_tensors(network)
    missing = sum(1 for t in tensors if t.name not in amax)
    if missing:
        _progress.warn(f"implicit INT8 ({mode}): {missing} of {len(tensors)} network tensors have no range in the "
                       "calibration table, so TensorRT keeps their layers out of INT8 (FP16/FP32); calibrate every "
                       "tensor or use the Q/DQ path (jetsonkit quantize), where INT8 placement is explicit")
    return missing


def set_timing_cache(config: Any, data: bytes, path: str) -> bool:
    """Load the timing cache; a cache from another device / TensorRT is refused by TensorRT (False): say so and
    start a fresh one, which the build then writes back."""
    if config.set_timing_cache(config.create_timing_cache(data), False):
        return True
    _progress.warn(f"timing cache {path} was made on another GPU or TensorRT version: TensorRT did not use it; "
                   "this build starts a new one and overwrites the file")
    if not config.set_timing_cache(config.create_timing_cache(b""), False):
        raise BackendError(f"TensorRT refused an empty timing cache for {path}", hint="build without --timing-cache")
    return False


def apply_spec(trt: Any, builder: Any, network: Any, config: Any, spec: BuildSpec, amax: dict[str, float] | None = None,
               timing_cache_bytes: bytes = b"") -> None:
    """Set every spec field on ``config`` / ``network``: the only place build settings touch TensorRT."""
    for name in spec.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for pool, size in spec.memory_pools.items():
        config.set_memory_pool_limit(getattr(trt.MemoryPoolType, pool), size)
    for i, prof in enumerate(spec.profiles):
        profile = builder.create_optimization_profile()
        for name, r in prof.items():
            profile.set_shape(name, r["min"], r["opt"], r["max"])
        config.add_optimization_profile(profile)
        if spec.calibration_profile == i:
            config.set_calibration_profile(profile)
    if spec.layer_precision_mode == "builder":
        _apply_layer_precisions(trt, network, spec)
    if spec.int8 and spec.int8["mode"] in ("calibrator", "cache"):
        config.int8_calibrator = make_cache_calibrator(trt, encode_calibration_cache(amax or {}, spec.trt_version))
        _warn_unranged(network, amax or {}, spec.int8["mode"])
    elif spec.int8 and spec.int8["mode"] == "dynamic-range":
        _warn_unranged(network, amax or {}, "dynamic-range")
        _apply_dynamic_ranges(network, amax or {})
    if spec.dla:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = spec.dla["core"]
    if spec.timing_cache:
        set_timing_cache(config, timing_cache_bytes, spec.timing_cache)
    if spec.hardware_compatibility_level:
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, spec.hardware_compatibility_level)
    if spec.optimization_level is not None:
        config.builder_optimization_level = spec.optimization_level
    config.profiling_verbosity = getattr(trt.ProfilingVerbosity, spec.profiling_verbosity)
    if spec.progress_monitor:
        config.progress_monitor = make_progress_monitor(trt)


def parse_onnx(trt: Any, builder: Any, spec: BuildSpec, onnx_path: str, logger: Any, node_names: list[str] = ()):
    """Network + parser from the ONNX file; raise InputError with the parser's errors and node names.

    ``IParserError.node_name()`` exists from TensorRT 10.0; before that the error carries the node's index, which
    ``node_names`` (the graph's nodes in order) turns into a name.
    """
    network = builder.create_network(_network_flags(trt, spec))
    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(onnx_path)):
        return network, parser
    named = parse_version(spec.trt_version).parser_errors_name_nodes
    errors = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        if named:
            where = err.node_name()
        else:
            index = int(err.node())
            where = node_names[index] if 0 <= index < len(node_names) else f"#{index}"
        errors.append(f"node {where}: {err.desc()}")
    raise InputError(f"TensorRT {spec.trt_version} cannot parse {onnx_path!r}: {'; '.join(errors) or 'no parser message'}",
                     hint="re-export the model (jetsonkit export, another opset) or replace the op this TensorRT lacks")
