"""PyTorch -> clean, verified ONNX.

:func:`export_onnx` runs the whole export stage: check that the example inputs fit the model (torch forward), export
(legacy or dynamo exporter, with fallback), clean up with onnx-graphsurgeon, give nodes stable names, infer shapes,
run ``onnx.checker`` with ``full_check``, run the parity check in ONNX Runtime, and only then rename the file onto
``path`` (with its external-data file first when the weights exceed 2 GB). A failure at any step leaves nothing under
``path``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._deps import require
from .._io import check_output_path
from .._progress import info
from ..errors import CheckFailed, InputSpecError
from .cleanup import clean_graph, describe_value, infer_and_check, name_nodes_by_module, stabilize_node_names
from .exporters import EXPORTERS, run_exporter
from .parity import ParityReport, compare_outputs

__all__ = ["export_onnx", "ExportResult", "ParityReport", "EXPORTERS", "DEFAULT_OPSET", "check_parity", "as_example_tensors"]

DEFAULT_OPSET = 17  # parsed by TensorRT 8.6, 10.x and 11.x, ONNX Runtime and onnx2tf
EXTERNAL_DATA_BYTES = 2_000_000_000  # protobuf's hard limit is 2 GiB; keep a margin for the graph itself


@dataclass
class ExportResult:
    """What :func:`export_onnx` made and how it was checked."""

    path: Path
    exporter: str  # "legacy" or "dynamo": the one that produced the file
    opset: int
    inputs: list[dict]  # [{"name", "shape" (int or label per axis), "dtype"}]
    outputs: list[dict]
    nodes: int
    parity: ParityReport | None
    external_data: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # export / cleanup / check / parity
    notes: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        extra = self.external_data.stat().st_size if self.external_data else 0
        return self.path.stat().st_size + extra

    def summary(self) -> str:
        io = ", ".join(f"{t['name']} {'x'.join(map(str, t['shape']))}" for t in self.inputs)
        return (f"{self.path}: opset {self.opset}, {self.nodes} nodes, {self.size_bytes / 1e6:.2f} MB, "
                f"inputs {io}, exported with the {self.exporter} exporter")

    def to_dict(self) -> dict:
        return {
            "path": str(self.path), "exporter": self.exporter, "opset": self.opset, "inputs": self.inputs,
            "outputs": self.outputs, "nodes": self.nodes, "size_bytes": self.size_bytes,
            "external_data": str(self.external_data) if self.external_data else None,
            "parity": self.parity.to_dict() if self.parity else None, "seconds": self.seconds, "notes": self.notes,
        }


def export_onnx(model: Any, example_inputs: Any, path: str | Path, *, input_names: Sequence[str] | None = None,
                output_names: Sequence[str] | None = None, dynamic: bool | str | dict | None = None,
                opset: int = DEFAULT_OPSET, exporter: str = "auto", fold_constants: bool = True,
                parity: bool = True, atol: float = 1e-4, rtol: float = 1e-4, random_trials: int = 2,
                external_data: bool | None = None, seed: int = 0) -> ExportResult:
    """Export ``model`` to a clean, checked ONNX file at ``path``; see the module docstring for the steps.

    ``example_inputs``: a tensor / array or a tuple of them (positional forward arguments).
    ``dynamic``: ``None`` (static), ``True`` or a label (axis 0 of every input and output, named ``"batch"`` or the
    label), or ``{tensor name: {axis: label}}`` / ``{tensor name: [axes]}``; the key ``"*"`` applies to every output.
    ``parity``: compare ONNX Runtime with torch on the example and ``random_trials`` random inputs (a dynamic batch
    axis gets batch 3 in the random trials); raise CheckFailed (exit 1) above ``atol + rtol*|ref|``.
    ``external_data``: ``None`` = only when the weights exceed 2 GB.
    """
    torch = require("torch", purpose="ONNX export")
    onnx = require("onnx", purpose="ONNX export")
    final = check_output_path(path)
    if getattr(model, "training", False):  # dropout / batch statistics would make torch and ONNX disagree
        info("export: the model was in training mode; switching it to eval mode for export and parity")
        model.eval()
    args = as_example_tensors(torch, example_inputs)
    in_names = list(input_names) if input_names else _default_names("input", len(args))
    if len(in_names) != len(args):
        raise InputSpecError(f"{len(in_names)} input names ({', '.join(in_names)}) for {len(args)} example inputs",
                             hint="give one name per example input")
    reference = _reference_outputs(torch, model, args, in_names)
    if output_names and len(output_names) != len(reference):
        raise InputSpecError(f"{len(output_names)} output names ({', '.join(output_names)}) for a model with "
                             f"{len(reference)} output(s)", hint="give one --output-name per model output")
    out_names = list(output_names) if output_names else _default_names("output", len(reference))
    axes = _dynamic_axes(dynamic, in_names, out_names, args)
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        t0 = time.perf_counter()
        used, notes = run_exporter(model, args, work / "raw.onnx", exporter=exporter, opset=opset,
                                   input_names=in_names, output_names=out_names, dynamic_axes=axes)
        for note in notes:
            info(f"export: {note}")
        info(f"export: {type(model).__name__} exported with the {used} exporter (opset {opset})")
        seconds["export"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        staged, data_name = _clean_and_stage(onnx, work, final.name, used, fold_constants, external_data, notes)
        seconds["cleanup"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        infer_and_check(staged)
        seconds["check"] = time.perf_counter() - t0

        report = None
        if parity:
            t0 = time.perf_counter()
            report = check_parity(staged, model, args, reference, in_names, out_names, axes, atol=atol, rtol=rtol,
                                  random_trials=random_trials, seed=seed)
            seconds["parity"] = time.perf_counter() - t0
            _raise_unless_parity(report, final.name)
        checked = onnx.load(str(staged), load_external_data=False)
        if data_name:
            shutil.move(str(work / data_name), str(final.parent / data_name))
        staged.replace(final)  # same folder: an atomic rename
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(
        path=final, exporter=used, opset=opset, inputs=_value_infos(checked.graph.input),
        outputs=_value_infos(checked.graph.output), nodes=len(checked.graph.node), parity=report,
        external_data=(final.parent / data_name) if data_name else None, seconds=seconds, notes=notes,
    )


def _clean_and_stage(onnx, work: Path, name: str, exporter: str, fold: bool, external_data: bool | None,
                     notes: list[str]) -> tuple[Path, str | None]:
    """Clean ``work/raw.onnx``, name its nodes, save it as ``work/<name>``; return that path and the data file name."""
    proto = onnx.load(str(work / "raw.onnx"))
    if exporter == "dynamo":  # before graphsurgeon, which drops node metadata
        name_nodes_by_module(proto)
        stabilize_node_names(proto)
    big = _weight_bytes(proto) > EXTERNAL_DATA_BYTES if external_data is None else bool(external_data)
    proto = clean_graph(proto, fold_constants=fold and not big)  # folding a > 2 GB graph in memory would fail
    renamed = stabilize_node_names(proto)
    if renamed:
        notes.append(f"{renamed} unnamed or repeated node names were made unique (/<OpType>_<k>, <name>_<k>)")
    staged = work / name
    data_name = f"{name}.data" if big else None
    if data_name:
        onnx.save_model(proto, str(staged), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_name, size_threshold=1024)
    else:
        onnx.save_model(proto, str(staged))
    return staged, data_name


def _raise_unless_parity(report: ParityReport, name: str) -> None:
    if not report.ok:
        raise CheckFailed(
            f"parity failed for {name}: max abs error {report.max_abs:.3g} above tolerance "
            f"{report.atol:g} + {report.rtol:g}*|ref| (nothing written)",
            hint="see the table; loosen --atol/--rtol only if the difference is expected",
            details=report.table(),
        )


def as_example_tensors(torch, example_inputs: Any) -> tuple:
    """Example inputs as a tuple of tensors (numpy arrays converted); InputSpecError for anything else."""
    items = example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    out = []
    for i, x in enumerate(items):
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if not isinstance(x, torch.Tensor):
            raise InputSpecError(f"example input {i} is a {type(x).__name__}, not a tensor or numpy array",
                                 hint="pass tensors (or a tuple of them) matching the model's forward arguments")
        out.append(x)
    return tuple(out)


def _reference_outputs(torch, model, args: tuple, names: list[str]) -> list[np.ndarray]:
    """torch's outputs on the example, flattened to a list; a forward that fails means the inputs do not fit."""
    runnable = model.module() if isinstance(model, torch.export.ExportedProgram) else model
    try:
        with torch.no_grad():
            out = runnable(*args)
    except Exception as exc:  # noqa: BLE001 - any forward failure on the example is an input mismatch for the user
        given = ", ".join(f"{n} {tuple(a.shape)} {str(a.dtype).replace('torch.', '')}" for n, a in zip(names, args))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputSpecError(f"the model does not accept the example inputs {given}: {type(exc).__name__}: {first}",
                             hint="fix --input to the shapes and dtypes the model's forward expects") from exc
    flat = _flatten(torch, out)
    if not flat:
        raise InputSpecError("the model returned no tensors on the example input", hint="forward must return tensors")
    return flat


