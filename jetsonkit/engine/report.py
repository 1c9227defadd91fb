"""The build report: what TensorRT actually did, read from the engine inspector JSON and the build log.

Text shapes parsed here, as TensorRT documents and prints them (fixtures in tests/jetsonkit/engine/data/ cite them):
- ``IEngineInspector.get_engine_information(LayerInformationFormat.JSON)`` with ProfilingVerbosity.DETAILED:
  ``{"Layers": [{"Name", "LayerType", "Inputs": [{"Name", "Dimensions", "Format/Datatype"}], "Outputs", "Weights":
  {"Type", "Count"}, "TacticName", "TacticValue", ...}], "Bindings": [...]}``; with LAYER_NAMES_ONLY, "Layers" is a
  list of strings (no precision: the report then says so). Older builds spell types "Row major linear FP16 format",
  newer ones "Half" / "Float" / "Int8".
- verbose build log: ``(Sparsity) Layers eligible for sparse math: a, b`` and ``(Sparsity) TRT inference plan picked
  sparse implementation for layers: a``; ``[GpuLayer] name`` / ``[DlaLayer] name``; ``Skipping tactic ... due to
  insufficient memory`` / ``Tactic Device request: 538MB Available: 166MB``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

from ..errors import CheckFailed, InputError

__all__ = ["LayerInfo", "BuildLog", "BuildReport", "parse_inspector_json", "parse_build_log", "make_report"]

# order matters: longer / more specific tokens first
_TYPE_TOKENS = (("bf16", "bf16"), ("fp8", "fp8"), ("fp16", "fp16"), ("half", "fp16"), ("fp32", "fp32"), ("float", "fp32"),
                ("uint8", "uint8"), ("int8", "int8"), ("int32", "int32"), ("int64", "int64"), ("bool", "bool"))
_COMPUTE_TYPES = ("int8", "fp8", "fp16", "bf16", "fp32")


def datatype_of(text: str) -> str | None:
    """Normalise a "Format/Datatype" or weight "Type" string to fp32 / fp16 / int8 / ...; None when unknown."""
    low = text.lower()
    for token, name in _TYPE_TOKENS:
        if re.search(rf"(?<![a-z0-9]){token}(?![a-z0-9])", low):
            return name
    return None


@dataclass
class LayerInfo:
    name: str
    layer_type: str | None = None
    precision: str | None = None  # the type the layer computes in, None when the inspector did not say
    tactic: str | None = None
    sparse_kernel: bool = False

    @property
    def parts(self) -> list[str]:
        """The ONNX node names TensorRT fused into this layer ("Conv_1 + Relu_2", "PWN(Relu_2)")."""
        inner = re.sub(r"^(PWN|PointWise)\((.*)\)$", r"\2", self.name)
        return [re.sub(r"^PWN\((.*)\)$", r"\1", p).strip(" ()") for p in re.split(r"\s\+\s|,\s", inner) if p.strip()]


def _layer_precision(layer: Mapping) -> str | None:
    weights = layer.get("Weights")
    if isinstance(weights, Mapping) and weights.get("Type"):
        t = datatype_of(str(weights["Type"]))
        if t in _COMPUTE_TYPES:
            return t
    for tensor in list(layer.get("Inputs") or []) + list(layer.get("Outputs") or []):
        t = datatype_of(str(tensor.get("Format/Datatype", ""))) if isinstance(tensor, Mapping) else None
        if t in _COMPUTE_TYPES:
            return t
    return None


def parse_inspector_json(text: str) -> list[LayerInfo]:
    """Layers from the engine inspector's JSON (DETAILED or LAYER_NAMES_ONLY)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"engine inspector output is not JSON: {exc}", hint="build with profiling verbosity DETAILED") from exc
    layers = data.get("Layers") if isinstance(data, Mapping) else None
    if not isinstance(layers, list):
        raise InputError("engine inspector JSON has no 'Layers' list", hint="pass the output of get_engine_information(JSON)")
    out = []
    for layer in layers:
        if isinstance(layer, str):
            out.append(LayerInfo(layer))
            continue
        tactic = layer.get("TacticName") or layer.get("TacticValue")
        out.append(LayerInfo(str(layer.get("Name", "")), layer.get("LayerType"), _layer_precision(layer),
                             str(tactic) if tactic is not None else None,
                             bool(re.search(r"sparse", str(layer.get("TacticName", "")), re.IGNORECASE))))
    return out


@dataclass
class BuildLog:
    sparse_eligible: list[str] = field(default_factory=list)
    sparse_picked: list[str] = field(default_factory=list)
    gpu_layers: list[str] = field(default_factory=list)
    dla_layers: list[str] = field(default_factory=list)
    memory_skips: int = 0
    largest_request_mb: int | None = None
    largest_available_mb: int | None = None


_ELIGIBLE = re.compile(r"\(Sparsity\) Layers eligible for sparse math:\s*(.*)$")
_PICKED = re.compile(r"\(Sparsity\) TRT inference plan picked sparse implementation for layers:\s*(.*)$")
_PLACED = re.compile(r"\[(GpuLayer|DlaLayer)\]\s+(.+?)\s*$")
_REQUEST = re.compile(r"Tactic Device request:\s*(\d+)\s*MB\s+Available:\s*(\d+)\s*MB")


def _layer_list(text: str) -> list[str]:
    return [p.strip() for p in re.split(r",\s(?![^\[]*\])", text) if p.strip()]


