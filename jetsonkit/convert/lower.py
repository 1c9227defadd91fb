"""Lower the node list of :mod:`.onnx_graph` to TFLite operators in fp32, fp16 or int8 with float islands.

Layout: every tensor is stored either NHWC (``"nhwc"``: a 4-D activation made by a layout-sensitive op such as
CONV_2D, or a model input fed NHWC) or in ONNX's own element order (``"onnx"``). Ops whose meaning does not depend
on the layout (element-wise ops, axis-parameterised ops whose axes are remapped) work on what they get; the others
ask for the layout they need and :meth:`Lowering.get` inserts a TRANSPOSE (once per tensor and layout). Values
therefore match ONNX element for element, and 4-D outputs are returned in ONNX (NCHW) order.

Precision: fp16 follows TFLite's float16 post-training scheme (constant weights stored as float16 and expanded by
DEQUANTIZE ops). int8 follows :mod:`.quant`; an op the registry marks float-only (:mod:`.ops`) runs as a float island:
:meth:`Lowering.get` dequantizes its inputs and quantizes its output for the next int8 op. ``placement`` records
the choice per node.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .flatbuf import QParams, TfliteBuilder
from .graph import Graph, Node
from .quant import activation_qparams, quantize_bias, quantize_weights
from .registry import REGISTRY, unsupported

NCHW_TO_NHWC, NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
SOFT_QP = QParams.per_tensor(1.0 / 256.0, -128)  # required output range of int8 SOFTMAX / LOGISTIC
TANH_QP = QParams.per_tensor(1.0 / 128.0, 0)  # required output range of int8 TANH


_MIN_VERSION = {"BROADCAST_TO": 2}  # LiteRT registers these ops from this version on


def _nhwc(shape) -> tuple:
    return tuple(shape[i] for i in NCHW_TO_NHWC) if len(shape) == 4 else tuple(shape)


def stored_axis(axis: int, rank: int, layout: str) -> int:
    """The position of ONNX axis ``axis`` in a tensor stored in ``layout``."""
    axis %= rank
    return NCHW_TO_NHWC.index(axis) if layout == "nhwc" else axis


class Lowering:
    """One conversion: ``run()`` fills a :class:`TfliteBuilder`."""

    def __init__(self, graph: Graph, precision: str, ranges: dict | None, input_layout: str, io: str):
        self.g, self.precision, self.ranges = graph, precision, ranges or {}
        self.input_layout, self.io = input_layout, io
        self.b = TfliteBuilder()
        self.t: dict[str, int] = {}  # ONNX tensor -> stored TFLite tensor
        self.layout: dict[str, str] = {}  # "nhwc" | "onnx"
        self.quantized: dict[str, bool] = {}  # stored as int8?
        self.qp: dict[str, QParams] = {}
        self._views: dict[tuple, int] = {}
        self.int8 = precision == "int8"
        self.mode_int8 = False  # the current node runs in int8
        self.placement: dict[str, str] = {}  # node name -> "int8" | "float"
        self.io_details: dict = {"inputs": [], "outputs": []}
        self.readers = graph.readers()
        self.hwc_flat: dict[str, tuple] = {}  # 2-D tensors flattened in NHWC order -> (C, H, W)
        self.tail = post_processing(graph)  # nodes that stay float in int8 models
        self.data_dependent: dict[str, tuple] = {}  # outputs whose shape is known at run time only (-1 dims)
        self.b.fixed_batch = any(REGISTRY[n.op].fixed_batch for n in graph.nodes if n.op in REGISTRY)

    # ---- tensors ------------------------------------------------------------------------------------------------
    def shape(self, name: str) -> tuple:
        if name not in self.g.shapes:
            raise UnsupportedError(f"shape of tensor {name!r} is unknown after ONNX shape inference",
                                   hint="export with static shapes (only the batch may be dynamic)")
        return self.g.shapes[name]

    @property
    def act_dtype(self) -> str:
        return "int8" if self.mode_int8 else "float32"

    def qparams(self, name: str) -> QParams:
        """int8 parameters of ``name``: those it was stored with, else from its calibrated range."""
        if name not in self.qp:
            if name not in self.ranges:
                raise UnsupportedError(f"int8: tensor {name!r} has no calibrated range",
                                       hint="calibrate on data that reaches it, or convert with --precision fp16")
            self.qp[name] = activation_qparams(self.ranges[name])
        return self.qp[name]

    def out(self, name: str, layout: str = "onnx", qp: QParams | None = None, same_as: str | None = None) -> int:
        """A new output tensor for ONNX tensor ``name`` stored in ``layout``, in the current node's precision.

        int8: ``qp`` when the kernel fixes the output range, ``same_as``'s parameters for ops that only move values
        (pool, reshape, transpose: the TFLite int8 spec keeps the input's scale), else the calibrated range."""
        shape = self.shape(name)
        layout = layout if len(shape) == 4 else "onnx"
        if self.mode_int8:
            qp = qp or (self.qparams(same_as) if same_as else None) or self.qparams(name)
            self.qp[name] = qp
        idx = self.b.tensor(name, _nhwc(shape) if layout == "nhwc" else shape, self.act_dtype,
                            qp if self.mode_int8 else None, dynamic_batch=True)
        self.t[name], self.layout[name], self.quantized[name] = idx, layout, self.mode_int8
        return idx

    def alias(self, name: str, src: str, layout: str | None = None) -> None:
        """``name`` is ``src`` stored as it is (an identity in TFLite terms)."""
        self.t[name], self.quantized[name] = self.t[src], self.quantized[src]
        self.layout[name] = layout or self.layout[src]
        if src in self.qp:
            self.qp[name] = self.qp[src]

    def get(self, name: str, layout: str | None = None) -> int:
        """Tensor ``name`` in ``layout`` (None: as stored) and in the current node's precision."""
        rank = len(self.shape(name))
        want = (layout or self.layout[name]) if rank == 4 else "onnx"
        key = (name, want, self.mode_int8)
        if key in self._views:
            return self._views[key]
        idx, have = self.t[name], self.layout[name]
        shape = _nhwc(self.shape(name)) if have == "nhwc" else self.shape(name)
        if self.quantized[name] != self.mode_int8:
            idx = self._convert_dtype(name, idx, shape)
        if want != have:
            perm = NCHW_TO_NHWC if want == "nhwc" else NHWC_TO_NCHW
            qp = self.qparams(name) if self.mode_int8 else None
            idx = self.transpose(idx, f"{name}/{want}", [shape[p] for p in perm], perm, qp)
        self._views[key] = idx
        return idx

    def _convert_dtype(self, name: str, idx: int, shape) -> int:
        key = (name, "dtype", self.mode_int8)
        if key not in self._views:
            if self.mode_int8:
                q = self.b.tensor(name + "/int8", shape, "int8", self.qparams(name), dynamic_batch=True)
                self.op("QUANTIZE", [idx], [q])
            else:
                q = self.b.tensor(name + "/float", shape, "float32", dynamic_batch=True)
                self.op("DEQUANTIZE", [idx], [q])
            self._views[key] = q
        return self._views[key]

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

    def value_const(self, name: str, arr: np.ndarray, qp: QParams | None = None) -> int:
        """A constant operand in the current precision: float, or int8 per tensor (``qp`` or symmetric amax/127)."""
        arr = np.asarray(arr, np.float32)
        if not self.mode_int8:
            return self.float_const(name, arr)
        if qp is None:
            amax = float(np.abs(arr).max()) if arr.size else 0.0
            qp = QParams.per_tensor((amax or 1.0) / 127.0, 0)
        q = np.clip(np.rint(arr / qp.scale[0]) + qp.zero_point[0], -128, 127).astype(np.int8)
        return self.b.tensor(name, q.shape, "int8", qp, data=q)

    def const_input(self, node: Node, k: int) -> np.ndarray:
        name = node.inputs[k] if k < len(node.inputs) else ""
        if name not in self.g.consts:
            raise UnsupportedError(f"{node.op} node {node.name!r}: input {k} ({name!r}) must be a constant",
                                   hint="fold it with onnx-simplifier or export with constant weights")
        return self.g.consts[name]

    def is_const(self, name: str) -> bool:
        return name in self.g.consts

    def broadcast_const(self, name: str, arr, rank: int, layout: str, qp: QParams | None = None) -> int:
        """Constant ``arr`` reshaped to ``rank`` (ONNX right-aligned broadcast) and permuted to ``layout``."""
        c = np.asarray(arr, np.float32)
        c = c.reshape((1,) * (rank - c.ndim) + c.shape) if c.ndim < rank else c
        if layout == "nhwc" and rank == 4:
            c = c.transpose(NCHW_TO_NHWC)
        return self.value_const(name, c, qp)

    def operand(self, node: Node, k: int, rank: int, layout: str, qp: QParams | None = None) -> int:
        """Input ``k`` of ``node`` broadcast-ready for an output of ``rank`` stored in ``layout``: a constant is
        reshaped to ``rank`` and permuted; an activation of lower rank is reshaped (ONNX right-aligned broadcast)."""
        name = node.inputs[k]
        if self.is_const(name):
            return self.broadcast_const(f"{node.name}/const{k}", self.g.consts[name], rank, layout, qp)
        shape = self.shape(name)
        if len(shape) == rank:
            return self.get(name, layout)
        full = (1,) * (rank - len(shape)) + tuple(shape)
        src = self.get(name, "onnx")
        qpx = self.qparams(name) if self.mode_int8 else None
        mid = self.b.tensor(f"{name}/rank{rank}", full, self.act_dtype, qpx)
        self.reshape(src, mid, full, f"{name}/rank{rank}")
        if layout == "nhwc" and rank == 4:
            mid = self.transpose(mid, f"{name}/rank{rank}/nhwc", _nhwc(full), NCHW_TO_NHWC, qpx)
        return mid

    # ---- small op helpers ---------------------------------------------------------------------------------------
    def op(self, code: str, inputs, outputs, options_type: str | None = None, options=None) -> None:
        self.b.op(code, inputs, outputs, options_type, options, version=_MIN_VERSION.get(code, 1))

    def transpose(self, src_idx: int, name: str, shape, perm, qp: QParams | None) -> int:
        out = self.b.tensor(name, shape, "int8" if qp is not None else "float32", qp, dynamic_batch=True)
        self.op("TRANSPOSE", [src_idx, self.int_const(name + "/perm", perm)], [out], "TransposeOptions",
                self.b.s.TransposeOptionsT())
        return out

    def reshape(self, src: int, out: int, new_shape, name: str) -> None:
        new_shape = [-1, *new_shape[1:]] if len(new_shape) else []
        opts = self.b.s.ReshapeOptionsT()
        opts.newShape = np.asarray(new_shape, np.int32)
        self.op("RESHAPE", [src, self.int_const(name + "/shape", new_shape)], [out], "ReshapeOptions", opts)

    def batch_shape(self, src: int, rest, name: str) -> int:
        """An int32 shape tensor [batch of ``src`` at run time, *rest] (the batch stays dynamic)."""
        s = self.b.s
        shp = self.b.tensor(name + "/src_shape", (len(self.b.tensors[src].shape),), "int32")
        opts = s.ShapeOptionsT()
        opts.outType = s.TensorType.INT32
        self.op("SHAPE", [src], [shp], "ShapeOptions", opts)
        n = self.b.tensor(name + "/batch", (1,), "int32")
        self.op("STRIDED_SLICE", [shp, self.int_const(name + "/b0", [0]), self.int_const(name + "/b1", [1]),
                                  self.int_const(name + "/b2", [1])], [n], "StridedSliceOptions",
                s.StridedSliceOptionsT())
        out = self.b.tensor(name + "/shape", (len(rest) + 1,), "int32")
        cat = s.ConcatenationOptionsT()
        self.op("CONCATENATION", [n, self.int_const(name + "/rest", list(rest))], [out], "ConcatenationOptions", cat)
        return out

    def scratch(self, name: str, shape, qp: QParams | None = None) -> int:
        """An intermediate tensor in the current precision (int8 needs ``qp``)."""
        return self.b.tensor(name, shape, self.act_dtype, qp if self.mode_int8 else None, dynamic_batch=True)

    # ---- graph ends ---------------------------------------------------------------------------------------------
    def add_input(self, name: str) -> None:
        shape = self.shape(name)
        rank4 = len(shape) == 4
        layout = "nhwc" if rank4 and self.input_layout == "nhwc" else "onnx"
        user_shape = _nhwc(shape) if layout == "nhwc" else shape
        int8_io = self.int8 and self.io == "int8"
        qp = self.qparams(name) if self.int8 else None
        idx = self.b.tensor(name, user_shape, "int8" if int8_io else "float32", qp if int8_io else None,
                            dynamic_batch=True)
        self.b.inputs.append(idx)
        self.io_details["inputs"].append({"name": name, "shape": list(user_shape),
                                          "dtype": "int8" if int8_io else "float32",
                                          "layout": ("NHWC" if self.input_layout == "nhwc" else "NCHW") if rank4 else None,
                                          "quantization": _qp_dict(qp) if int8_io else None})
        self.t[name], self.layout[name], self.quantized[name] = idx, layout, int8_io

    def add_output(self, name: str) -> None:
        shape = self.shape(name)
        integer = not self.g.dtypes.get(name, "float32").startswith("float")  # indices, counts: never quantized
        self.mode_int8 = self.int8 and self.io == "int8" and not integer
        if self.mode_int8 and not self.quantized[name]:
            self.qparams(name)
        idx = self.get(name, "onnx")
        if idx in self.b.inputs or idx in self.b.outputs:  # an output that is an input or another output: copy it
            idx = self._copy(name, idx, shape)
        qp = self.qp.get(name) if self.mode_int8 else None
        self.b.tensors[idx].name = name
        for k, t in enumerate(self.b.tensors):  # keep the user-facing name unique
            if k != idx and t.name == name:
                t.name = name + "/internal"
        self.b.outputs.append(idx)
        dtype = self.g.dtypes.get(name, "float32") if integer else self.act_dtype
        self.io_details["outputs"].append({"name": name, "shape": list(self.data_dependent.get(name, shape)),
                                           "dtype": dtype,
                                           "layout": "NCHW" if len(shape) == 4 else None,
                                           "quantization": _qp_dict(qp) if self.mode_int8 else None})

    def _copy(self, name: str, idx: int, shape) -> int:
        out = self.scratch(name + "/copy", shape, self.qp.get(name))
        self.reshape(idx, out, list(shape), name + "/copy")
        return out

    def run(self) -> TfliteBuilder:
        for name in self.g.inputs:
            self.add_input(name)
        for node in self.g.nodes:
            spec = REGISTRY.get(node.op)
            if spec is None:
                unsupported(self, node)
            tail = node.name in self.tail
            self.mode_int8 = self.int8 and not tail and spec.runs_int8(self, node)
            try:
                spec.fn(self, node)
            except (KeyError, IndexError, ValueError, TypeError) as exc:  # an attribute combination not foreseen
                raise UnsupportedError(f"ONNX op {node.op} (node {node.name!r}) could not be lowered to TFLite: "
                                       f"{type(exc).__name__}: {exc}".replace("\n", " "),
                                       hint="simplify the model (onnxsim) or replace the op; --debug shows where "
                                            "the lowering stopped") from exc
            self.placement[node.name] = "int8" if self.mode_int8 else "float (post-processing)" if tail else "float"
        for name in self.g.outputs:
            self.add_output(name)
        return self.b

    # ---- shared pieces for the op lowerings ---------------------------------------------------------------------
    def weights(self, node: Node, w: np.ndarray, bias: np.ndarray, axis: int) -> tuple[int, int]:
        """Weight and bias tensors: float (fp32/fp16) or int8 per channel ``axis`` with an int32 bias."""
        if not self.mode_int8:
            return self.float_const(node.name + "/weights", w), self.float_const(node.name + "/bias", bias)
        q, wqp = quantize_weights(w, axis)
        wq = self.b.tensor(node.name + "/weights", q.shape, "int8", wqp, data=q)
        in_scale = float(self.qparams(node.inputs[0]).scale[0])
        bq, bqp = quantize_bias(bias, in_scale, wqp.scale)
        return wq, self.b.tensor(node.name + "/bias", bq.shape, "int32", bqp, data=bq)


def _is_dfl(graph: Graph, n: Node) -> bool:
    """The DFL of a YOLOv8-style head: a 1x1 Conv to one channel with the fixed weights 0, 1, ..., bins - 1 (the
    expectation of the softmax over distance bins). It is part of the decode, not a learned layer."""
    w = graph.consts.get(n.inputs[1]) if n.op == "Conv" and len(n.inputs) > 1 else None
    return (w is not None and w.ndim == 4 and w.shape[0] == 1 and w.shape[2:] == (1, 1)
            and np.array_equal(w.reshape(-1), np.arange(w.shape[1], dtype=w.dtype)))


def _weighted(graph: Graph, n: Node) -> bool:
    if n.op in ("Conv", "ConvTranspose"):
        return not _is_dfl(graph, n)
    return n.op in ("Gemm", "MatMul") and n.inputs[1] in graph.consts


def post_processing(graph: Graph) -> set[str]:
    """Nodes after the last weighted layer: every path from them reaches no Conv / ConvTranspose / Gemm / MatMul
    with constant weights, and they read (directly or not) such a layer's output. In a detector that is the box
    decode (anchor and stride arithmetic, the concat of boxes and scores), in a classifier the final Softmax. They
    run in float in int8 models: int8 would round box coordinates to a step of (range / 255), and they are cheap.
    The DFL (softmax over distance bins and its fixed 0..bins-1 convolution, :func:`_is_dfl`) counts as decode.
    """
    produced_by = {o: n for n in graph.nodes for o in n.outputs}
    after_weights: set[str] = set()
    for n in graph.nodes:  # topological order
        if any(i in produced_by and (_weighted(graph, produced_by[i]) or produced_by[i].name in after_weights)
               for i in n.inputs):
            after_weights.add(n.name)
    readers = graph.readers()
    feeds_weights: set[str] = set()
    for n in reversed(graph.nodes):
        if _weighted(graph, n) or any(r.name in feeds_weights for o in n.outputs for r in readers.get(o, [])):
            feeds_weights.add(n.name)
    return after_weights - feeds_weights


def _qp_dict(qp: QParams | None) -> dict | None:
    if qp is None:
        return None
    return {"scale": float(qp.scale[0]), "zero_point": int(qp.zero_point[0])}
