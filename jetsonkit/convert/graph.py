"""The node list the TFLite lowering works on: :class:`Node` and :class:`Graph` (numpy only).

:mod:`.onnx_graph` fills it from an ONNX file (after :mod:`.fold` folds constants in the ONNX model),
:mod:`.rewrite` rewrites it in place, and :mod:`.lower` with the op lowerings in :mod:`.ops` turns it into TFLite
operators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    fused: str = "NONE"  # NONE | RELU | RELU6


@dataclass
class Graph:
    nodes: list[Node]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple]  # ONNX layout, batch 1
    inputs: list[str]
    outputs: list[str]
    path: str = ""
    relu_outputs: set = field(default_factory=set)  # tensors known to be >= 0
    dtypes: dict[str, str] = field(default_factory=dict)  # numpy dtype names of the typed tensors
    opset: int = 17

    def readers(self) -> dict[str, list[Node]]:
        """Tensor name -> the nodes that read it, in graph order."""
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    def float_tensors(self) -> list[str]:
        """Node outputs that are float tensors (the only ones int8 calibration observes and quantizes)."""
        return [o for n in self.nodes for o in n.outputs if self.dtypes.get(o, "float32").startswith("float")]

