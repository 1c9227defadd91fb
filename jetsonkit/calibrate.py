"""INT8 calibration of an ONNX model: run data through ONNX Runtime and pick a range for every Q/DQ tensor.

The tensors are exactly the activations the Q/DQ stage quantizes (``jetsonkit.quantize.placement
.calibration_tensors``): they are added as extra graph outputs, so one ONNX Runtime run per batch yields all of
them, and each feeds a streaming |x| histogram (:mod:`calibrators`, constant memory, one pass). The ranges then
come from a method of ``calibrators.REGISTRY`` (``entropy``: TensorRT's KL algorithm, ``percentile``, ``mse``, ...).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, make_dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from calibrators.methods import DEFAULT_METHOD, METHODS, OPTIONS, REGISTRY  # numpy-only: the one method registry

from . import __version__
from ._io import check_output_path, check_output_suffix, write_text_atomic
from ._memory import DEFAULT_MAX_MEMORY, parse_size, split_memory
from .artifacts import load_onnx, model_sha256, ort_session
from ._progress import info, progress, warn
from .data import InputInfo, for_model
from .errors import ConfigError, DataError, InputSpecError, UsageError
from .settings import SettingError, check, option, usage_error

__all__ = ["CalibrationSettings", "CalibrationResult", "run_calibrate", "calibrate", "collect", "method_settings", "summary", "DEFAULT_METHOD", "model_inputs", "ADVISED_SAMPLES",
           "range_rows", "range_cells", "format_ranges", "RANGE_COLUMNS"]

ADVISED_SAMPLES = 500  # TensorRT's guidance for ImageNet-size classifiers: about 500 calibration images
_ORT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


@dataclass(frozen=True)
class _CalibrationFields:
    method: str = option(DEFAULT_METHOD, "range method: " + "; ".join(f"{m.name}: {m.help}" for m in REGISTRY.values()),
                         choices=METHODS)
    max_samples: int | None = option(None, "use at most this many samples", minimum=1)
    batch_size: int | None = option(None, "samples per ONNX Runtime run (default: the model's static batch size, "
                                    "else 32, lowered to fit max_memory)", minimum=1)
    max_memory: str = option("512M",
                             "memory the activations may take on top of the process, e.g. 256M or 2G: sizes the "
                             "batch and the tensors exposed per ONNX Runtime run (512M: a 224x224 classifier's "
                             "calibrate stays under 1 GB in all)")
    shape: str | None = option(None, "calibration shape for dynamic axes, NAME:1x3x224x224", recipe=False)

    def validate(self) -> None:
        """Whole sample counts; each method option only with the method that declares it; a readable memory size."""
        import calibrators

        for key in ("max_samples", "batch_size"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SettingError(key, f"{key} must be an integer, got {value!r}", hint="drop it for the default")

        for name in OPTIONS:
            try:
                calibrators.check_options(self.method, {name: getattr(self, name)})
            except ValueError as exc:
                takes = ", ".join(o.name for o in REGISTRY[self.method].options) or "no options"
                raise SettingError(name, str(exc), hint=f"calibration method {self.method!r} takes {takes}: "
                                   "drop it or change the method") from None
        try:
            if self.max_memory is not None:  # None (library only): no budget
                parse_size(self.max_memory, "max_memory")
        except UsageError as exc:
            raise SettingError("max_memory", exc.message, hint=exc.hint) from None

    def method_options(self) -> dict:
        """The options of :attr:`method` that were given (``{"percentile": 99.9}``)."""
        return {o.name: getattr(self, o.name) for o in REGISTRY[self.method].options
                if getattr(self, o.name) is not None}

    def collect_options(self) -> dict:
        """The keyword arguments :func:`collect` takes from these settings."""
        return {"batch_size": self.batch_size, "shape": self.shape, "max_samples": self.max_samples,
                "max_memory": None if self.max_memory is None else parse_size(self.max_memory, "max_memory")}


def _owners(name: str) -> str:
    return ", ".join(m.name for m in REGISTRY.values() if any(o.name == name for o in m.options))


# One field per option a method declares in calibrators.REGISTRY (``percentile``): a new option there is a new
# flag of ``jetsonkit calibrate`` and a new key of a recipe's calibration section, with no other edit.
CalibrationSettings = make_dataclass(
    "CalibrationSettings",
    [(o.name, o.kind | None, option(None, f"{o.help} (method {_owners(o.name)}; default {o.default:g})"))
     for o in OPTIONS.values()],
    bases=(_CalibrationFields,), frozen=True,
    namespace={"__module__": __name__, "__doc__": """The calibration stage's settings: ``jetsonkit calibrate``'s
    flags and a recipe's ``calibration`` section are read off these fields (:mod:`jetsonkit.settings`), so their
    defaults and checks are these. The method options (``percentile``) come from ``calibrators.REGISTRY``."""})


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`run_calibrate` made: the table, and where it and the optional TensorRT cache went."""

    table: Any  # calibrators.CalibrationTable
    model: str
    data: Any
    output: str | None
    trt_cache: str | None = None
    trt_version: str | None = None

    def summary(self) -> tuple[dict, str]:
        """(JSON-able record, text for people): the ranges and where they went."""
        return summary(self.table, self.model, self.data, self.output, self.trt_cache, self.trt_version)


