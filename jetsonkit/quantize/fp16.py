"""Compile a precision plan into an FP16 graph with FP32 islands held by Cast nodes.

Strongly typed TensorRT (always on in 11.x) takes every layer's precision from the graph's types: FP16 comes from
fp16 tensors and weights, and a layer stays FP32 only if its inputs and weights are fp32 (TensorRT Developer
Guide, "Strongly Typed Networks"). So for an FP16 build the whole float graph is converted to fp16, and each layer
the plan keeps in "fp32" is fenced by Casts: fp16 -> fp32 on its float inputs, and its outputs become fp16 again
where an fp16 layer reads them. Graph inputs and outputs keep their fp32 type (a Cast at each end), so callers feed
the same arrays as before.

Type bookkeeping uses ONNX shape inference; tensors that are not float (shapes, indices) are left alone. Graphs
that already hold Q/DQ are refused: their scales fix the dequantized type to fp32 before opset 19.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._deps import require
from ..errors import UnsupportedError
from .placement import has_qdq, node_names

__all__ = ["to_fp16"]

# inputs that the ONNX spec types as float32 only, whatever the data type (op -> input indices)
_FP32_ONLY_INPUTS = {"Resize": (2,), "Upsample": (1,)}


def _float_tensors(proto: Any) -> set[str]:
    """Names of every fp32 tensor (inputs, initializers, intermediates, outputs) after shape inference."""
    onnx = require("onnx")
    inferred = onnx.shape_inference.infer_shapes(proto)
    g = inferred.graph
    fp32 = onnx.TensorProto.FLOAT
    names = {v.name for v in list(g.value_info) + list(g.input) + list(g.output) if v.type.tensor_type.elem_type == fp32}
    names.update(t.name for t in g.initializer if t.data_type == fp32)
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].t.data_type == fp32:
            names.update(node.output)
    return names


def to_fp16(model: Any, plan: Any = None, *, fp32_layers: set[str] | None = None) -> Any:
    """A copy of ``model`` in fp16, with the layers ``plan`` resolves to "fp32" (or ``fp32_layers``) kept in fp32.

    Returns a ModelProto that passes ``onnx.checker``; graph inputs and outputs keep their fp32 type.
    """
    onnx = require("onnx", purpose="FP16 conversion")
    from ..artifacts import onnx_source

    src, _, label = onnx_source(model, purpose="FP16 conversion")
    if has_qdq(src):
        raise UnsupportedError(f"{label} holds Q/DQ nodes; FP16 conversion takes the float model",
                               hint="convert the FP32 model, then quantize")
    proto = onnx.ModelProto()
    proto.CopyFrom(src)
    if fp32_layers is None:
        fp32_layers = {n for n, d in plan.resolve(proto).items() if d.precision == "fp32" and d.rule != "float layer"} \
            if plan is not None else set()
    _Converter(proto, fp32_layers).run()
    del proto.graph.value_info[:]
    proto = onnx.shape_inference.infer_shapes(proto)
    onnx.checker.check_model(proto)
    return proto


class _Converter:
    def __init__(self, proto: Any, fp32_layers: set[str]):
        self.onnx = require("onnx")
        self.proto, self.fp32_layers = proto, fp32_layers
        self.floats = _float_tensors(proto)
        self.dtype: dict[str, str] = {t: "fp32" for t in self.floats}  # current float precision of each tensor
        self.casts: dict[tuple[str, str], str] = {}
        self.inits = {t.name: t for t in proto.graph.initializer}
        self.new_nodes: list = []

    def run(self) -> None:
        g = self.proto.graph
        consumers_precision = self._init_precisions()
        self._convert_initializers(consumers_precision)
        for name, node in zip(node_names(self.proto), list(g.node)):
            want = "fp32" if name in self.fp32_layers else "fp16"
            self._convert_node(node, want)
            self.new_nodes.append(node)
        self._restore_outputs()
        del g.node[:]
        g.node.extend(self.new_nodes)

    def _init_precisions(self) -> dict[str, set[str]]:
        """Initializer -> the precisions of the layers that read it."""
        seen: dict[str, set[str]] = {}
        for name, node in zip(node_names(self.proto), self.proto.graph.node):
            want = "fp32" if name in self.fp32_layers else "fp16"
            fixed = _FP32_ONLY_INPUTS.get(node.op_type, ())
            for i, t in enumerate(node.input):
                if t in self.inits and t in self.floats:
                    seen.setdefault(t, set()).add("fp32" if i in fixed else want)
        return seen

    def _convert_initializers(self, readers: dict[str, set[str]]) -> None:
        nh = self.onnx.numpy_helper
        for name, precisions in readers.items():
            if precisions == {"fp16"}:
                init = self.inits[name]
                init.CopyFrom(nh.from_array(nh.to_array(init).astype(np.float16), name))
                self.dtype[name] = "fp16"

    def _cast(self, tensor: str, to: str) -> str:
        key = (tensor, to)
        if key not in self.casts:
            out = f"{tensor}_to_{to}"
            elem = self.onnx.TensorProto.FLOAT16 if to == "fp16" else self.onnx.TensorProto.FLOAT
            self.new_nodes.append(self.onnx.helper.make_node("Cast", [tensor], [out], name=f"{out}_Cast", to=elem))
            self.casts[key] = out
        return self.casts[key]

    def _convert_node(self, node: Any, want: str) -> None:
        fixed = _FP32_ONLY_INPUTS.get(node.op_type, ())
        for i, t in enumerate(node.input):
            if t in self.dtype:
                need = "fp32" if i in fixed else want
                if self.dtype[t] != need:
                    node.input[i] = self._cast(t, need)
        if want == "fp16":
            self._retype_attributes(node)
        for out in node.output:
            if out in self.floats:
                self.dtype[out] = want

    def _retype_attributes(self, node: Any) -> None:
        onnx = self.onnx
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == onnx.TensorProto.FLOAT:
                a.i = onnx.TensorProto.FLOAT16
            elif a.type == onnx.AttributeProto.TENSOR and a.t.data_type == onnx.TensorProto.FLOAT:
                a.t.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(a.t).astype(np.float16), a.t.name))

    def _restore_outputs(self) -> None:
        """Keep fp32 graph outputs: the producer writes ``<out>_fp16`` and a Cast restores the original name."""
        for out in self.proto.graph.output:
            if self.dtype.get(out.name) != "fp16":
                continue
            inner = f"{out.name}_fp16"
            for node in self.new_nodes:
                node.output[:] = [inner if o == out.name else o for o in node.output]
                node.input[:] = [inner if i == out.name else i for i in node.input]
            self.new_nodes.append(self.onnx.helper.make_node("Cast", [inner], [out.name], name=f"{out.name}_Cast",
                                                             to=self.onnx.TensorProto.FLOAT))