def _flatten(torch, out: Any) -> list[np.ndarray]:
    if isinstance(out, torch.Tensor):
        return [out.detach().cpu().numpy()]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [a for item in out for a in _flatten(torch, item)]
    return []


def _default_names(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}_{i}" for i in range(n)]


def _dynamic_axes(dynamic, in_names: list[str], out_names: list[str], args: tuple) -> dict[str, dict[int, str]]:
    if dynamic is None or dynamic is False:
        return {}
    if dynamic is True or isinstance(dynamic, str):
        label = "batch" if dynamic is True else dynamic
        return {name: {0: label} for name in [*in_names, *out_names]}
    if not isinstance(dynamic, dict):
        raise InputSpecError(f"dynamic={dynamic!r} is not understood", hint="use True, a label, or {name: {axis: label}}")
    axes: dict[str, dict[int, str]] = {}
    ranks = {n: a.dim() for n, a in zip(in_names, args)}
    dynamic = dict(dynamic)
    every_output = dynamic.pop("*", None)
    if every_output is not None:
        dynamic = {**{n: every_output for n in out_names}, **dynamic}
    for name, spec in dynamic.items():
        if name not in ranks and name not in out_names:
            raise InputSpecError(f"dynamic axes name {name!r}, which is neither an input ({', '.join(in_names)}) "
                                 f"nor an output ({', '.join(out_names)})", hint="use the names given to export")
        spec = spec if isinstance(spec, dict) else {int(a): f"{name}_{a}" for a in spec}
        for axis in spec:
            if name in ranks and not 0 <= int(axis) < ranks[name]:
                raise InputSpecError(f"dynamic axis {axis} of input {name!r}: the input has rank {ranks[name]}",
                                     hint=f"use an axis in 0..{ranks[name] - 1}")
        axes[name] = {int(a): str(lbl) for a, lbl in spec.items()}
    return axes


