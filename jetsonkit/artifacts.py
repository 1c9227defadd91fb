"""The files one stage hands to the next, read and checked in one place.

- ONNX models: :func:`load_onnx` reads a model by its path, so weights stored as external data (``*.onnx.data``
  beside the model) load from any working directory; :func:`model_sha256` is the hash every artifact records.
- Calibration tables (``jetsonkit calibrate``'s JSON, ``calibrators.CalibrationTable``): :func:`read_table` loads
  one and refuses a table made for another model with one error, :class:`~jetsonkit.errors.IncompatibleArtifactError`,
  and one message, in every stage (``quantize``, ``convert``, ``build``, ``qat``, sensitivity); ``allow_other_model``
  (``--allow-other-model``) is the one way to use it anyway.
- ONNX Runtime sessions on the CPU: :func:`ort_session` (thread count, extra graph outputs for calibration).
- TFLite metadata: :func:`read_tflite_metadata` (the ``jetsonkit`` entry ``convert`` embeds: layout, I/O dtypes and
  quantization, precision, calibration, source hash; also written beside the file as ``<model>.tflite.json``).
- Engine sidecars (``<engine>.json``: TensorRT version, GPU, build options) are written and checked by
  :mod:`jetsonkit.engine.sidecar`, the TensorRT stage's own file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ._deps import require
from ._io import sha256_bytes, sha256_file
from .errors import ConfigError, DataError, IncompatibleArtifactError, InputError, ModelLoadError

__all__ = ["load_onnx", "onnx_source", "model_sha256", "read_table", "check_table_model", "table_ranges", "ort_session",
           "with_outputs", "ort_predictor", "check_fits", "batched", "read_tflite_metadata", "TFLITE_METADATA"]

DEFAULT_BATCH = 500  # samples per ONNX Runtime run when the model's batch axis is free

_MAKE_TABLE = "make one with `jetsonkit calibrate MODEL.onnx --data ... -o calib.json`"


def load_onnx(path: str | os.PathLike, *, purpose: str = "reading the model", external_data: bool = True) -> Any:
    """The ModelProto at ``path``; external data is resolved beside the file (not the working directory).

    ModelLoadError when the file is missing, does not parse, or holds no graph nodes.
    """
    onnx = require("onnx", purpose=purpose)
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"ONNX model {str(p)!r} not found", hint="export it first: jetsonkit export ...")
    try:
        model = onnx.load(str(p), load_external_data=external_data)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad model file
        raise ModelLoadError(f"cannot read ONNX model {str(p)!r}: {exc}", hint="re-export it") from exc
    if not model.graph.node:
        raise ModelLoadError(f"ONNX model {str(p)!r} has no graph nodes (an empty or non-ONNX file)",
                             hint="pass the .onnx file written by `jetsonkit export`")
    return model


def onnx_source(model: Any, *, purpose: str = "reading the model") -> tuple[Any, str | None, str]:
    """(ModelProto, sha256 of the file or None, a label for messages) from a path or a ModelProto."""
    onnx = require("onnx", purpose=purpose)
    if isinstance(model, onnx.ModelProto):
        return model, None, "<in-memory model>"
    return load_onnx(model, purpose=purpose), sha256_file(model), str(model)


def model_sha256(model: Any) -> str:
    """The sha256 every artifact records for its source model: of the file's bytes (a path), or of the
    serialized ModelProto."""
    if isinstance(model, (str, os.PathLike)):
        return sha256_file(model)
    return sha256_bytes(model.SerializeToString())


def _from_mapping(table: Mapping, where: str) -> Any:
    """A CalibrationTable from ``{"tensors": {name: amax | {"amax": ...}}, "model_sha256": ...}`` or
    ``{name: amax}``."""
    import calibrators

    tensors = table["tensors"] if "tensors" in table else table
    if not isinstance(tensors, Mapping):
        raise ConfigError(f"{where} has no 'tensors' mapping", hint="pass a calibrators.CalibrationTable")
    ranges = {}
    for name, value in tensors.items():
        amax = getattr(value, "amax", value)
        if isinstance(amax, Mapping):
            amax = amax.get("amax")
        try:
            ranges[str(name)] = calibrators.TensorRange(float(amax), str(table.get("method", "given")))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: tensor {name!r} has amax {amax!r}, expected a number",
                              hint=_MAKE_TABLE) from None
    sha = table.get("model_sha256") if "tensors" in table else None
    return calibrators.CalibrationTable(ranges, str(table.get("method", "given")), sha)


def read_table(table: Any, *, model: Any = None, model_label: str | None = None,
               allow_other_model: bool = False) -> Any:
    """A ``calibrators.CalibrationTable`` from a table file, a table, or a mapping (see :func:`_from_mapping`).

    With ``model`` (a path, a ModelProto, or a sequence of accepted sha256 hashes) a table that records
    another model's hash raises IncompatibleArtifactError unless ``allow_other_model``. A file that cannot be read
    raises ConfigError naming the file and the key.
    """
    import calibrators

    where = str(table) if isinstance(table, (str, os.PathLike)) else "calibration table"
    if isinstance(table, (str, os.PathLike)):
        try:
            table = calibrators.CalibrationTable.load(table)
        except calibrators.CalibrationError as exc:
            raise ConfigError(str(exc).strip().splitlines()[0], hint=_MAKE_TABLE) from exc
    elif isinstance(table, Mapping):
        table = _from_mapping(table, where)
    elif not hasattr(table, "tensors"):
        raise ConfigError(f"{type(table).__name__} is not a calibration table",
                          hint="pass a calib.json path or a calibrators.CalibrationTable")
    if model is not None:
        check_table_model(table, model, model_label=model_label, source=where, allow_other_model=allow_other_model)
    return table


def check_table_model(table: Any, model: Any, *, model_label: str | None = None, source: str | None = None,
                      allow_other_model: bool = False) -> None:
    """IncompatibleArtifactError when ``table`` records a model hash that is not ``model``'s.

    ``model``: a path, a ModelProto, or a sequence of accepted sha256 hashes (a model read from a file matches
    by its bytes or by its serialized proto). A table with no recorded hash is accepted.
    """
    recorded = getattr(table, "model_sha256", None)
    if not recorded or allow_other_model:
        return
    if isinstance(model, (str, os.PathLike)):
        accepted, label = (sha256_file(model),), model_label or str(model)
    elif hasattr(model, "SerializeToString"):
        accepted, label = (model_sha256(model),), model_label or "the model"
    else:
        accepted, label = tuple(h for h in model if h), model_label or "the model"
    if recorded in accepted:
        return
    where = f" ({source})" if source and source != "calibration table" else ""
    raise IncompatibleArtifactError(
        f"calibration table{where} was made for model sha256 {recorded[:12]}… but {label} has sha256 "
        f"{accepted[0][:12]}…",
        hint="recalibrate this model: jetsonkit calibrate MODEL.onnx ..., or pass --allow-other-model "
             "(allow_other_model=True) to use its ranges anyway")


def table_ranges(table: Any) -> dict[str, float]:
    """tensor -> amax of a table (file, table, or mapping; no model check)."""
    return {name: float(r.amax) for name, r in read_table(table).tensors.items()}


def with_outputs(model: Any, tensors: Iterable[str]) -> Any:
    """A copy of ``model`` whose graph also outputs ``tensors`` (types from shape inference, else float)."""
    onnx = require("onnx", purpose="reading intermediate tensors")
    extended = onnx.ModelProto()
    extended.CopyFrom(model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    except Exception:  # noqa: BLE001 - inference is only a source of element types
        types = {}
    present = {o.name for o in extended.graph.output} | {i.name for i in extended.graph.input}
    for name in tensors:
        if name not in present:
            elem = types.get(name) or onnx.TensorProto.FLOAT
            extended.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, None))
    return extended


def ort_session(model: Any, *, threads: int | None = None, extra_outputs: Sequence[str] = (),
                optimize: bool = True, spin: bool = True, purpose: str = "running the model") -> Any:
    """An ONNX Runtime CPU session of ``model`` (a path or a ModelProto).

    ``threads``: intra-op threads (None: ONNX Runtime's default). ``extra_outputs``: intermediate tensors the
    session also returns (calibration). ``optimize=False`` keeps every tensor of the graph as it is. ``spin=False``
    stops idle worker threads spinning between runs (they would compete with other work for the cores).
    ModelLoadError when ONNX Runtime refuses the model.
    """
    ort = require("onnxruntime", purpose=purpose)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    where = str(model) if isinstance(model, (str, os.PathLike)) else "the model"
    if extra_outputs:
        proto = load_onnx(model, purpose=purpose) if isinstance(model, (str, os.PathLike)) else model
        source: Any = with_outputs(proto, extra_outputs).SerializeToString()
    elif isinstance(model, (str, os.PathLike)):
        if not Path(model).is_file():
            raise ModelLoadError(f"model {where!r} not found", hint="pass an existing .onnx file")
        source = os.fspath(model)  # by path: ONNX Runtime finds external data beside the file
    else:
        source = model.SerializeToString()
    try:
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types for bad models
        raise ModelLoadError(f"ONNX Runtime cannot load {where}: {exc}",
                             hint="check the file with onnx.checker") from exc



def ort_predictor(model: Any, threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``x -> first output`` running ``model`` (path or ModelProto) in ONNX Runtime on the CPU."""
    sess = ort_session(model, threads=threads, purpose="evaluation in ONNX Runtime")
    where = str(model) if isinstance(model, (str, os.PathLike)) else "the model"
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise ModelLoadError(f"{where}: evaluation feeds one input tensor, this model has {len(inputs)} ({names})",
                             hint="evaluate a single-input model, or run this one from Python with jetsonkit.Runtime")
    inp = inputs[0]
    fixed = inp.shape[0] if inp.shape and isinstance(inp.shape[0], int) else None

    def run(x: np.ndarray) -> np.ndarray:
        check_fits(x, inp, where)
        return batched(lambda b: sess.run(None, {inp.name: b})[0], x, fixed or DEFAULT_BATCH, exact=bool(fixed))

    return run


_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
               "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def check_fits(x: np.ndarray, inp: Any, where: str) -> None:
    """DataError naming the input tensor when ``x`` has the wrong rank, fixed dimension or dtype for ONNX Runtime
    input ``inp``."""
    want = [d if isinstance(d, int) else "?" for d in (inp.shape or [])]
    fits = len(want) == x.ndim and all(w == "?" or w == d for w, d in zip(want[1:], x.shape[1:]))
    if not fits:
        raise DataError(f"data shape {list(x.shape)} does not fit input {inp.name!r} of {where} "
                        f"[{', '.join(map(str, want))}]", hint="pass samples shaped like the model's input (NCHW)")
    dtype = _ORT_DTYPES.get(inp.type)
    if dtype and x.dtype != np.dtype(dtype):
        raise DataError(f"data dtype {x.dtype} does not fit input {inp.name!r} of {where} ({dtype})",
                        hint=f"convert the data first, e.g. x.astype(numpy.{dtype}) with the model's scaling")


def batched(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int, exact: bool = False) -> np.ndarray:
    """``fn`` over ``x`` in batches; ``exact`` (a static batch axis): a short last batch is padded with copies of
    its last sample and the padding's outputs dropped."""
    outs = []
    for i in range(0, len(x), batch):
        part = np.asarray(x[i:i + batch])
        short = batch - len(part) if exact else 0
        if short:
            part = np.concatenate([part, np.repeat(part[-1:], short, axis=0)])
        out = np.asarray(fn(part))
        outs.append(out[:len(out) - short] if short else out)
    return np.concatenate(outs, axis=0)


TFLITE_METADATA = "jetsonkit"  # the name of the metadata entry ``jetsonkit convert`` writes into a .tflite


def read_tflite_metadata(path: str | os.PathLike) -> dict:
    """The jetsonkit metadata embedded in a .tflite written by ``jetsonkit convert`` ({} if there is none);
    InputError naming the file when it is not a TFLite flatbuffer or its metadata is not a JSON object."""
    schema = require("ai_edge_litert.schema_py_generated", purpose="reading .tflite metadata")
    data = Path(path).read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InputError(f"{str(path)!r} is not a TFLite model (no TFL3 flatbuffer identifier)",
                         hint="pass a .tflite written by jetsonkit convert")
    try:
        raw = None
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() is not None and entry.Name().decode() == TFLITE_METADATA:
                buf = model.Buffers(entry.Buffer())
                raw = buf.DataAsNumpy().tobytes() if buf.DataLength() else b""
                break
    except Exception as exc:  # noqa: BLE001 - the flatbuffers reader raises struct / index / type errors on bad bytes
        raise InputError(f"{str(path)!r} is a damaged TFLite file ({type(exc).__name__} reading its metadata)",
                         hint="convert the model again") from exc
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{str(path)!r}: jetsonkit metadata is not JSON", hint="convert the model again") from exc
    if not isinstance(meta, dict):
        raise InputError(f"{str(path)!r}: jetsonkit metadata is not a JSON object", hint="convert the model again")
    return meta
