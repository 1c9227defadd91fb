"""ONNX -> .tflite (fp32, fp16, full-integer int8), written by jetsonkit itself.

Route: our own lowering of the ONNX graph to TFLite flatbuffers (see docs/tflite.md for the measured comparison
with litert-torch, onnx2tf and TensorFlow's converter). It needs onnx, onnxruntime (int8 ranges) and ai-edge-litert
(the schema), no TensorFlow, and no network. INT8 uses the same calibration table as the TensorRT Q/DQ path.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


from .. import __version__
from .._io import atomic_path, sha256_file, write_json_atomic
from .._native import chatter
from .._progress import info
from ..artifacts import TFLITE_METADATA as METADATA_NAME
from ..artifacts import read_tflite_metadata as read_metadata  # noqa: F401 - the public name of jetsonkit.convert
from ..errors import BackendError, DataError, IncompatibleArtifactError, InputError, UsageError
from .options import IO_TYPES, LAYOUTS, PRECISIONS, ConvertSettings  # noqa: F401 - IO_TYPES etc.: public names



@dataclass
class ConvertResult:
    path: Path
    precision: str
    io: str
    size_bytes: int
    ops: dict[str, int]
    metadata: dict
    sidecar: Path
    ranges_source: dict[str, int] = field(default_factory=dict)
    placement: dict[str, str] = field(default_factory=dict)  # ONNX node -> "int8" | "float" (int8 models)

    @property
    def float_islands(self) -> dict[str, int]:
        """ONNX ops that run in float inside an int8 model (no int8 kernel, or no calibrated range), with counts."""
        return self.metadata.get("float_islands") or {}

    @property
    def calibration(self) -> dict | None:
        """int8: the table's method and model hash, the method used here, and where each range came from."""
        return self.metadata.get("calibration")

    def to_dict(self) -> dict:
        return {"path": str(self.path), "precision": self.precision, "io": self.io, "size_bytes": self.size_bytes,
                "ops": self.ops, "ranges_source": self.ranges_source, "float_islands": self.float_islands,
                "calibration": self.calibration, "sidecar": str(self.sidecar), "inputs": self.metadata["inputs"],
                "outputs": self.metadata["outputs"]}

    def summary(self) -> str:
        """One line for people: the file, its size, precision and I/O, the input it takes, the TFLite ops."""
        ins = ", ".join(f"{i['name']} {i['dtype']} {i['shape']} {i['layout'] or ''}".rstrip()
                        for i in self.metadata["inputs"])
        return (f"wrote {self.path} ({self.size_bytes / 1024:.1f} KiB, {self.precision}, {self.io} I/O); "
                f"input {ins}; ops {', '.join(f'{k}x{v}' for k, v in sorted(self.ops.items()))}")


def _check_options(precision: str, io: str, input_layout: str, data, calib, limit, method) -> None:
    from ..settings import SettingError, check

    try:  # each option's own check lives in ConvertSettings (the CLI's flags and a recipe target read it too)
        check(ConvertSettings(precision=precision, io=io, input_layout=input_layout, method=method))
    except SettingError as exc:
        raise UsageError(f"{exc.key}: {exc}", hint=exc.hint) from None
    if calib is not None and method is not None:
        raise UsageError(f"the calibration table fixes the method; method={method!r} applies without one",
                         hint="drop --method, or drop --calib to calibrate here with that method")
    if precision != "int8" and (io == "int8" or calib is not None):
        raise UsageError(f"--io int8 / --calib apply to --precision int8, not {precision}",
                         hint="drop them or pass --precision int8")
    if precision == "int8" and data is None:
        raise UsageError("--precision int8 needs calibration data (the same samples as `jetsonkit calibrate`)",
                         hint="pass data=array / --data samples.npy (with --calib calib.json to reuse its ranges)")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UsageError(f"calibration sample limit must be an integer >= 1, got {limit!r}",
                         hint="e.g. --limit 1000, or leave it out")


