"""Ops that move values: Reshape family, Transpose, Concat, Slice, Split, Gather, Pad, Expand.

Axis-parameterised ops remap their axes to the stored layout (no TRANSPOSE); Reshape needs ONNX element order
(a TRANSPOSE when the input is stored NHWC, except where both orders coincide); Transpose composes its permutation
with the stored layout and costs nothing when the result is the identity (ConvNeXt's NCHW <-> NHWC permutes).
int8: these ops keep their input's scale and zero point (Concat requantizes inputs to its output's), as the TFLite
int8 specification requires.
"""

from __future__ import annotations

import numpy as np

from ...errors import UnsupportedError
from ..graph import Node
from ..lower import NCHW_TO_NHWC, NHWC_TO_NCHW, Lowering, _nhwc, stored_axis
from ..registry import lowers
from .elementwise import common_layout


def _orders_coincide(shape) -> bool:
    """NCHW and NHWC element orders are the same when H*W == 1 or C == 1."""
    return len(shape) == 4 and (shape[2] * shape[3] == 1 or shape[1] == 1)


@lowers("Reshape", "Flatten", "Squeeze", "Unsqueeze", tflite=("RESHAPE",),
        note="in ONNX element order (a TRANSPOSE first when the input is NHWC and H*W, C > 1; Flatten into a "
             "fully-connected layer permutes the weights instead)")