def parse_build_log(lines: Iterable[str]) -> BuildLog:
    """Sparsity, placement and memory facts from TensorRT's (verbose) build log lines."""
    log = BuildLog()
    for line in lines:
        if m := _ELIGIBLE.search(line):
            log.sparse_eligible += _layer_list(m.group(1))
        elif m := _PICKED.search(line):
            log.sparse_picked += _layer_list(m.group(1))
        elif m := _PLACED.search(line):
            name = re.sub(r"^[A-Z_]+:\s+", "", m.group(2))  # 8.5+: "[GpuLayer] CONVOLUTION: name"
            (log.gpu_layers if m.group(1) == "GpuLayer" else log.dla_layers).append(name)
        elif m := _REQUEST.search(line):
            req, avail = int(m.group(1)), int(m.group(2))
            log.largest_request_mb = max(log.largest_request_mb or 0, req)
            log.largest_available_mb = avail if log.largest_available_mb is None else min(log.largest_available_mb, avail)
        if "due to insufficient memory" in line or "due to insuficient memory" in line:
            log.memory_skips += 1
    return log


@dataclass
class BuildReport:
    engine_bytes: int
    layers: list[dict]
    precision_checks: list[dict]  # {"node", "wanted", "got", "layer", "ok"}
    violations: list[str]
    unverified: list[str]  # plan nodes not visible as a layer (fused into a Myelin ForeignNode, or removed)
    sparse_eligible: list[str]
    sparse_picked: list[str]
    sparse_expected: list[str]  # 2:4 nodes in the ONNX
    dla_layers: list[str]
    gpu_layers: list[str]
    notes: list[str]
    fallbacks: list[dict] = field(default_factory=list)  # INT8 builds: {"layer", "precision"} of non-INT8 layers

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return not self.violations

    def raise_on_violation(self) -> None:
        if self.violations:
            raise CheckFailed(f"TensorRT ignored {len(self.violations)} precision override(s): {self.violations[0]}",
                              hint="see the build report; on TensorRT 11 put the precision in the graph (jetsonkit quantize --plan)",
                              details=self.to_text())

    def to_text(self) -> str:
        lines = [f"engine {self.engine_bytes / 2**20:.2f} MiB, {len(self.layers)} layers"]
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer["precision"] or "unknown"] = counts.get(layer["precision"] or "unknown", 0) + 1
        lines.append("  layer precisions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        for c in self.precision_checks:
            lines.append(f"  {'ok ' if c['ok'] else 'BAD'} {c['node']}: wanted {c['wanted']}, got {c['got']} ({c['layer']})")
        if self.sparse_expected or self.sparse_eligible:
            lines.append(f"  sparsity: {len(self.sparse_expected)} 2:4 in ONNX, {len(self.sparse_eligible)} eligible, "
                         f"{len(self.sparse_picked)} got sparse kernels")
        if self.dla_layers:
            lines.append(f"  DLA layers {len(self.dla_layers)}, GPU layers {len(self.gpu_layers)}")
        if self.fallbacks:
            by: dict[str, list[str]] = {}
            for f in self.fallbacks:
                by.setdefault(f["precision"], []).append(f["layer"])
            lines.append("  not INT8: " + "; ".join(f"{p} {len(names)} ({', '.join(names[:5])}"
                                                   f"{', ...' if len(names) > 5 else ''})" for p, names in by.items()))
        lines.extend(f"  unverified: {n}" for n in self.unverified)
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def _find_layer(node: str, layers: list[LayerInfo]) -> LayerInfo | None:
    for layer in layers:
        if node in layer.parts or layer.name == node:
            return layer
    return None


def make_report(layers: list[LayerInfo], log: BuildLog, *, engine_bytes: int, wanted: Mapping[str, str] | None = None,
                sparse_expected: Iterable[str] = (), int8_build: bool = False) -> BuildReport:
    """Compare what was asked (node -> precision, 2:4 nodes) with what the engine holds; for an INT8 build
    (``int8_build``) list the compute layers that fell back to another precision."""
    checks, violations, unverified, notes = [], [], [], []
    for node, want in (wanted or {}).items():
        layer = _find_layer(node, layers)
        if layer is None:
            unverified.append(node)
            continue
        ok = layer.precision is None or layer.precision == want
        if layer.precision is None:
            notes.append(f"layer {layer.name!r} has no type in the inspector output (build with ProfilingVerbosity.DETAILED)")
        checks.append({"node": node, "wanted": want, "got": layer.precision, "layer": layer.name, "ok": ok})
        if not ok:
            violations.append(f"node {node} wanted {want}, TensorRT layer {layer.name!r} runs {layer.precision}")
    picked = set(log.sparse_picked) | {l.name for l in layers if l.sparse_kernel}
    expected = list(sparse_expected)
    if expected and not picked:
        notes.append("no layer got a sparse kernel: TensorRT found dense kernels faster here (it picks the fastest)")
    if log.memory_skips:
        notes.append(f"{log.memory_skips} tactic(s) skipped for lack of memory (largest request {log.largest_request_mb} MB, "
                     f"available {log.largest_available_mb} MB): a larger --workspace may give faster kernels")
    fallbacks = [{"layer": l.name, "precision": l.precision} for l in layers
                 if int8_build and l.precision in _COMPUTE_TYPES and l.precision != "int8"]
    return BuildReport(engine_bytes, [asdict(l) for l in layers], checks, violations, unverified, log.sparse_eligible,
                       sorted(picked), expected, log.dla_layers, log.gpu_layers, notes, fallbacks)