def convert_tflite(onnx_path: str | os.PathLike, out_path: str | os.PathLike, *, precision: str = "fp32",
                   data=None, calib=None, method: str | None = None, io: str = "float",
                   input_layout: str = "nhwc", limit: int | None = None,
                   allow_other_model: bool = False, input_shape=None) -> ConvertResult:
    """Convert ``onnx_path`` to a .tflite at ``out_path``.

    ``data``: calibration samples in the ONNX model's layout (NCHW), needed for int8: an array, or anything
    :class:`jetsonkit.data.DataSpec` parses (``"mnist:train:1000"``, a ``.npy`` / ``.npz`` file, an image
    folder), as for ``jetsonkit calibrate``; ``limit`` caps the samples used. ``calib``: a calibration table
    (path or ``calibrators.CalibrationTable``) whose amax values are imposed; without it, ``method`` (default
    entropy, as ``jetsonkit calibrate``) makes the same table from ``data``; see :func:`_int8_ranges`. A table
    made for another model is refused unless ``allow_other_model``. ``io``: int8 model inputs/outputs (else float, quantized inside). ``input_layout``: what the caller
    feeds 4-D inputs as ("nhwc", a camera's layout, or "nchw"). ``input_shape``: the size to convert a model
    with dynamic dimensions besides the batch at, e.g. ``(1, 3, 640, 640)`` (a .tflite has fixed H / W; the batch
    stays dynamic).
    """
    from . import ops  # noqa: F401 - importing the op modules registers their lowerings
    from .lower import Lowering
    from .onnx_graph import load_graph

    _check_options(precision, io, input_layout, data, calib, limit, method)
    if not os.path.isfile(onnx_path):
        raise InputError(f"model {str(onnx_path)!r} not found", hint="pass a .onnx file (jetsonkit export makes one)")
    graph = load_graph(onnx_path, input_shape)
    if len(graph.inputs) != 1 and precision == "int8":
        raise UsageError(f"int8 conversion supports one model input, {onnx_path} has {len(graph.inputs)}")
    ranges, table = (None, None)
    if precision == "int8":
        ranges, table, method = _int8_ranges(graph, str(onnx_path), data, calib, method, limit, allow_other_model)
    info(f"lowering {len(graph.nodes)} ONNX nodes to TFLite ({precision}, {io} I/O, {input_layout.upper()} input)")
    lowering = Lowering(graph, precision, ranges, input_layout, io)
    builder = lowering.run()
    builder.io_details = lowering.io_details
    meta = _metadata(onnx_path, precision, io, input_layout, table, method, ranges)
    placement = lowering.placement if precision == "int8" else {}
    if placement:
        ops = {n.name: n.op for n in graph.nodes}
        meta["float_islands"] = dict(sorted(Counter(ops[k] for k, v in placement.items() if v == "float").items()))
        meta["float_post_processing"] = sorted(k for k, v in placement.items() if v.endswith("(post-processing)"))
        if meta["float_islands"]:
            info("int8: float islands (no int8 kernel or no range): "
                 + ", ".join(f"{op} x{n}" for op, n in meta["float_islands"].items()))
        if meta["float_post_processing"]:
            info(f"int8: {len(meta['float_post_processing'])} post-processing nodes after the last weighted layer "
                 "stay float (box decode, final softmax)")
    result = _write(builder, out_path, meta, precision, io, ranges)
    result.placement = placement
    return result


# Tensors outside the shared table (a network's logits, the sums TFLite keeps before a fused activation: TensorRT
# never quantizes them) take percentile 99.99 of the same histograms. Entropy suits activations feeding a quantized
# layer, but clips the rare large logits that decide the arg-max (measured on tests/jetsonkit/convert/test_ops.py's
# mixed net: softmax error 0.126 with entropy logits vs < 0.05 with percentile).
OUTSIDE_TABLE_METHOD = "percentile"