def run_calibrate(onnx_path: str | os.PathLike, data: Any, settings: Any = None, *,
                  output: str | os.PathLike | None = None, trt_cache: str | os.PathLike | None = None,
                  trt_version: str = "10.3.0", preprocess: Any = None, tensors: Sequence[str] | None = None,
                  num_bins: int = 2048, threads: int | None = None) -> CalibrationResult:
    """The calibration stage: calibrate ``onnx_path`` on ``data`` with ``settings`` (a :class:`CalibrationSettings`,
    checked here; default: its defaults). ``output`` writes the JSON table, ``trt_cache`` a TensorRT calibration
    cache for ``trt_version``; ``preprocess``, ``tensors``, ``num_bins``, ``threads`` go to :func:`collect`.
    Every value is checked before any data is read or any file written."""
    import calibrators

    settings = check(settings if settings is not None else CalibrationSettings())
    _check_run(num_bins, threads, trt_cache, trt_version)
    sources = (onnx_path, data if isinstance(data, (str, os.PathLike)) else None)
    for path in (output, trt_cache):
        if path is not None:
            check_output_path(path, inputs=sources)
    if output is not None:
        check_output_suffix(output, (".json",), "a calibration table (JSON)")
    collector, sha = collect(onnx_path, data, tensors=tensors, num_bins=num_bins, threads=threads,
                             preprocess=preprocess, **settings.collect_options())
    method = settings.method
    info(f"computing {method} ranges for {len(collector)} tensors")
    try:
        table = calibrators.CalibrationTable.from_collector(collector, method, model_sha256=sha,
                                                            producer=f"jetsonkit {__version__}",
                                                            **settings.method_options())
    except ValueError as exc:
        raise ConfigError(f"calibration method {method!r}: {exc}") from exc
    for name, flags in table.flagged().items():
        for flag in flags:
            warn(f"calibration range of {name!r}: {flag}")
    cache_text = _trt_cache_text(table, trt_cache, trt_version) if trt_cache is not None else None
    if output is not None:
        table.save(output)
    if cache_text is not None:
        write_text_atomic(trt_cache, cache_text)
    return CalibrationResult(table, str(onnx_path), data, None if output is None else str(output),
                             None if trt_cache is None else str(trt_cache), trt_version if trt_cache else None)


def _parse_shape(shape: Any, inputs: Sequence[InputInfo]) -> dict[str, tuple]:
    """``{"input": (1, 3, 224, 224)}`` or ``"input:1x3x224x224"`` or a tuple (one-input model)."""
    if shape is None:
        return {}
    if isinstance(shape, str):
        name, _, dims = shape.rpartition(":")
        try:
            parsed = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            raise InputSpecError(f"calibration shape {shape!r} is not NAME:DxDxD",
                                 hint="e.g. input:1x3x224x224") from None
        shape = {name or inputs[0].name: parsed}
    if not isinstance(shape, dict):
        shape = {inputs[0].name: tuple(shape)}
    names = {i.name for i in inputs}
    for name in shape:
        if name not in names:
            raise InputSpecError(f"calibration shape names input {name!r}, the model has {sorted(names)}")
    return {k: tuple(v) for k, v in shape.items()}


