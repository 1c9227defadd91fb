"""``build_engine``: ONNX file -> TensorRT engine + sidecar + build report, rebuilt only when an input changed."""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from .. import _progress
from .._deps import require
from .._io import check_output_path, check_output_suffix, sha256_bytes, sha256_file, write_bytes_atomic
from ..errors import BackendError, CheckFailed, InputError, UsageError
from ..settings import check
from .builder import BuildResult, apply_spec, make_logger, parse_onnx
from .int8_cache import load_table_amax
from .loading import load_engine
from .machine import MachineInfo, detect_machine
from .onnx_info import OnnxInfo, read_onnx_info
from .options import BuildSettings
from .spec import BuildSpec, make_build_spec
from .precisions import resolve_layer_precisions
from .report import make_report, parse_build_log, parse_inspector_json
from .sidecar import cache_key, make_sidecar, read_sidecar, sidecar_path, write_sidecar

__all__ = ["run_build", "build_engine", "build_spec_for", "rebuild_command"]


def rebuild_command(onnx_path: str, engine_path: str, argv: list[str] | None = None) -> str:
    """The command line that rebuilds this engine (the CLI's own argv when known)."""
    if argv:
        return "jetsonkit " + " ".join(shlex.quote(a) for a in argv)
    return f"jetsonkit build {shlex.quote(str(onnx_path))} -o {shlex.quote(str(engine_path))}"


def _check_files(onnx_path: str | os.PathLike, settings: BuildSettings) -> None:
    if not Path(onnx_path).is_file():
        raise InputError(f"ONNX file {str(onnx_path)!r} does not exist", hint="export one with `jetsonkit export`")
    if settings.calibration and not Path(settings.calibration).is_file():
        raise InputError(f"calibration table {settings.calibration!r} does not exist", hint="write one with `jetsonkit calibrate`")


def build_spec_for(onnx_path: str | os.PathLike, settings: BuildSettings, trt_version: str,
               machine: MachineInfo | None = None) -> BuildSpec:
    """The build spec for ``trt_version`` without TensorRT (``--dry-run``)."""
    check(settings)
    _check_files(onnx_path, settings)
    info = read_onnx_info(onnx_path)
    wanted = resolve_layer_precisions(settings.precision_plan, onnx_path)
    spec = make_build_spec(info, settings, trt_version, machine=machine, layer_precisions=wanted)
    if spec.int8 and spec.int8["mode"] != "qdq":
        amax = load_table_amax(settings.calibration, info.sha256)
        spec.notes.append(f"calibration table: {len(amax)} tensor ranges")
    return spec


def prepare_graph(onnx_path: str, spec: BuildSpec, workdir: str | os.PathLike) -> str:
    """The ONNX file TensorRT parses: ``onnx_path`` itself, its NonMaxSuppression replaced by the EfficientNMS_TRT
    plugin when the build spec says so (:mod:`.nms`), or its FP16 version when the build spec asks for it (11.x)."""
    from .nms import prepare_nms

    onnx_path = prepare_nms(onnx_path, spec.nms, workdir)
    if spec.graph_transform != "to_fp16":
        return onnx_path
    onnx = require("onnx", purpose="converting the graph to FP16 for TensorRT 11")
    from ..quantize.fp16 import to_fp16

    fp32 = {n for n, p in spec.layer_precisions.items() if p == "fp32"}
    out = Path(workdir) / (Path(onnx_path).stem + ".fp16.onnx")
    onnx.save(to_fp16(onnx_path, fp32_layers=fp32), str(out))
    _progress.info(f"converted {onnx_path} to FP16 for TensorRT's strongly typed build ({len(fp32)} layers kept FP32)")
    return str(out)


def _cached(engine_path: Path, key: str) -> dict | None:
    if not engine_path.exists() or not sidecar_path(engine_path).exists():
        return None
    try:
        side = read_sidecar(engine_path)
    except InputError:
        return None
    if side.get("cache_key") == key and side.get("engine", {}).get("sha256") == sha256_file(engine_path):
        return side
    return None