def _int8_ranges(graph, onnx_path: str, data, calib, method: str | None, limit: int | None,
                 allow_other_model: bool):
    """``({tensor: Range}, table, method)`` for the model's input and every node output.

    One calibration for every backend: the Q/DQ tensors take the shared table's amax -- ``calib``, or, without it,
    the very table `jetsonkit calibrate` makes (``method``, default its default) from one pass of
    :func:`jetsonkit.calibrate.collect` on ``data``; the same pass fills the tensors outside the table
    (:data:`OUTSIDE_TABLE_METHOD`). A tensor whose calibration data never went negative gets TFLite's asymmetric
    [0, amax] range (zero point -128), the others a symmetric one.
    """
    import calibrators

    from ..artifacts import load_onnx, read_table
    from ..calibrate import DEFAULT_METHOD, collect
    from ..quantize.placement import calibration_tensors
    from .quant import Range

    names = [graph.inputs[0], *graph.float_tensors()]  # int tensors (indices, shapes) are never calibrated
    table = None
    if calib is not None:
        table = read_table(calib, model=onnx_path, allow_other_model=allow_other_model)
        _check_table_fits(table, names, onnx_path, calib)
        method = table.method
        sites: list[str] = []
    else:
        method = method or DEFAULT_METHOD
        sites = [t for t in calibration_tensors(load_onnx(onnx_path)) if t in set(names)]
    outside = [n for n in names if n not in sites and (table is None or n not in table.tensors)]
    tables = {"table": table}
    if sites or outside:
        collector, sha = collect(onnx_path, data, tensors=sites + outside, max_samples=limit)
        for key, subset, how in (("table", sites, method), ("outside", outside, OUTSIDE_TABLE_METHOD)):
            if subset:
                part = calibrators.HistogramCollector(collector.num_bins)
                part.histograms = {n: collector.histograms[n] for n in subset}
                tables[key] = calibrators.CalibrationTable.from_collector(part, how, model_sha256=sha)
    ranges = {}
    for name in names:
        inside = tables["table"] is not None and name in tables["table"].tensors
        r = tables["table" if inside else "outside"].tensors[name]
        amax, lo = float(r.amax), r.stats.get("min")
        if inside and not amax > 0:
            raise DataError(f"tensor {name!r} has a degenerate range in the calibration table (amax {amax:g}: all "
                            "zeros in calibration); a full-integer TFLite model has no float fallback for it",
                            hint="convert with --precision fp16, or recalibrate on data that reaches that tensor")
        ranges[name] = Range(0.0 if lo is not None and lo >= 0 else -amax, amax,
                             "table" if inside else f"calibrated:{OUTSIDE_TABLE_METHOD}")
    return ranges, tables["table"], method


def _check_table_fits(table, names: list[str], onnx_path: str, calib) -> None:
    """A table made for another model shares no tensor names with this one: refuse it."""
    where = calib if isinstance(calib, (str, os.PathLike)) else "the calibration table"
    if not set(table.tensors) & set(names):
        raise IncompatibleArtifactError(f"{where} names none of this model's tensors ({onnx_path})",
                                        hint="calibrate this model: jetsonkit calibrate MODEL.onnx ...")


def _metadata(onnx_path, precision, io, layout, table, method, ranges) -> dict:
    calib = None
    if precision == "int8":
        calib = {"table_method": getattr(table, "method", None), "method": method,
                 "table_model_sha256": getattr(table, "model_sha256", None),
                 "sources": dict(Counter(r.source for r in ranges.values()))}
    from ..preprocess.metadata import from_onnx, to_metadata

    spec = from_onnx(onnx_path)  # the source's pre-processing spec travels with the .tflite (the runtime's "auto")
    return {"format": "jetsonkit-tflite/1", "jetsonkit": __version__, "source": str(onnx_path),
            "source_sha256": sha256_file(onnx_path), "precision": precision, "io": io,
            "input_layout": layout.upper(), "calibration": calib, **(to_metadata(spec) if spec else {})}


def _write(builder, out_path, meta, precision, io, ranges) -> ConvertResult:
    meta = {**meta, **_io_details(builder)}
    builder.metadata[METADATA_NAME] = json.dumps(meta, sort_keys=True).encode()
    data = builder.to_bytes(description=f"jetsonkit {__version__} {precision}")
    _check_loads(data)
    out = Path(out_path)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    sidecar = write_json_atomic(str(out) + ".json", meta)
    ops = Counter(_opcode_names(builder))
    src = Counter(r.source for r in (ranges or {}).values())
    return ConvertResult(out, precision, io, len(data), dict(ops), meta, sidecar, dict(src))


def _check_loads(data: bytes) -> None:
    """LiteRT must accept what we wrote (op versions, shapes) before anything is on disk."""
    from .._deps import require

    interpreter = require("ai_edge_litert.interpreter", purpose="checking the converted model")
    try:
        with chatter():  # LiteRT's XNNPACK INFO line (the CLI process discards it): XNNPACK must accept it too
            interpreter.Interpreter(model_content=data).allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise BackendError(f"LiteRT refuses the converted model: {exc}".replace("\n", " ").strip(),
                           hint="a jetsonkit lowering bug: report it with the ONNX model; --debug shows more") from exc


def _io_details(builder) -> dict:
    return getattr(builder, "io_details", None) or {}


def _opcode_names(builder) -> list[str]:
    s = builder.s
    by_code = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    codes = {idx: by_code[code] for (code, _), idx in builder.opcodes.items()}
    return [codes[o.opcodeIndex] for o in builder.operators]