def _weight_bytes(proto) -> int:
    return sum(len(t.raw_data) or 0 for t in proto.graph.initializer)


def _value_infos(values) -> list[dict]:
    return [describe_value(v) for v in values]


def check_parity(onnx_path: Path, model, args: tuple, reference: list[np.ndarray], in_names: list[str],
                 out_names: list[str], axes: dict, *, atol: float, rtol: float, random_trials: int,
                 seed: int = 0) -> ParityReport:
    """Run ``onnx_path`` in ONNX Runtime on the example and random inputs and compare with torch."""
    torch = require("torch", purpose="the parity check")
    ort = require("onnxruntime", purpose="the parity check")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    runnable = model.module() if isinstance(model, torch.export.ExportedProgram) else model
    report = ParityReport(atol=atol, rtol=rtol)
    rng = np.random.default_rng(seed)
    trials = [("example", args, reference)]
    for k in range(random_trials):
        batch = 3 if any(0 in axes.get(n, {}) for n in in_names) else None
        rand = tuple(torch.from_numpy(_random_like(a.numpy(), rng, batch)) for a in args)
        with torch.no_grad():
            ref = _flatten(torch, runnable(*rand))
        label = f"random#{k + 1}" + (f" (batch {batch})" if batch else "")
        trials.append((label, rand, ref))
    for label, inputs, ref in trials:
        feeds = {name: a.numpy() for name, a in zip(in_names, inputs)}
        got = session.run(None, feeds)
        report.rows.extend(compare_outputs(label, out_names, ref, got, atol, rtol))
    return report


def _random_like(example: np.ndarray, rng: np.random.Generator, batch: int | None) -> np.ndarray:
    """Random data like ``example``: same dtype; floats with its mean/std; integers drawn from its values."""
    shape = (batch, *example.shape[1:]) if batch and example.ndim else example.shape
    if example.dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(example.dtype, np.integer):
        values = np.unique(example) if example.size else np.array([0], example.dtype)
        return rng.choice(values, size=shape).astype(example.dtype)
    std = float(example.std()) if example.size > 1 and float(example.std()) > 0 else 1.0
    mean = float(example.mean()) if example.size else 0.0
    return (rng.standard_normal(shape) * std + mean).astype(example.dtype)
