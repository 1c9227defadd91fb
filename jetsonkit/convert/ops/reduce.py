"""Reductions, Softmax, matrix products and normalisations.

Reduction axes are remapped to the stored layout. Softmax on an axis that is not the stored last axis is wrapped in
two TRANSPOSEs (NCHW channel softmax on an NHWC tensor needs none). LayerNormalization / InstanceNormalization are
decomposed (MEAN, SUB, MUL, ADD, RSQRT) and run as float islands in int8 models: int8 variance loses too much.
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from ..graph import Node
from ..lower import SOFT_QP, Lowering, stored_axis
from ..registry import lowers
NHWC_ORDER = (0, 2, 3, 1)  # ONNX axes in NHWC storage order
_REDUCE = {"ReduceMean": "MEAN", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN", "ReduceSum": "SUM"}


def _axes(lw: Lowering, node: Node, rank: int) -> list[int]:
    if len(node.inputs) > 1 and node.inputs[1]:
        axes = [int(a) for a in np.asarray(lw.const_input(node, 1)).reshape(-1)]
    else:
        axes = [int(a) for a in node.attrs.get("axes", [])]
    if not axes and not node.attrs.get("noop_with_empty_axes", 0):
        axes = list(range(rank))
    return sorted(a % rank for a in axes)


@lowers(*_REDUCE, tflite={op: (code,) for op, code in _REDUCE.items()}, note="constant axes (attribute or input), keepdims either way")
def reduce(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rank = len(lw.shape(x))
    axes = _axes(lw, node, rank)
    keep = bool(node.attrs.get("keepdims", 1))
    layout = lw.layout[x] if rank == 4 else "onnx"
    if not keep and layout == "nhwc":  # the kept axes must stay in ONNX order once the reduced ones are gone
        kept = [a for a in NHWC_ORDER if a not in axes]
        layout = "nhwc" if kept == sorted(kept) else "onnx"
    opts = lw.b.s.ReducerOptionsT()
    opts.keepDims = keep
    src = lw.get(x, layout)
    moves = node.op in ("ReduceMax", "ReduceMin")
    out = lw.out(y, layout if keep else "onnx", same_as=x if moves else None)
    stored = sorted(stored_axis(a, rank, layout) for a in axes)
    lw.op(_REDUCE[node.op], [src, lw.int_const(y + "/axes", stored)], [out], "ReducerOptions", opts)



@lowers("Softmax", tflite=("SOFTMAX", "TRANSPOSE"), note="any axis (opset >= 13 semantics, or the last axis)")
def softmax(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rank, layout = len(lw.shape(x)), lw.layout[x]
    axis = int(node.attrs.get("axis", -1 if lw.g.opset >= 13 else 1)) % rank
    if lw.g.opset < 13 and axis != rank - 1:
        raise UnsupportedError(f"Softmax node {node.name!r}: opset {lw.g.opset} softmax over axes {axis}.. is not "
                               "supported", hint="export with opset >= 13")
    ax = stored_axis(axis, rank, layout)
    opts = lw.b.s.SoftmaxOptionsT()
    opts.beta = 1.0
    qp = SOFT_QP if lw.mode_int8 else None
    out = lw.out(y, layout, qp=qp)
    if ax == rank - 1:
        lw.op("SOFTMAX", [lw.get(x)], [out], "SoftmaxOptions", opts)
        return
    perm = list(range(rank))
    perm[ax], perm[-1] = perm[-1], perm[ax]  # a swap is its own inverse
    stored = lw.b.tensors[out].shape
    moved = [stored[p] for p in perm]
    a = lw.transpose(lw.get(x), y + "/moved", moved, perm, lw.qparams(x) if lw.mode_int8 else None)
    b = lw.scratch(y + "/softmax", moved, qp)
    lw.op("SOFTMAX", [a], [b], "SoftmaxOptions", opts)
    lw.op("TRANSPOSE", [b, lw.int_const(y + "/perm", perm)], [out], "TransposeOptions", lw.b.s.TransposeOptionsT())


@lowers("Gemm", "MatMul", tflite={"Gemm": ("FULLY_CONNECTED", "BATCH_MATMUL"), "MatMul": ("FULLY_CONNECTED", "BATCH_MATMUL")},
        note={"Gemm": "constant B: FULLY_CONNECTED (alpha, beta, transB folded); two activations: BATCH_MATMUL",
              "MatMul": "constant weights: FULLY_CONNECTED (any input rank, keep_num_dims); two activations "
                        "(attention): BATCH_MATMUL with batch broadcasting"})
def matmul(lw: Lowering, node: Node) -> None:
    a = node.attrs
    if node.op == "Gemm" and a.get("transA", 0):
        raise UnsupportedError(f"Gemm node {node.name!r}: transA=1 is not supported", hint="export x @ W.T as MatMul")
    if lw.is_const(node.inputs[0]):
        raise UnsupportedError(f"{node.op} node {node.name!r}: a constant left operand is not supported",
                               hint="transpose the product so the constant is on the right")
    if lw.is_const(node.inputs[1]):
        _fully_connected(lw, node)
    else:
        _batch_matmul(lw, node)


def _fully_connected(lw: Lowering, node: Node) -> None:
    x, y, a = node.inputs[0], node.outputs[0], node.attrs
    w = lw.const_input(node, 1).astype(np.float32)
    if w.ndim != 2:
        raise UnsupportedError(f"{node.op} node {node.name!r}: a {w.ndim}-D constant right operand is not "
                               "supported", hint="use a 2-D weight (nn.Linear)")
    w = w if node.op == "Gemm" and a.get("transB", 0) else w.T  # TFLite wants [out, in]
    w = w * np.float32(a.get("alpha", 1.0))
    if x in lw.hwc_flat:  # input flattened in NHWC order: reorder the weight columns from (C, H, W) to (H, W, C)
        c, h, wd = lw.hwc_flat[x]
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    bias = np.zeros(w.shape[0], np.float32)
    if node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2]:
        bias = np.broadcast_to(lw.const_input(node, 2).astype(np.float32).reshape(-1), (w.shape[0],)) * \
            np.float32(a.get("beta", 1.0))
    wt, bt = lw.weights(node, w, bias, axis=0)
    opts = lw.b.s.FullyConnectedOptionsT()
    opts.fusedActivationFunction = getattr(lw.b.s.ActivationFunctionType, node.fused)
    opts.keepNumDims = len(lw.shape(y)) > 2
    src = lw.get(x, "onnx")
    lw.op("FULLY_CONNECTED", [src, wt, bt], [lw.out(y, "onnx")], "FullyConnectedOptions", opts)


def _batch_matmul(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    rank = max(len(lw.shape(node.inputs[0])), len(lw.shape(node.inputs[1])))
    if node.fused != "NONE" or (node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2]):
        raise UnsupportedError(f"{node.op} node {node.name!r}: bias or activation on a product of two "
                               "activations is not supported", hint="export the bias as a separate Add")
    ins = [lw.operand(node, k, rank, "onnx") for k in range(2)]
    opts = lw.b.s.BatchMatMulOptionsT()
    opts.adjY = bool(node.op == "Gemm" and node.attrs.get("transB", 0))
    lw.op("BATCH_MATMUL", ins, [lw.out(y, "onnx")], "BatchMatMulOptions", opts)


@lowers("LayerNormalization", "InstanceNormalization", tflite=("MEAN", "SUB", "MUL", "ADD", "RSQRT"), int8=False,
        note={"LayerNormalization": "decomposed (MEAN, SUB, MUL, MEAN, ADD, RSQRT, MUL, ADD); the exported "
                                    "ReduceMean / Sub / Pow / Sqrt / Div form is matched back to it",
              "InstanceNormalization": "decomposed like LayerNormalization over H, W (GroupNorm(1) exports as it)"})
def normalization(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    shape = lw.shape(x)
    rank, layout = len(shape), lw.layout[x]
    eps = float(node.attrs.get("epsilon", 1e-5))
    if "_axes" in node.attrs:  # matched from the decomposed form (rewrite.py): no affine part
        axes = sorted(int(a) % rank for a in node.attrs["_axes"])
        gamma, beta = None, None
    elif node.op == "LayerNormalization":
        first = int(node.attrs.get("axis", -1)) % rank
        axes = list(range(first, rank))
        gamma = lw.const_input(node, 1)
        beta = lw.const_input(node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
    else:
        axes = list(range(2, rank))
        c = (shape[1],) + (1,) * (rank - 2)
        gamma, beta = lw.const_input(node, 1).reshape(c), lw.const_input(node, 2).reshape(c)
    stored = list(lw.b.tensors[lw.get(x)].shape)
    saxes = sorted(stored_axis(a, rank, layout) for a in axes)
    reduced = [1 if i in saxes else d for i, d in enumerate(stored)]
    s, n = lw.b.s, node.name
    src = lw.get(x)

    def tensor(tag, shp):
        return lw.scratch(f"{n}/{tag}", shp)

    def mean(inp, tag):
        o = tensor(tag, reduced)
        opts = s.ReducerOptionsT()
        opts.keepDims = True
        lw.op("MEAN", [inp, lw.int_const(f"{n}/{tag}/axes", saxes)], [o], "ReducerOptions", opts)
        return o

    def binop(code, a, b, tag, shp):
        o = tensor(tag, shp)
        lw.op(code, [a, b], [o], f"{code.title()}Options", getattr(s, f"{code.title()}OptionsT")())
        return o

    mu = mean(src, "mean")
    d = binop("SUB", src, mu, "centered", stored)
    var = mean(binop("MUL", d, d, "squared", stored), "var")
    eps_t = lw.float_const(f"{n}/eps", np.full((1,) * rank, eps, np.float32))
    inv = tensor("inv_std", reduced)
    lw.op("RSQRT", [binop("ADD", var, eps_t, "var_eps", reduced)], [inv])
    if gamma is None:
        lw.op("MUL", [d, inv], [lw.out(y, layout)], "MulOptions", s.MulOptionsT())
        return
    normed = binop("MUL", d, inv, "normed", stored)
    g = lw.broadcast_const(f"{n}/gamma", gamma, rank, layout)
    if beta is None:
        lw.op("MUL", [normed, g], [lw.out(y, layout)], "MulOptions", s.MulOptionsT())
        return
    scaled = binop("MUL", normed, g, "scaled", stored)
    lw.op("ADD", [scaled, lw.broadcast_const(f"{n}/beta", beta, rank, layout)], [lw.out(y, layout)], "AddOptions",
          s.AddOptionsT())

