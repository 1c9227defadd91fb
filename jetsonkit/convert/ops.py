"""One function per ONNX op: append the TFLite operators that compute it (registry ``LOWER``).

Attribute semantics are from the ONNX operator specification (onnx/docs/Operators.md); TFLite options from the
TFLite schema. TF's SAME padding puts the odd pixel after (pad_before = total // 2), which is how we recognise it.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError
from .flatbuf import QParams
from .lower import _SOFT_QP, NCHW_TO_NHWC, NHWC_TO_NCHW, Lowering, _nhwc
from .onnx_graph import Node

LOWER: dict = {}


def lowers(*ops):
    def deco(fn):
        for op in ops:
            LOWER[op] = fn
        return fn
    return deco


def unsupported(lw: Lowering, node: Node) -> None:
    raise UnsupportedError(
        f"ONNX op {node.op} (node {node.name!r}) has no TFLite lowering in jetsonkit",
        hint=f"supported ops: {', '.join(sorted(LOWER))}; replace it in the model or export it differently")


def _fused(lw: Lowering, node: Node) -> int:
    return getattr(lw.b.s.ActivationFunctionType, node.fused)


def _padding(node: Node, in_hw, kernel, strides, dilations) -> str | tuple:
    """'VALID', 'SAME', or explicit ((top, bottom), (left, right)) pads for ``node``."""
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return "VALID"
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    if auto in ("SAME_UPPER",):
        return "SAME"
    if auto == "SAME_LOWER":
        raise UnsupportedError(f"{node.op} node {node.name!r}: auto_pad SAME_LOWER has no TFLite equivalent")
    if not any(pads):
        return "VALID"
    same = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        same.append((total // 2, total - total // 2))
    if [same[0][0], same[1][0], same[0][1], same[1][1]] == pads:
        return "SAME"
    return ((pads[0], pads[2]), (pads[1], pads[3]))


def _spatial(node: Node):
    return list(node.attrs.get("strides", [1, 1])), list(node.attrs.get("dilations", [1, 1]))


@lowers("Conv")
def conv(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    w = lw.const_input(node, 1).astype(np.float32)
    bias = lw.const_input(node, 2).astype(np.float32) if len(node.inputs) > 2 and node.inputs[2] else \
        np.zeros(w.shape[0], np.float32)
    if w.ndim != 4:
        raise UnsupportedError(f"Conv node {node.name!r} is {w.ndim - 2}-D; only 2-D convolutions lower to TFLite")
    shape = lw.shape(x)
    strides, dil = _spatial(node)
    pad = _padding(node, shape[2:], w.shape[2:], strides, dil)
    xin = lw.t[x]
    if isinstance(pad, tuple):
        xin, pad = _explicit_pad(lw, node, x, pad), "VALID"
    group, c_in, c_out = int(node.attrs.get("group", 1)), shape[1], w.shape[0]
    s = lw.b.s
    if group == 1:
        wt, bt = lw.weights(node, w.transpose(0, 2, 3, 1), bias, axis=0)
        opts = s.Conv2DOptionsT()
        code, otype = "CONV_2D", "Conv2DOptions"
    elif group == c_in and w.shape[1] == 1:
        wt, bt = lw.weights(node, w.transpose(1, 2, 3, 0), bias, axis=3)
        opts = s.DepthwiseConv2DOptionsT()
        opts.depthMultiplier = c_out // c_in
        code, otype = "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
    else:
        raise UnsupportedError(f"Conv node {node.name!r}: group={group} (neither 1 nor depthwise) has no TFLite op")
    opts.padding = getattr(s.Padding, pad)
    opts.strideH, opts.strideW = strides
    opts.dilationHFactor, opts.dilationWFactor = dil
    opts.fusedActivationFunction = _fused(lw, node)
    out = lw.act(node.outputs[0], lw.shape(node.outputs[0]))
    lw.b.op(code, [xin, wt, bt], [out], otype, opts, version=3 if lw.int8 else 1)


def _explicit_pad(lw: Lowering, node: Node, x: str, pads) -> int:
    n, c, h, w = lw.shape(x)
    (t, bt), (left, r) = pads
    shape = (n, h + t + bt, w + left + r, c)
    qp = lw.qp.get(x)
    out = lw.b.tensor(node.name + "/pad", shape, "int8" if lw.int8 else "float32", qp, dynamic_batch=True)
    paddings = lw.int_const(node.name + "/paddings", [[0, 0], [t, bt], [left, r], [0, 0]])
    lw.b.op("PAD", [lw.t[x], paddings], [out], "PadOptions", lw.b.s.PadOptionsT(), version=2 if lw.int8 else 1)
    return out


@lowers("MaxPool", "AveragePool")
def pool(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    kernel = list(node.attrs["kernel_shape"])
    strides = list(node.attrs.get("strides", [1, 1]))
    if len(kernel) != 2 or any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
        raise UnsupportedError(f"{node.op} node {node.name!r}: only 2-D pooling without dilation lowers to TFLite")
    pad = _padding(node, lw.shape(x)[2:], kernel, strides, [1, 1])
    expect = _nhwc(lw.shape(y))
    if isinstance(pad, tuple) or (node.op == "AveragePool" and pad == "SAME" and node.attrs.get("count_include_pad")):
        raise UnsupportedError(f"{node.op} node {node.name!r}: pads {node.attrs.get('pads')} have no TFLite "
                               "equivalent (only VALID or TF-style SAME)", hint="use padding 0 or 'same' pooling")
    s = lw.b.s
    opts = s.Pool2DOptionsT()
    opts.padding = getattr(s.Padding, pad)
    opts.strideH, opts.strideW = strides
    opts.filterHeight, opts.filterWidth = kernel
    _, h, w, _ = _nhwc(lw.shape(x))
    got = [(v - k) // st + 1 if pad == "VALID" else math.ceil(v / st) for v, k, st in zip((h, w), kernel, strides)]
    if tuple(got) != tuple(expect[1:3]):
        raise UnsupportedError(f"{node.op} node {node.name!r}: output {expect[1:3]} needs ceil_mode, which TFLite "
                               "pooling lacks", hint="export with ceil_mode=False")
    qp = lw.same_qp(x, y)  # int8 pooling keeps the input's scale and zero point
    out = lw.act(y, lw.shape(y), qp)
    code = "MAX_POOL_2D" if node.op == "MaxPool" else "AVERAGE_POOL_2D"
    lw.b.op(code, [lw.t[x]], [out], "Pool2DOptions", opts, version=2 if lw.int8 else 1)


@lowers("GlobalAveragePool")
def global_avg_pool(lw: Lowering, node: Node) -> None:
    out = lw.act(node.outputs[0], lw.shape(node.outputs[0]))
    opts = lw.b.s.ReducerOptionsT()
    opts.keepDims = True
    axes = lw.int_const(node.name + "/axes", [1, 2])
    lw.b.op("MEAN", [lw.t[node.inputs[0]], axes], [out], "ReducerOptions", opts, version=2 if lw.int8 else 1)


@lowers("Gemm", "MatMul")
def fully_connected(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    if len(lw.shape(x)) != 2:
        raise UnsupportedError(f"{node.op} node {node.name!r}: input {x!r} is {len(lw.shape(x))}-D; only 2-D "
                               "inputs lower to FULLY_CONNECTED", hint="flatten before the layer")
    w = lw.const_input(node, 1).astype(np.float32)
    a = node.attrs
    if node.op == "Gemm" and a.get("transA", 0):
        raise UnsupportedError(f"Gemm node {node.name!r}: transA=1 is not supported")
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
    opts.fusedActivationFunction = _fused(lw, node)
    out = lw.act(node.outputs[0], lw.shape(node.outputs[0]))
    lw.b.op("FULLY_CONNECTED", [lw.t[x], wt, bt], [out], "FullyConnectedOptions", opts,
            version=5 if lw.int8 else 1)


@lowers("Add")
def add(lw: Lowering, node: Node) -> None:
    ins = []
    for k, name in enumerate(node.inputs[:2]):
        if name in lw.t:
            ins.append(lw.t[name])
            continue
        c = lw.const_input(node, k).astype(np.float32)
        if c.ndim == 3:
            c = c[None]
        c = c.transpose(NCHW_TO_NHWC) if c.ndim == 4 else c
        if lw.int8:
            amax = float(np.abs(c).max()) or 1.0
            qp = QParams.per_tensor(amax / 127.0, 0)
            q = np.clip(np.rint(c / qp.scale[0]), -127, 127).astype(np.int8)
            ins.append(lw.b.tensor(f"{node.name}/const{k}", q.shape, "int8", qp, data=q))
        else:
            ins.append(lw.float_const(f"{node.name}/const{k}", c))
    opts = lw.b.s.AddOptionsT()
    opts.fusedActivationFunction = _fused(lw, node)
    out = lw.act(node.outputs[0], lw.shape(node.outputs[0]))
    lw.b.op("ADD", ins, [out], "AddOptions", opts, version=2 if lw.int8 else 1)


@lowers("Relu", "Clip")
def relu(lw: Lowering, node: Node) -> None:
    from .onnx_graph import _activation_kind

    kind = _activation_kind(lw.g, node)
    if kind is None:
        raise UnsupportedError(f"Clip node {node.name!r}: only Clip(0, 6) (ReLU6) lowers to TFLite")
    out = lw.act(node.outputs[0], lw.shape(node.outputs[0]))
    lw.b.op(kind, [lw.t[node.inputs[0]]], [out], version=2 if lw.int8 else 1)


def _to_nchw_order(lw: Lowering, name: str) -> int:
    """The tensor ``name`` in ONNX element order (a TRANSPOSE back to NCHW when it is 4-D)."""
    shape = lw.shape(name)
    if len(shape) != 4:
        return lw.t[name]
    return lw.transpose(lw.t[name], name + "/nchw", shape, NHWC_TO_NCHW, lw.qp.get(name))


@lowers("Flatten", "Reshape")
def reshape(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if node.op == "Flatten" and node.attrs.get("axis", 1) != 1:
        raise UnsupportedError(f"Flatten node {node.name!r}: only axis=1 is supported")
    target = list(lw.shape(y))
    if _flatten_into_fc_only(lw, x, y, target):  # skip the transpose: the FC weights are permuted instead
        lw.hwc_flat[y] = tuple(lw.shape(x)[1:])
        out = lw.act(y, target, lw.same_qp(x, y))
        _reshape_op(lw, lw.t[x], out, [-1, *target[1:]], node)
        return
    src = _to_nchw_order(lw, x)
    new_shape = [-1, *target[1:]]
    qp = lw.same_qp(x, y)
    if len(target) == 4:  # reshape in NCHW order, then back to NHWC
        mid = lw.b.tensor(y + "/nchw", target, "int8" if lw.int8 else "float32", qp, dynamic_batch=True)
        _reshape_op(lw, src, mid, new_shape, node)
        out = lw.act(y, target, qp)
        lw.b.op("TRANSPOSE", [mid, lw.int_const(y + "/perm", NCHW_TO_NHWC)], [out], "TransposeOptions",
                lw.b.s.TransposeOptionsT(), version=2 if lw.int8 else 1)
        return
    out = lw.act(y, target, qp)
    _reshape_op(lw, src, out, new_shape, node)


def _flatten_into_fc_only(lw: Lowering, x: str, y: str, target) -> bool:
    """True when 4-D ``x`` flattens to [N, C*H*W] read only by fully-connected layers with constant weights."""
    readers = lw.readers.get(y, [])
    return (len(lw.shape(x)) == 4 and len(target) == 2 and y not in lw.g.outputs and bool(readers)
            and all(r.op in ("Gemm", "MatMul") and r.inputs[0] == y and r.inputs[1] in lw.g.consts for r in readers))


def _reshape_op(lw: Lowering, src: int, out: int, new_shape, node: Node) -> None:
    opts = lw.b.s.ReshapeOptionsT()
    opts.newShape = np.asarray(new_shape, np.int32)
    lw.b.op("RESHAPE", [src, lw.int_const(node.name + "/shape", new_shape)], [out], "ReshapeOptions", opts)


@lowers("Softmax", "Sigmoid")
def softmax(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rank = len(lw.shape(x))
    if node.op == "Softmax" and node.attrs.get("axis", -1) not in (-1, rank - 1):
        raise UnsupportedError(f"Softmax node {node.name!r}: only the last axis is supported")
    out = lw.act(y, lw.shape(y), _SOFT_QP if lw.int8 else None)
    if node.op == "Softmax":
        opts = lw.b.s.SoftmaxOptionsT()
        opts.beta = 1.0
        lw.b.op("SOFTMAX", [lw.t[x]], [out], "SoftmaxOptions", opts, version=2 if lw.int8 else 1)
    else:
        lw.b.op("LOGISTIC", [lw.t[x]], [out], version=2 if lw.int8 else 1)


@lowers("Concat")
def concat(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    rank = len(lw.shape(y))
    axis = node.attrs.get("axis", 0) % rank
    if rank == 4:
        axis = NCHW_TO_NHWC.index(axis)
    missing = [i for i in node.inputs if i not in lw.t]
    if missing:
        raise UnsupportedError(f"Concat node {node.name!r}: constant input {missing[0]!r} is not supported")
    opts = lw.b.s.ConcatenationOptionsT()
    opts.axis = axis
    out = lw.act(y, lw.shape(y))
    ins = [_requantized(lw, i, lw.qp[y], node) if lw.int8 else lw.t[i] for i in node.inputs]
    lw.b.op("CONCATENATION", ins, [out], "ConcatenationOptions", opts, version=2 if lw.int8 else 1)


def _requantized(lw: Lowering, name: str, qp: QParams, node: Node) -> int:
    """``name`` in int8 with parameters ``qp``: the tensor itself if they match, else an int8 -> int8 QUANTIZE.

    The TFLite int8 spec requires CONCATENATION's inputs and output to share scale and zero point."""
    have = lw.qp[name]
    if np.allclose(have.scale, qp.scale) and np.array_equal(have.zero_point, qp.zero_point):
        return lw.t[name]
    out = lw.b.tensor(f"{name}/requant_{node.name}", _nhwc(lw.shape(name)), "int8", qp, dynamic_batch=True)
    lw.b.op("QUANTIZE", [lw.t[name]], [out], version=2)
    return out