def model_inputs(session: Any, shape: Any = None) -> list[InputInfo]:
    """The session's inputs; a calibration ``shape`` fixes dynamic axes (the batch axis stays free)."""
    raw = [InputInfo(i.name, tuple(d if isinstance(d, int) else None for d in i.shape),
                     np.dtype(_ORT_TYPES.get(i.type, np.float32))) for i in session.get_inputs()]
    fixed = _parse_shape(shape, raw)
    out = []
    for i in raw:
        if i.name in fixed:
            want = fixed[i.name]
            if len(want) != len(i.shape) or any(d is not None and d != w for d, w in zip(i.shape[1:], want[1:])):
                raise InputSpecError(f"calibration shape {_dims(want)} does not fit input {i.name!r} "
                                     f"({i.describe()})", hint="match the model's rank and static sizes")
            i = InputInfo(i.name, (None, *want[1:]), i.dtype)
        out.append(i)
    return out


def _dims(shape: Sequence) -> str:
    return "x".join(str(d) for d in shape)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _thread_split(threads: int | None, native: bool) -> tuple[int, int, bool]:
    """(ONNX Runtime intra-op threads, histogram workers, overlap the two phases).

    Native scan (``calibrators/_scan.c``, no GIL held, ~1 ns a value): ONNX Runtime runs a batch on every core,
    then the histograms of that batch fill on every core, one phase after the other -- no two pools fight over the
    cores. numpy scan (~3.3 ns a value, the GIL taken between chunks): ONNX Runtime runs batch k + 1 on every core
    while batch k's histograms fill on half as many workers. Measured on the 224x224 net, 256 images, 2 cores,
    quiet machine: native, phases apart on 2 + 2 threads 4.9 s, overlapped 2 + 1 5.1 s, overlapped 2 + 2 5.1 s;
    numpy, overlapped 2 + 1 7.5 s, 1 + 1 8.5 s, phases apart on all cores 9.4 s.
    """
    cores = _cores()
    if native:
        return threads or cores, cores, False
    return threads or cores, max(1, cores // 2), True


def _probe_bytes(session: Any, inputs: Sequence[InputInfo], tensors: Sequence[str]) -> tuple[dict[str, int], int]:
    """(exposed bytes of one sample per tensor, input bytes of one sample), from one run on a zero batch (one
    sample, or the model's static batch); empty when an input has a dynamic axis besides the batch (no sample
    shape to probe with: give --shape)."""
    if any(d is None for i in inputs for d in i.shape[1:]):
        return {}, 0
    feed = {i.name: np.zeros((i.shape[0] or 1, *i.shape[1:]), i.dtype) for i in inputs}
    per = max(len(next(iter(feed.values()))), 1)
    fetch = [t for t in tensors if t not in feed]
    sizes = {t: int(a.nbytes) for t, a in zip(fetch, session.run(fetch, feed))}
    sizes.update({t: int(feed[t].nbytes) for t in tensors if t in feed})
    return {t: sizes[t] // per for t in tensors}, sum(int(a.nbytes) for a in feed.values()) // per


def _memory_split(session: Any, inputs: Sequence[InputInfo], tensors: Sequence[str], batch_size: int | None,
                 max_memory: int) -> tuple[int | None, tuple]:
    """(batch size, tensor groups) under ``max_memory``; a static batch axis keeps its size (only the tensors
    exposed per run can shrink then)."""
    tensor_bytes, input_bytes = _probe_bytes(session, inputs, tensors)
    if not tensor_bytes:
        return batch_size, (tuple(tensors),)
    static = next((i.shape[0] for i in inputs if i.shape and i.shape[0] is not None), None)
    if static:
        split = split_memory({t: n * static for t, n in tensor_bytes.items()}, input_bytes * static, 1, max_memory)
    else:
        split = split_memory(tensor_bytes, input_bytes, batch_size or 32, max_memory)
    if split.limited:
        info(split.describe())
    return (batch_size if static else split.batch), split.groups


def collect(onnx_path: str | os.PathLike, data: Any, *, tensors: Sequence[str] | None = None,
            batch_size: int | None = None, shape: Any = None, max_samples: int | None = None, num_bins: int = 2048,
            threads: int | None = None, preprocess: Any = None,
            max_memory: int | None = DEFAULT_MAX_MEMORY) -> tuple[Any, str]:
    """Run ``data`` (anything :meth:`jetsonkit.data.DataSpec.parse` takes) through the model in model-sized
    batches and return (HistogramCollector, model sha256). Image data is pre-processed by ``preprocess`` (a
    :class:`jetsonkit.preprocess.PreprocessSpec`), else by the spec stored in the model, else as the input's
    shape implies. ``batch_size``: samples a run for a dynamic batch axis (default 32; a static one decides).
    ``max_memory`` (bytes; None: no budget) lowers that batch and, when one sample does not fit, the number of
    tensors exposed per ONNX Runtime run (:mod:`jetsonkit._memory`)."""
    import calibrators

    model = load_onnx(onnx_path, purpose="calibration")
    if tensors is None:
        from .quantize.placement import calibration_tensors

        tensors = calibration_tensors(model)
    if not tensors:
        raise DataError(f"{onnx_path}: no tensor needs calibration (no Conv / Gemm / MatMul / pooling / residual Add)")
    ort_threads, workers, overlap = _thread_split(threads, calibrators.native_scan())
    # idle ORT threads would spin between runs and compete with the histogram updates for the same cores
    session = ort_session(model, threads=ort_threads, extra_outputs=tensors, spin=False, purpose="calibration")
    inputs = model_inputs(session, shape)
    groups: tuple = (tuple(tensors),)
    if max_memory is not None:
        batch_size, groups = _memory_split(session, inputs, tensors, batch_size, max_memory)
    collector = calibrators.HistogramCollector(num_bins)
    spec = for_model(data, model, preprocess)
    stream = spec.batches(inputs, batch_size=batch_size, max_samples=max_samples)
    for name in tensors:  # created up front: workers then update disjoint histograms, never the dict
        collector.histograms.setdefault(name, calibrators.Histogram(num_bins=num_bins))
    spans: dict[str, tuple[float, float]] = {}
    seen = _run_batches(session, stream, inputs, groups, collector, _batches(stream.total, stream.batch_size),
                        workers, overlap, spans)
    if seen == 0:
        raise DataError(f"calibration data {stream.label!r} is empty", hint="give at least a few hundred samples")
    if spans and all(lo == hi for lo, hi in spans.values()):
        value = next(iter(spans.values()))[0]
        raise DataError(f"calibration data {stream.label!r} is constant (every value is {value:g}): no range can "
                        "be measured from it", hint="calibrate on real samples of what the model will see")
    if seen < ADVISED_SAMPLES:
        warn(f"calibrating with {seen} samples; at least {ADVISED_SAMPLES} are advised for stable ranges")
    return collector, model_sha256(onnx_path)


def _run_batches(session: Any, stream: Any, inputs: Sequence[InputInfo], groups: Sequence[Sequence[str]],
                 collector: Any, total_batches: int | None, workers: int = 1, overlap: bool = True,
                 spans: dict | None = None) -> int:
    """Feed every batch through ONNX Runtime and its tensors into ``collector``; return the samples seen.

    Each batch runs once per group of ``groups`` (one group unless a memory budget split the tensors), exposing
    that group's tensors. Their histograms are filled by ``workers`` threads (tensors split evenly by size); with
    ``overlap`` they fill while ONNX Runtime runs the next batch or group (both release the GIL for their heavy
    loops) and at most one waits, so memory stays at two runs' outputs; without, before the next run starts.
    ``spans`` receives (min, max) of every numeric input over all samples (constant data is refused).
    """
    names = {i.name for i in inputs}
    order = {name: i for i, name in enumerate(t for g in groups for t in g)}
    seen, pending = 0, []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, feed in enumerate(progress(stream, "calibrating: batch", total=total_batches)):
            n = len(next(iter(feed.values())))
            if spans is not None:
                for name, x in feed.items():
                    if x.size and x.dtype.kind in "fiu":
                        lo, hi = float(x.min()), float(x.max())
                        old = spans.get(name, (lo, hi))
                        spans[name] = (min(old[0], lo), max(old[1], hi))
            for group in groups:
                fetch = [t for t in group if t not in names]
                outputs = dict(zip(fetch, session.run(fetch, feed))) if fetch else {}
                outputs.update({t: feed[t] for t in group if t in feed})
                _finish(pending, order)
                pending = [pool.submit(_update, collector, part, index, n)
                           for part in _split({t: outputs[t] for t in group}, workers)]
                del outputs
                if not overlap:
                    _finish(pending, order)
                    pending = []
            seen += n
        _finish(pending, order)
    return seen


def _split(tensors: dict, parts: int) -> list[list[tuple[str, Any]]]:
    """``tensors`` in at most ``parts`` groups of about equal size (largest first, each to the lightest group);
    each group keeps the order of ``tensors`` (graph order), so NaN is reported where it first appears."""
    order = {name: i for i, name in enumerate(tensors)}
    groups: list[list[tuple[str, Any]]] = [[] for _ in range(min(parts, len(tensors)))]
    sizes = [0] * len(groups)
    for name, x in sorted(tensors.items(), key=lambda item: -np.size(item[1])):
        i = sizes.index(min(sizes))
        groups[i].append((name, x))
        sizes[i] += np.size(x)
    return [sorted(group, key=lambda item: order[item[0]]) for group in groups]


def _update(collector: Any, group: list, batch: int, samples: int) -> None:
    for name, x in group:
        collector.histograms[name].update(x, tensor=name, batch=batch, samples=samples)


def _finish(pending: list, order: dict | None = None) -> None:
    """Wait for one batch's histogram updates; NaN / Inf in it become a DataError naming tensor and batch (the
    first such tensor in ``order``, the graph order, when several workers found one)."""
    import calibrators

    errors = []
    for future in pending:
        try:
            future.result()
        except calibrators.NonFiniteError as exc:
            errors.append(exc)
    if errors:
        first = min(errors, key=lambda e: (order or {}).get(e.tensor, 0))
        raise DataError(str(first), hint="the model produced NaN/Inf on this data") from first


def _batches(total: int | None, batch_size: int) -> int | None:
    return None if total is None else -(-total // batch_size)


def calibrate(onnx_path: str | os.PathLike, data: Any, method: str = DEFAULT_METHOD, *,
              output: str | os.PathLike | None = None, trt_cache: str | os.PathLike | None = None,
              trt_version: str = "10.3.0", **options: Any):
    """:func:`run_calibrate` with the settings as keywords; returns the ``calibrators.CalibrationTable``.

    ``options``: the fields of :class:`CalibrationSettings` -- ``batch_size``, ``shape`` (calibration shape for
    dynamic axes), ``max_samples``, ``max_memory`` (bytes or "512M"; None: no budget) and the options ``method``
    declares in ``calibrators.REGISTRY`` (e.g. ``percentile=99.9``: another method's option is a UsageError) --, and
    ``tensors``, ``num_bins``, ``threads``, ``preprocess`` for :func:`collect`.
    """
    extra = {k: options.pop(k) for k in ("tensors", "num_bins", "threads", "preprocess") if k in options}
    fields_ = {f.name for f in fields(CalibrationSettings)}
    method_settings(method, {k: v for k, v in options.items() if k not in fields_ or k in OPTIONS})
    try:
        settings = check(CalibrationSettings(method=method, **options))
    except SettingError as exc:
        raise usage_error(exc, CalibrationSettings) from None
    return run_calibrate(onnx_path, data, settings, output=output, trt_cache=trt_cache, trt_version=trt_version,
                         **extra).table


def _check_run(num_bins: Any, threads: Any, trt_cache: Any, trt_version: str) -> None:
    """UsageError for a library option or a cache version that cannot work, before any data is read."""
    import calibrators

    for key, value in (("num_bins", num_bins), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UsageError(f"{key} {value!r} must be an integer >= 1", hint="drop it for the default")
    if trt_cache is not None:
        try:
            calibrators.trt_version_number(str(trt_version))
        except ValueError as exc:
            raise UsageError(f"--trt-version: {exc}") from exc


def _trt_cache_text(table: Any, path: Any, trt_version: str) -> str:
    import calibrators

    try:
        return calibrators.format_trt_cache(table.amaxes(), version=trt_version)
    except ValueError as exc:
        raise UsageError(f"cannot write TensorRT cache {str(path)!r}: {exc}") from exc


def method_settings(method: str, options: dict) -> dict:
    """The options ``method`` declares (``calibrators.REGISTRY``), checked; UsageError for an unknown method, an
    option of another method, or a value out of range -- the one rule for the CLI, the recipe and the library."""
    import calibrators

    try:
        return calibrators.check_options(method, options)
    except calibrators.UnknownMethodError as exc:
        raise UsageError(str(exc)) from exc
    except ValueError as exc:
        raise UsageError(str(exc), hint=f"calibration method {method!r} takes "
                         f"{', '.join(o.name for o in calibrators.REGISTRY[method].options) or 'no options'}") from exc


def range_rows(table: Any) -> list[dict]:
    """Per tensor, in table (graph) order: the chosen amax, the largest |x| seen, the share of that range kept
    (amax / max |x|: 1.0 keeps every value, below 1.0 clips outliers) and the fraction of exact zeros."""
    rows = []
    for name, r in table.tensors.items():
        absmax = float(r.stats.get("absmax", 0.0))
        rows.append({"tensor": name, "amax": float(r.amax), "absmax": absmax,
                     "kept": float(r.amax) / absmax if absmax else 1.0,
                     "zero_fraction": float(r.stats.get("zero_fraction", 0.0))})
    return rows


RANGE_COLUMNS = ("tensor", "amax", "max |x|", "kept", "zeros")


def range_cells(row: dict) -> list[str]:
    """One :func:`range_rows` row as the text of :data:`RANGE_COLUMNS` (the CLI, report.md and report.html)."""
    return [row["tensor"], f"{row['amax']:.5g}", f"{row['absmax']:.5g}", f"{row['kept']:.1%}",
            f"{row['zero_fraction']:.1%}"]


def format_ranges(rows: Sequence[dict], indent: str = "  ") -> list[str]:
    """:func:`range_rows` as aligned text lines, a header first."""
    cells = [list(RANGE_COLUMNS)] + [range_cells(r) for r in rows]
    width = max(len(c[0]) for c in cells)
    return [f"{indent}{c[0]:<{width}}  {c[1]:>10}  {c[2]:>10}  {c[3]:>6}  {c[4]:>6}" for c in cells]


def write_trt_cache(table: Any, path: str | os.PathLike, trt_version: str = "10.3.0") -> Path:
    """Write ``table`` as a TensorRT calibration cache (TensorRT 8.x / 10.x only)."""
    return write_text_atomic(check_output_path(path), _trt_cache_text(table, path, trt_version))


def summary(table: Any, model: Any, data: Any, output: Any, trt_cache: Any = None,
            trt_version: str | None = None) -> tuple[dict, str]:
    """(JSON-able record, text for people) of a table :func:`calibrate` wrote: its ranges, where it went."""
    rows = range_rows(table)
    lines = [f"{table.method} ranges for {len(rows)} tensors from {table.samples} samples -> {output}",
             *format_ranges(rows)]
    if trt_cache:
        lines.append(f"TensorRT {trt_version} calibration cache -> {trt_cache}")
    record = {"model": str(model), "data": data if isinstance(data, str) else None, "method": table.method,
              "output": str(output), "trt_cache": trt_cache, "samples": table.samples,
              "model_sha256": table.model_sha256,
              "tensors": {r["tensor"]: {"amax": r["amax"], "absmax": r["absmax"]} for r in rows}}
    return record, "\n".join(lines)