def _inspect(trt: Any, logger: Any, serialized: bytes, spec: BuildSpec) -> str:
    """The engine inspector's JSON of a just-built engine; BackendError when it does not deserialise."""
    runtime = trt.Runtime(logger)
    engine = load_engine(trt, runtime, serialized, version_compatible="VERSION_COMPATIBLE" in spec.builder_flags,
                         dla_core=spec.dla["core"] if spec.dla else None, logger=logger)
    if engine is None:
        raise BackendError(f"TensorRT {trt.__version__} built an engine it cannot deserialise for inspection",
                           hint="rerun with --debug and read TensorRT's log; nothing was written")
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def _serialize(trt: Any, builder: Any, logger: Any, log_lines: list[str], spec: BuildSpec, settings: BuildSettings,
               info: OnnxInfo) -> bytes:
    """Parse, apply the build spec, build; save the timing cache; return the serialized engine."""
    onnx_path = info.path
    amax = load_table_amax(settings.calibration, info.sha256) if spec.int8 and spec.int8["mode"] != "qdq" else None
    tc_path = Path(spec.timing_cache) if spec.timing_cache else None
    with tempfile.TemporaryDirectory(prefix="jetsonkit-build-") as workdir:  # kept until the build is done
        network, _parser = parse_onnx(trt, builder, spec, prepare_graph(onnx_path, spec, workdir), logger,
                                      list(info.node_ops))
        config = builder.create_builder_config()
        apply_spec(trt, builder, network, config, spec, amax, tc_path.read_bytes() if tc_path and tc_path.exists() else b"")
        _progress.info(f"building a TensorRT {trt.__version__} engine from {onnx_path} (this takes a while)")
        serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        tail = " | ".join(log_lines[-3:])
        skipped = parse_build_log(log_lines).memory_skips
        hint = (f"{skipped} tactics were skipped for lack of memory: raise --workspace (now "
                f"{spec.memory_pools.get('WORKSPACE', 0) / 2**20:.0f} MiB) or free device memory") if skipped else \
            "rerun with --debug; check the precision settings and the parser warnings above"
        raise BackendError(f"TensorRT could not build an engine from {onnx_path!r}: {tail}", hint=hint)
    if tc_path:
        write_bytes_atomic(tc_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _raise_if_recorded_violations(side: dict) -> None:
    """A cached engine whose build report recorded ignored overrides fails the same way its build did."""
    violations = (side.get("report") or {}).get("violations") or []
    if violations:
        raise CheckFailed(f"TensorRT ignored {len(violations)} precision override(s) in this (cached) engine: {violations[0]}",
                          hint="change the precision plan or rebuild with --force after fixing the graph")


def build_engine(onnx_path: str | os.PathLike, engine_path: str | os.PathLike, settings: BuildSettings | None = None, *,
                 force: bool = False, argv: list[str] | None = None) -> BuildResult:
    """Build ``engine_path`` from ``onnx_path`` with the installed TensorRT; see docs/tensorrt.md.

    Raises CheckFailed (after writing engine, sidecar and report) when TensorRT ignored a precision override.
    """
    settings = check(settings or BuildSettings())
    onnx_path, engine_path = str(onnx_path), Path(engine_path)
    _check_files(onnx_path, settings)
    argv = argv or ["build", onnx_path, "-o", str(engine_path), *settings.argv()]
    trt = require("tensorrt", purpose="building a TensorRT engine")
    log_lines: list[str] = []
    logger = make_logger(trt, log_lines)
    builder = trt.Builder(logger)
    machine = detect_machine(dla_cores=int(builder.num_DLA_cores))
    info = read_onnx_info(onnx_path)
    wanted = resolve_layer_precisions(settings.precision_plan, onnx_path)
    spec = make_build_spec(info, settings, trt.__version__, machine=machine, layer_precisions=wanted)
    calib_sha = sha256_file(settings.calibration) if settings.calibration else None
    gpu = {"name": machine.gpu_name, "compute_capability": machine.compute_capability}
    key = cache_key(trt_version=trt.__version__, gpu=gpu, l4t_release=machine.l4t_release, build_spec=spec.to_dict(),
                    onnx_sha256=info.sha256, calibration_sha256=calib_sha)
    if not force and (side := _cached(engine_path, key)):
        _progress.info(f"{engine_path} is up to date (same ONNX, calibration, build spec, TensorRT and GPU)")
        _raise_if_recorded_violations(side)
        return BuildResult(str(engine_path), side, spec, None, cached=True)
    data = _serialize(trt, builder, logger, log_lines, spec, settings, info)
    layers = parse_inspector_json(_inspect(trt, logger, data, spec))  # before any file is written
    write_bytes_atomic(engine_path, data)
    report = make_report(layers, parse_build_log(log_lines), engine_bytes=len(data), wanted=spec.layer_precisions,
                         sparse_expected=spec.sparse_eligible if "SPARSE_WEIGHTS" in spec.builder_flags else (),
                         int8_build=spec.int8 is not None)
    side = make_sidecar(engine_sha256=sha256_bytes(data), engine_bytes=len(data), trt_version=trt.__version__, gpu=gpu,
                        l4t_release=machine.l4t_release, jetpack=machine.jetpack, build_spec=spec.to_dict(),
                        onnx_path=onnx_path, onnx_sha256=info.sha256, calibration_path=settings.calibration,
                        calibration_sha256=calib_sha, rebuild_command=rebuild_command(onnx_path, str(engine_path), argv),
                        report=report.to_dict())
    write_sidecar(engine_path, side)
    report.raise_on_violation()
    return BuildResult(str(engine_path), side, spec, report, cached=False)


def installed_version() -> str | None:
    """The installed TensorRT's version, or None."""
    from .._deps import available

    if not available("tensorrt"):
        return None
    import tensorrt

    return tensorrt.__version__


def run_build(onnx_path: str | os.PathLike, settings: BuildSettings | None = None,
              output: str | os.PathLike | None = None, *, dry_run: bool = False, force: bool = False) -> BuildResult:
    """The build stage: ``onnx_path`` -> ``output`` (default ``<onnx stem>.engine``) with its sidecar and build
    report, or with ``dry_run`` the build spec for ``settings.trt_version`` (default: the installed TensorRT),
    which needs no TensorRT and writes nothing. Raises UsageError for a request that would do nothing asked
    (``force`` with ``dry_run``; ``trt_version`` on a real build, which uses the installed TensorRT)."""
    settings = check(settings or BuildSettings())
    output = str(output or Path(onnx_path).with_suffix(".engine"))
    if force and dry_run:
        raise UsageError("--force rebuilds an engine, and --dry-run builds nothing", hint="drop one of them")
    if dry_run:
        version = settings.trt_version or installed_version()
        if version is None:
            raise UsageError("--dry-run needs --trt-version on a machine without TensorRT",
                             hint="add e.g. --trt-version 10.3")
        return BuildResult(output, None, build_spec_for(onnx_path, settings, version), None, cached=False,
                           dry_run=True)
    check_output_suffix(output, (".engine", ".plan"), "a TensorRT engine")
    precision_file = settings.precision_plan if isinstance(settings.precision_plan, (str, os.PathLike)) else None
    check_output_path(output, inputs=(onnx_path, settings.calibration, precision_file, settings.timing_cache))
    if settings.trt_version:
        raise UsageError("--trt-version only prints a build spec (--dry-run); a real build uses the installed TensorRT",
                         hint="add --dry-run, or drop --trt-version")
    return build_engine(onnx_path, output, settings, force=force)