def reshape(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    target = list(lw.shape(y))
    if lw.layout[x] == "nhwc" and (_orders_coincide(lw.shape(x)) or _flatten_into_fc_only(lw, x, y, target)):
        if not _orders_coincide(lw.shape(x)):  # skip the transpose: the FC weights are permuted instead
            lw.hwc_flat[y] = tuple(lw.shape(x)[1:])
        src = lw.get(x)
    else:
        src = lw.get(x, "onnx")
    out = lw.out(y, "onnx", same_as=x)
    lw.reshape(src, out, target, y)


def _flatten_into_fc_only(lw: Lowering, x: str, y: str, target) -> bool:
    """True when 4-D ``x`` flattens to [N, C*H*W] read only by fully-connected layers with constant weights."""
    readers = lw.readers.get(y, [])
    return (len(lw.shape(x)) == 4 and len(target) == 2 and y not in lw.g.outputs and bool(readers)
            and all(r.op in ("Gemm", "MatMul") and r.inputs[0] == y and r.inputs[1] in lw.g.consts for r in readers))


@lowers("Transpose", tflite=("TRANSPOSE",), note="composed with the stored layout; free when that is the identity")
def transpose(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rank = len(lw.shape(x))
    perm = [int(p) for p in node.attrs.get("perm", list(range(rank))[::-1])]
    composite = [NHWC_TO_NCHW[p] for p in perm] if lw.layout[x] == "nhwc" else perm
    as_nhwc = [composite[p] for p in NCHW_TO_NHWC] if rank == 4 else None
    ident = list(range(rank))
    if composite == ident:
        lw.alias(y, x, "onnx")
        return
    if as_nhwc == ident:
        lw.alias(y, x, "nhwc")
        return
    out = lw.out(y, "onnx", same_as=x)
    lw.op("TRANSPOSE", [lw.get(x), lw.int_const(y + "/perm", composite)], [out], "TransposeOptions",
          lw.b.s.TransposeOptionsT())


@lowers("Concat", tflite=("CONCATENATION", "QUANTIZE"),
        note="any axis, constant inputs allowed; int8 inputs requantized to the output's parameters")
def concat(lw: Lowering, node: Node) -> None:
    y = node.outputs[0]
    rank = len(lw.shape(y))
    ins = [i for i in node.inputs if i and np.prod(lw.shape(i) if not lw.is_const(i) else lw.g.consts[i].shape)]
    layout = common_layout(lw, ins, rank)
    out = lw.out(y, layout)
    qp = lw.qp.get(y) if lw.mode_int8 else None
    axis = stored_axis(int(node.attrs.get("axis", 0)), rank, layout)
    acts = [lw.get(i, layout) for i in ins if not lw.is_const(i) and len(lw.shape(i)) == rank]
    srcs = []
    for i in ins:
        k = node.inputs.index(i)
        idx = lw.operand(node, k, rank, layout, qp)
        if lw.mode_int8 and not lw.is_const(i):
            idx = _requantized(lw, idx, i, node)
        elif lw.is_const(i) and axis != 0 and acts and lw.b.tensors[idx].shape[0] == 1:
            idx = _batch_broadcast(lw, idx, acts[0], f"{node.name}/const{k}")  # a class token: one per sample
        srcs.append(idx)
    opts = lw.b.s.ConcatenationOptionsT()
    opts.axis = axis
    lw.op("CONCATENATION", srcs, [out], "ConcatenationOptions", opts)


def _batch_broadcast(lw: Lowering, const: int, like: int, name: str) -> int:
    """Constant ``const`` (batch 1) repeated to the run-time batch of tensor ``like``."""
    t = lw.b.tensors[const]
    qp = None
    if t.quantization is not None:
        from ..flatbuf import QParams

        qp = QParams(t.quantization.scale, t.quantization.zeroPoint)
    out = lw.b.tensor(name + "/batch", t.shape, "int8" if qp is not None else "float32", qp, dynamic_batch=True)
    lw.op("BROADCAST_TO", [const, lw.batch_shape(like, list(t.shape[1:]), name)], [out])
    return out


def _requantized(lw: Lowering, idx: int, name: str, node: Node) -> int:
    """``idx`` (int8 ``name``) with the parameters of ``node``'s output: itself if they match, else a QUANTIZE."""
    have, qp = lw.qparams(name), lw.qp[node.outputs[0]]
    if np.allclose(have.scale, qp.scale, rtol=1e-6, atol=0) and np.array_equal(have.zero_point, qp.zero_point):
        return idx
    out = lw.scratch(f"{name}/requant_{node.name}", lw.b.tensors[idx].shape, qp)
    lw.op("QUANTIZE", [idx], [out])
    return out


def _ints(lw: Lowering, node: Node, k: int, attr: str, default=None):
    if len(node.inputs) > k and node.inputs[k]:
        return [int(v) for v in np.asarray(lw.const_input(node, k)).reshape(-1)]
    v = node.attrs.get(attr, default)
    return None if v is None else [int(i) for i in v]


@lowers("Slice", tflite=("STRIDED_SLICE",), note="constant starts / ends / axes / steps (negative steps too)")
def slice_(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    shape = lw.shape(x)
    rank, layout = len(shape), lw.layout[x]
    starts, ends = _ints(lw, node, 1, "starts"), _ints(lw, node, 2, "ends")
    axes = _ints(lw, node, 3, "axes", list(range(len(starts))))
    steps = _ints(lw, node, 4, "steps", [1] * len(starts))
    stored = _nhwc(shape) if layout == "nhwc" else shape
    begin, end, strides = [0] * rank, list(stored), [1] * rank
    end_mask = begin_mask = (1 << rank) - 1  # axes not sliced: whole (the batch stays dynamic)
    for a, s0, e0, st in zip(axes, starts, ends, steps):
        dim = shape[a % rank]
        ax = stored_axis(a, rank, layout)
        begin_mask &= ~(1 << ax)
        end_mask &= ~(1 << ax)
        s0 = s0 + dim if s0 < 0 else s0
        e0 = e0 + dim if e0 < 0 else e0
        if st > 0:
            begin[ax], end[ax] = min(max(s0, 0), dim), min(max(e0, 0), dim)
        else:
            begin[ax], end[ax] = min(max(s0, 0), dim - 1), min(max(e0, -1), dim - 1)
            if end[ax] < 0:
                end_mask |= 1 << ax
        strides[ax] = st
    src = lw.get(x)
    out = lw.out(y, layout, same_as=x)
    opts = lw.b.s.StridedSliceOptionsT()
    opts.beginMask, opts.endMask = begin_mask, end_mask
    ins = [src, lw.int_const(y + "/begin", begin), lw.int_const(y + "/end", end), lw.int_const(y + "/strides", strides)]
    lw.op("STRIDED_SLICE", ins, [out], "StridedSliceOptions", opts)


@lowers("Split", tflite=("SPLIT_V",), note="sizes from the input, the attribute or the outputs' shapes")
def split(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    rank, layout = len(lw.shape(x)), lw.layout[x]
    axis = int(node.attrs.get("axis", 0)) % rank
    sizes = [lw.shape(o)[axis] for o in node.outputs]
    src = lw.get(x)
    outs = [lw.out(o, layout, same_as=x) for o in node.outputs]
    opts = lw.b.s.SplitVOptionsT()
    opts.numSplits = len(outs)
    ins = [src, lw.int_const(node.name + "/sizes", sizes),
           lw.int_const(node.name + "/axis", np.array(stored_axis(axis, rank, layout)))]
    lw.op("SPLIT_V", ins, outs, "SplitVOptions", opts)


@lowers("Gather", tflite=("GATHER",), note="constant indices on an activation; axis remapped")
def gather(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if lw.is_const(x):
        raise UnsupportedError(f"Gather node {node.name!r}: gathering from a constant table (an embedding) "
                               "is not supported", hint="compute the lookup outside the model")
    idx = np.asarray(lw.const_input(node, 1)).astype(np.int64)
    shape = lw.shape(x)
    rank = len(shape)
    axis = int(node.attrs.get("axis", 0)) % rank
    idx = np.where(idx < 0, idx + shape[axis], idx).astype(np.int32)
    layout = lw.layout[x] if idx.ndim == 1 else "onnx"
    src = lw.get(x, layout)
    out = lw.out(y, layout, same_as=x)
    opts = lw.b.s.GatherOptionsT()
    opts.axis = stored_axis(axis, rank, layout)
    lw.op("GATHER", [src, lw.int_const(y + "/indices", idx)], [out], "GatherOptions", opts)


@lowers("Pad", tflite=("PAD", "PADV2", "MIRROR_PAD"), note="constant (any value) or reflect; constant pads >= 0")
def pad(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    shape = lw.shape(x)
    rank, layout = len(shape), lw.layout[x]
    pads = _ints(lw, node, 1, "pads")
    axes = _ints(lw, node, 3, "axes", list(range(rank)))
    mode = node.attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if any(p < 0 for p in pads) or mode not in ("constant", "reflect"):
        raise UnsupportedError(f"Pad node {node.name!r}: mode {mode!r} with pads {pads} is not supported",
                               hint="use constant or reflect padding with non-negative pads")
    table = [[0, 0] for _ in range(rank)]
    n = len(axes)
    for k, a in enumerate(axes):
        table[stored_axis(a, rank, layout)] = [pads[k], pads[k + n]]
    value = float(np.asarray(lw.const_input(node, 2)).reshape(-1)[0]) if len(node.inputs) > 2 and node.inputs[2] \
        else float(node.attrs.get("value", 0.0))
    src, paddings = lw.get(x), lw.int_const(y + "/paddings", table)
    out = lw.out(y, layout, same_as=x)
    s = lw.b.s
    if mode == "reflect":
        opts = s.MirrorPadOptionsT()
        opts.mode = s.MirrorPadMode.REFLECT
        lw.op("MIRROR_PAD", [src, paddings], [out], "MirrorPadOptions", opts)
    elif value == 0.0:
        lw.op("PAD", [src, paddings], [out], "PadOptions", s.PadOptionsT())
    else:
        fill = lw.value_const(y + "/value", np.array(value, np.float32), lw.qp.get(y) if lw.mode_int8 else None)
        lw.op("PADV2", [src, paddings, fill], [out], "PadV2Options", s.PadV2OptionsT())


@lowers("Expand", tflite=("BROADCAST_TO",), note="to the inferred output shape")
def expand(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    rank = len(lw.shape(y))
    layout = common_layout(lw, [x], rank)
    out = lw.out(y, layout, same_as=None if lw.is_const(x) else x)
    src = lw.operand(node, 0, rank, layout, lw.qp.get(y) if lw.mode_int8 else None)
    shape = list(lw.b.tensors[out].shape)
    if lw.is_const(x) or len(lw.shape(x)) != rank:
        target = lw.int_const(y + "/shape", shape)
    else:  # keep the batch dynamic: [batch of x at run time, *rest]
        target = lw.batch_shape(src, shape[1:], y)
    lw.op("BROADCAST_TO", [src, target], [out])

