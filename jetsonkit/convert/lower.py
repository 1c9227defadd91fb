"""Lower the node list of :mod:`.onnx_graph` to TFLite operators, NHWC inside, in fp32, fp16 or full int8.

Every 4-D activation is stored NHWC (TFLite's layout); ONNX's NCHW is undone at the input (or by a TRANSPOSE when
the caller asks to keep NCHW input) and redone before Flatten / Reshape, so values match ONNX element for element.
fp16 follows TFLite's float16 post-training scheme: constant weights stored as float16 and expanded by DEQUANTIZE
ops, compute in float32 (or fp16 where the delegate can). int8 follows :mod:`.quant`.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .flatbuf import QParams, TfliteBuilder
from .onnx_graph import Graph, Node
from .quant import activation_qparams, quantize_bias, quantize_weights

NCHW_TO_NHWC, NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
_SOFT_QP = QParams.per_tensor(1.0 / 256.0, -128)  # required output range of int8 SOFTMAX / LOGISTIC


def _nhwc(shape) -> tuple:
    return tuple(shape[i] for i in NCHW_TO_NHWC) if len(shape) == 4 else tuple(shape)


class Lowering:
    """One conversion: ``run()`` fills a :class:`TfliteBuilder`."""

    def __init__(self, graph: Graph, precision: str, ranges: dict | None, input_layout: str, io: str):
        self.g, self.precision, self.ranges = graph, precision, ranges or {}
        self.input_layout, self.io = input_layout, io
        self.b = TfliteBuilder()
        self.t: dict[str, int] = {}
        self.qp: dict[str, QParams] = {}
        self.int8 = precision == "int8"
        self.io_details: dict = {"inputs": [], "outputs": []}
        self.readers: dict[str, list[Node]] = {}
        for n in graph.nodes:
            for i in n.inputs:
                self.readers.setdefault(i, []).append(n)
        self.hwc_flat: dict[str, tuple] = {}  # 2-D tensors flattened in NHWC order -> (C, H, W)

    # ---- tensors ------------------------------------------------------------------------------------------------
    def shape(self, name: str) -> tuple:
        if name not in self.g.shapes:
            raise UnsupportedError(f"shape of tensor {name!r} is unknown after ONNX shape inference",
                                   hint="export with static shapes (only the batch may be dynamic)")
        return self.g.shapes[name]

    def act(self, name: str, onnx_shape, qp: QParams | None = None, suffix: str = "") -> int:
        """A new activation tensor for ONNX tensor ``name`` (NHWC if 4-D); int8 in int8 mode."""
        if self.int8:
            qp = qp or activation_qparams(self.ranges[name])
            self.qp[name] = qp
        idx = self.b.tensor(name + suffix, _nhwc(onnx_shape), "int8" if self.int8 else "float32", qp,
                            dynamic_batch=True)
        self.t[name] = idx
        return idx

    def float_const(self, name: str, arr: np.ndarray) -> int:
        """A float32 constant; in fp16 mode stored as float16 and expanded by DEQUANTIZE."""
        arr = np.asarray(arr, np.float32)
        if self.precision != "fp16":
            return self.b.tensor(name, arr.shape, "float32", data=arr)
        half = self.b.tensor(name + "/fp16", arr.shape, "float16", data=arr.astype(np.float16))
        full = self.b.tensor(name, arr.shape, "float32")
        self.b.op("DEQUANTIZE", [half], [full], version=3)
        return full

    def int_const(self, name: str, arr) -> int:
        arr = np.asarray(arr, np.int32)
        return self.b.tensor(name, arr.shape, "int32", data=arr)

    def const_input(self, node: Node, k: int) -> np.ndarray:
        name = node.inputs[k] if k < len(node.inputs) else ""
        if name not in self.g.consts:
            raise UnsupportedError(f"{node.op} node {node.name!r}: input {k} ({name!r}) must be a constant",
                                   hint="fold it with onnx-simplifier or export with constant weights")
        return self.g.consts[name]

    def same_qp(self, src: str, dst: str) -> QParams | None:
        """int8 ops that move values without arithmetic (pool, reshape) keep ``src``'s scale and zero point."""
        return self.qp.get(src) if self.int8 else None

    def transpose(self, src_idx: int, name: str, shape, perm, qp: QParams | None) -> int:
        out = self.b.tensor(name, shape, "int8" if self.int8 else "float32", qp, dynamic_batch=True)
        self.b.op("TRANSPOSE", [src_idx, self.int_const(name + "/perm", perm)], [out], "TransposeOptions",
                  self.b.s.TransposeOptionsT(), version=2 if self.int8 else 1)
        return out

    # ---- graph ends ---------------------------------------------------------------------------------------------
    def add_input(self, name: str) -> None:
        shape = self.shape(name)
        rank4 = len(shape) == 4
        user_shape = _nhwc(shape) if rank4 and self.input_layout == "nhwc" else shape
        user_dtype = "int8" if self.int8 and self.io == "int8" else "float32"
        qp = activation_qparams(self.ranges[name]) if self.int8 else None
        idx = self.b.tensor(name, user_shape, user_dtype, qp if user_dtype == "int8" else None, dynamic_batch=True)
        self.b.inputs.append(idx)
        self.io_details["inputs"].append({"name": name, "shape": list(user_shape), "dtype": user_dtype,
                                          "layout": ("NHWC" if self.input_layout == "nhwc" else "NCHW") if rank4 else None,
                                          "quantization": _qp_dict(qp) if user_dtype == "int8" else None})
        if self.int8 and user_dtype == "float32":  # quantize first: the TRANSPOSE below then moves int8 values
            q = self.b.tensor(name + "/int8", user_shape, "int8", qp, dynamic_batch=True)
            self.b.op("QUANTIZE", [idx], [q], version=2)
            idx = q
        if rank4 and self.input_layout == "nchw":  # int8 TRANSPOSE keeps its input's scale and zero point
            idx = self.transpose(idx, name + "/nhwc", _nhwc(shape), NCHW_TO_NHWC, qp)
        self.t[name] = idx
        if self.int8:
            self.qp[name] = qp

    def add_output(self, name: str) -> None:
        shape, idx = self.shape(name), self.t[name]
        qp = self.qp.get(name)
        if len(shape) == 4:
            idx = self.transpose(idx, name + "/nchw", shape, NHWC_TO_NCHW, qp)
        dtype = "int8" if self.int8 and self.io == "int8" else "float32"
        if self.int8 and dtype == "float32":
            out = self.b.tensor(name, shape, "float32", dynamic_batch=True)
            self.b.op("DEQUANTIZE", [idx], [out], version=2)
            idx = out
        self.b.tensors[idx].name = name
        for k, t in enumerate(self.b.tensors):  # keep the user-facing name unique
            if k != idx and t.name == name:
                t.name = name + "/internal"
        self.b.outputs.append(idx)
        self.io_details["outputs"].append({"name": name, "shape": list(shape), "dtype": dtype,
                                           "layout": "NCHW" if len(shape) == 4 else None,
                                           "quantization": _qp_dict(qp) if dtype == "int8" else None})

    def run(self) -> TfliteBuilder:
        from .ops import LOWER, unsupported

        for name in self.g.inputs:
            self.add_input(name)
        for node in self.g.nodes:
            LOWER.get(node.op, unsupported)(self, node)
        for name in self.g.outputs:
            self.add_output(name)
        return self.b

    # ---- shared pieces for the op lowerings ---------------------------------------------------------------------
    def weights(self, node: Node, w: np.ndarray, bias: np.ndarray, axis: int) -> tuple[int, int]:
        """Weight and bias tensors: float (fp32/fp16) or int8 per channel ``axis`` with an int32 bias."""
        if not self.int8:
            return self.float_const(node.name + "/weights", w), self.float_const(node.name + "/bias", bias)
        q, wqp = quantize_weights(w, axis)
        wq = self.b.tensor(node.name + "/weights", q.shape, "int8", wqp, data=q)
        in_scale = float(self.qp[node.inputs[0]].scale[0])
        bq, bqp = quantize_bias(bias, in_scale, wqp.scale)
        return wq, self.b.tensor(node.name + "/bias", bq.shape, "int32", bqp, data=bq)


def _qp_dict(qp: QParams | None) -> dict | None:
    if qp is None:
        return None
    return {"scale": float(qp.scale[0]), "zero_point": int(qp.zero_point[0])}
