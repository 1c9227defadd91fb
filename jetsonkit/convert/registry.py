"""The op registry: ``REGISTRY[onnx_op]`` is the :class:`OpSpec` of its lowering (numpy only, imports no lowering).

The lowerings in :mod:`.ops` register themselves here with :func:`lowers` when :mod:`.ops` is imported;
:class:`~.lower.Lowering` looks each node up here. ``int8`` says whether the op runs on TFLite's int8 kernels in a
full-integer model (True), runs as a float island between DEQUANTIZE / QUANTIZE (False: TFLite has no int8 kernel
for it, or int8 would lose too much), or depends on the node (a callable). The table in docs/tflite.md is
:func:`markdown_table` of this registry (``scripts/gen_docs.py`` writes it; a test checks it is current).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import UnsupportedError

REGISTRY: dict[str, "OpSpec"] = {}


@dataclass(frozen=True)
class OpSpec:
    op: str
    fn: Callable
    tflite: tuple[str, ...]
    int8: bool | Callable
    note: str = ""
    fixed_batch: bool = False  # the lowering handles batch 1 only: a model with this op converts at batch 1

    def runs_int8(self, lw, node) -> bool:
        """True when ``node`` runs on int8 kernels: the op allows it and every output has a calibrated range."""
        ok = self.int8(lw, node) if callable(self.int8) else self.int8
        return bool(ok) and all(o in lw.ranges for o in node.outputs)


def lowers(*ops: str, tflite, int8=True, note="", fixed_batch=False):
    """Register the decorated function as the lowering of ``ops`` (a duplicate registration is a bug).

    ``tflite``, ``int8`` and ``note`` are one value for all ``ops`` or a dict with one per op; ``fixed_batch``: the
    lowering handles batch 1 only, so a model containing the op converts with its batch fixed at 1."""
    def pick(value, op):
        return value[op] if isinstance(value, dict) else value

    def deco(fn):
        for op in ops:
            if op in REGISTRY:
                raise RuntimeError(f"ONNX op {op} registered twice ({REGISTRY[op].fn.__name__}, {fn.__name__})")
            REGISTRY[op] = OpSpec(op, fn, tuple(pick(tflite, op)), pick(int8, op), pick(note, op), fixed_batch)
        return fn
    return deco


def unsupported(lw, node) -> None:
    raise UnsupportedError(
        f"ONNX op {node.op} (node {node.name!r}) has no TFLite lowering in jetsonkit",
        hint=f"replace it in the model or export it differently (supported ops: {', '.join(sorted(REGISTRY))})")


def _int8_cell(spec: OpSpec) -> str:
    if callable(spec.int8):
        return "int8 or float island (see note)"
    return "int8" if spec.int8 else "float island"


def markdown_table() -> str:
    """The per-op table of docs/tflite.md, generated from :data:`REGISTRY`."""
    rows = ["| ONNX op | TFLite ops | in an int8 model | note |", "|---|---|---|---|"]
    for op in sorted(REGISTRY):
        s = REGISTRY[op]
        rows.append(f"| {op} | {', '.join(s.tflite)} | {_int8_cell(s)} | {s.note} |")
    return "\n".join(rows) + "\n"
