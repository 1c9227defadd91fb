"""Element-wise ops: arithmetic with ONNX (numpy) broadcasting, activations, standalone BatchNormalization, Cast.

They work in whatever layout their input is stored: a constant operand is broadcast to the output rank and
permuted to that layout, an activation of lower rank is reshaped first (ONNX aligns dimensions on the right).
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from ..flatbuf import QParams
from ..graph import Node
from ..lower import SOFT_QP, TANH_QP, Lowering
from ..onnx_graph import activation_kind
from ..quant import range_qparams
from ..registry import lowers

_BINARY = {"Add": ("ADD", "AddOptions"), "Sub": ("SUB", "SubOptions"), "Mul": ("MUL", "MulOptions"),
           "Div": ("DIV", "DivOptions"), "Max": ("MAXIMUM", None), "Min": ("MINIMUM", None),
           "Pow": ("POW", None)}


def common_layout(lw: Lowering, names, rank: int) -> str:
    """NHWC when a 4-D output has a 4-D activation input stored NHWC, else ONNX order."""
    if rank == 4 and any(not lw.is_const(n) and len(lw.shape(n)) == 4 and lw.layout[n] == "nhwc" for n in names):
        return "nhwc"
    return "onnx"


_BINARY_NOTE = "numpy broadcasting, constants on either side"


@lowers(*_BINARY, tflite={op: (code,) for op, (code, _) in _BINARY.items()},
        int8={op: op in ("Add", "Sub", "Mul") for op in _BINARY},
        note={"Add": _BINARY_NOTE, "Sub": _BINARY_NOTE, "Mul": _BINARY_NOTE,
              "Div": "by a constant: MUL by its reciprocal (int8); by an activation: DIV (float)",
              "Pow": "exponent 2: MUL(x, x) (int8); 0.5: SQRT; otherwise POW", "Max": _BINARY_NOTE,
              "Min": _BINARY_NOTE})
def binary(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    rank = len(lw.shape(y))
    if len(node.inputs) != 2:
        raise UnsupportedError(f"{node.op} node {node.name!r} has {len(node.inputs)} inputs; TFLite needs 2",
                               hint="chain two-input ops")
    layout = common_layout(lw, node.inputs, rank)
    code, otype = _BINARY[node.op]
    ins = [lw.operand(node, k, rank, layout) for k in range(2)]
    opts = None
    if otype:
        opts = getattr(lw.b.s, otype + "T")()
        opts.fusedActivationFunction = getattr(lw.b.s.ActivationFunctionType, node.fused)
    lw.op(code, ins, [lw.out(y, layout)], otype, opts)


# ONNX op -> (TFLite op, fixed int8 output parameters or None, runs in int8)
_UNARY = {"Sigmoid": ("LOGISTIC", SOFT_QP, True), "Tanh": ("TANH", TANH_QP, True),
          "HardSwish": ("HARD_SWISH", None, True), "Relu": ("RELU", None, True), "Exp": ("EXP", None, False),
          "Sqrt": ("SQRT", None, False), "Neg": ("NEG", None, False), "Abs": ("ABS", None, False),
          "Gelu": ("GELU", None, True), "LeakyRelu": ("LEAKY_RELU", None, True), "Reciprocal": (None, None, False)}


_UNARY_NOTE = {"Sigmoid": "SiLU / Swish is LOGISTIC + MUL: TFLite has no fused SiLU",
               "Gelu": "also the Erf form x * 0.5 * (1 + erf(x / sqrt 2)) that PyTorch exports, matched to one GELU",
               "HardSwish": "fused HARD_SWISH", "Reciprocal": "DIV of a constant 1",
               "Relu": "fused into the Conv / Gemm / MatMul / Add before it when that has no other reader"}


@lowers(*_UNARY, tflite={op: (v[0] or "DIV",) for op, v in _UNARY.items()}, int8={op: v[2] for op, v in _UNARY.items()},
        note={op: _UNARY_NOTE.get(op, "") for op in _UNARY})
def unary(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    code, qp, _ = _UNARY[node.op]
    s = lw.b.s
    opts, otype = None, None
    if node.op == "Gelu":
        approx = node.attrs.get("approximate", b"none")
        opts, otype = s.GeluOptionsT(), "GeluOptions"
        opts.approximate = (approx.decode() if isinstance(approx, bytes) else approx) == "tanh"
    elif node.op == "LeakyRelu":
        opts, otype = s.LeakyReluOptionsT(), "LeakyReluOptions"
        opts.alpha = float(node.attrs.get("alpha", 0.01))
    xin = lw.get(x)
    out = lw.out(y, lw.layout[x], qp=qp)
    if node.op == "Reciprocal":
        one = lw.float_const(node.name + "/one", np.ones((1,) * len(lw.shape(x)), np.float32))
        lw.op("DIV", [one, xin], [out], "DivOptions", s.DivOptionsT())
        return
    lw.op(code, [xin], [out], otype, opts)


@lowers("Clip", tflite=("RELU6", "RELU", "RELU_N1_TO_1", "RELU_0_TO_1", "MAXIMUM", "MINIMUM"),
        int8=lambda lw, node: activation_kind(lw.g, node) is not None,
        note="(0, 6), (0, inf), (-1, 1), (0, 1) are int8 activations (fused into the op before when possible); "
             "other bounds MAXIMUM / MINIMUM in float")
def clip(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    kind = activation_kind(lw.g, node)
    xin = lw.get(x)
    out = lw.out(y, lw.layout[x])
    if kind is not None:
        lw.op(kind, [xin], [out])
        return
    lo, hi = clip_bounds(lw.g, node)
    if lo is None and hi is None:
        raise UnsupportedError(f"Clip node {node.name!r}: bounds are not constants",
                               hint="export with constant min / max")
    shape = lw.shape(x)
    layout_shape = [lw.b.tensors[xin].shape[i] for i in range(len(shape))]
    cur = xin
    for k, (bound, code) in enumerate(((lo, "MAXIMUM"), (hi, "MINIMUM"))):
        if bound is None:
            continue
        c = lw.float_const(f"{node.name}/bound{k}", np.array(bound, np.float32).reshape((1,) * len(shape)))
        last = code == "MINIMUM" or hi is None
        dst = out if last else lw.scratch(f"{node.name}/max", layout_shape)
        lw.op(code, [cur, c], [dst])
        cur = dst


def clip_bounds(graph, node: Node) -> tuple:
    def value(k, key):
        if len(node.inputs) > k and node.inputs[k]:
            return float(graph.consts[node.inputs[k]]) if node.inputs[k] in graph.consts else None
        v = node.attrs.get(key)
        return None if v is None else float(v)

    return value(1, "min"), value(2, "max")


@lowers("HardSigmoid", tflite=("MUL", "ADD", "RELU_0_TO_1"),
        note="clip(alpha*x + beta, 0, 1) as MUL, ADD, RELU_0_TO_1")
def hard_sigmoid(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    alpha, beta = float(node.attrs.get("alpha", 0.2)), float(node.attrs.get("beta", 0.5))
    layout = lw.layout[x]
    shape = lw.b.tensors[lw.get(x)].shape
    ones = (1,) * len(shape)
    qx = lw.qparams(x) if lw.mode_int8 else None
    scaled_qp = QParams(qx.scale * abs(alpha), qx.zero_point * int(np.sign(alpha))) if qx else None
    if qx is not None and alpha < 0:
        scaled_qp = range_qparams(*sorted(alpha * v for v in _real_range(qx)))
    s = lw.b.s
    mul = lw.scratch(node.name + "/scaled", shape, scaled_qp)
    lw.op("MUL", [lw.get(x), lw.value_const(node.name + "/alpha", np.full(ones, alpha))], [mul], "MulOptions",
          s.MulOptionsT())
    shifted_qp = range_qparams(*(v + beta for v in _real_range(scaled_qp))) if qx else None
    add = lw.scratch(node.name + "/shifted", shape, shifted_qp)
    lw.op("ADD", [mul, lw.value_const(node.name + "/beta", np.full(ones, beta))], [add], "AddOptions",
          s.AddOptionsT())
    lw.op("RELU_0_TO_1", [add], [lw.out(y, layout, qp=range_qparams(0.0, 1.0) if qx else None)])


def _real_range(qp: QParams) -> tuple[float, float]:
    s, z = float(qp.scale[0]), int(qp.zero_point[0])
    return s * (-128 - z), s * (127 - z)


@lowers("BatchNormalization", tflite=("MUL", "ADD"),
        note="not after a Conv (that one is folded): a per-channel MUL + ADD on axis 1")
def batch_norm(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    gamma, beta, mean, var = (lw.const_input(node, k).astype(np.float64) for k in range(1, 5))
    k = gamma / np.sqrt(var + float(node.attrs.get("epsilon", 1e-5)))
    shape = lw.shape(x)
    rank = len(shape)
    layout = lw.layout[x]
    axis = 3 if layout == "nhwc" and rank == 4 else 1
    bshape = [1] * rank
    bshape[axis] = -1
    stored = lw.b.tensors[lw.get(x)].shape
    mid_qp = None
    if lw.mode_int8:
        lo, hi = _real_range(lw.qparams(x))
        ends = np.concatenate([k * lo, k * hi])
        mid_qp = range_qparams(float(ends.min()), float(ends.max()))
    mid = lw.scratch(node.name + "/scaled", stored, mid_qp)
    s = lw.b.s
    lw.op("MUL", [lw.get(x), lw.value_const(node.name + "/scale", k.reshape(bshape))], [mid], "MulOptions",
          s.MulOptionsT())
    lw.op("ADD", [mid, lw.value_const(node.name + "/shift", (beta - mean * k).reshape(bshape))],
          [lw.out(y, layout)], "AddOptions", s.AddOptionsT())


@lowers("Cast", tflite=(),
        note="float -> float is free (casts in shape arithmetic are folded); others are refused")
def cast(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    to = lw.g.dtypes.get(y, "float32")
    if to == lw.g.dtypes.get(x, "float32") or (to.startswith("float") and lw.g.dtypes.get(x, "").startswith("float")):
        lw.alias(y, x)
        return
    raise UnsupportedError(f"Cast node {node.name!r}: {lw.g.dtypes.get(x)} -> {to} on a run-time tensor is not "
                           "supported (casts of shape arithmetic are folded)", hint="keep activations in float")
