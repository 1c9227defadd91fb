"""Spatial ops on NHWC tensors: convolutions, pooling, resize.

Attribute semantics are from the ONNX operator specification (onnx/docs/Operators.md); TFLite options from the
TFLite schema. TF's SAME padding puts the odd pixel after (pad_before = total // 2), which is how we recognise it;
any other explicit padding becomes a PAD before the op (value 0, or -inf-like lowest value before MaxPool).
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import UnsupportedError
from ..graph import Node
from ..lower import Lowering, _nhwc
from ..registry import lowers


def _fused(lw: Lowering, node: Node) -> int:
    return getattr(lw.b.s.ActivationFunctionType, node.fused)


def _padding(node: Node, in_hw, kernel, strides, dilations) -> str | tuple:
    """'VALID', 'SAME', or explicit ((top, bottom), (left, right)) pads for ``node``."""
    auto = node.attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto == "VALID":
        return "VALID"
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    same = _same_pads(in_hw, kernel, strides, dilations)
    if auto == "SAME_UPPER":
        return "SAME"
    if auto == "SAME_LOWER":  # the odd pixel before: explicit pads
        return ((same[0][1], same[0][0]), (same[1][1], same[1][0]))
    if not any(pads):
        return "VALID"
    if [same[0][0], same[1][0], same[0][1], same[1][1]] == pads:
        return "SAME"
    return ((pads[0], pads[2]), (pads[1], pads[3]))


def _same_pads(in_hw, kernel, strides, dilations) -> tuple:
    """TF SAME padding ((top, bottom), (left, right)): the odd pixel after."""
    same = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        same.append((total // 2, total - total // 2))
    return tuple(same)


def _spatial(node: Node):
    return list(node.attrs.get("strides", [1, 1])), list(node.attrs.get("dilations", [1, 1]))


def explicit_pad(lw: Lowering, node: Node, x: str, pads, value: float = 0.0) -> int:
    """``x`` (NHWC) padded by ((top, bottom), (left, right)) with ``value``; int8 keeps ``x``'s parameters."""
    n, c, h, w = lw.shape(x)
    (t, bt), (left, r) = pads
    qp = lw.qparams(x) if lw.mode_int8 else None
    out = lw.scratch(node.name + "/pad", (n, h + t + bt, w + left + r, c), qp)
    paddings = lw.int_const(node.name + "/paddings", [[0, 0], [t, bt], [left, r], [0, 0]])
    if value == 0.0:
        lw.op("PAD", [lw.get(x, "nhwc"), paddings], [out], "PadOptions", lw.b.s.PadOptionsT())
        return out
    if lw.mode_int8:
        fill = lw.b.tensor(node.name + "/padvalue", (), "int8", qp, data=np.array(-128, np.int8))
    else:
        fill = lw.b.tensor(node.name + "/padvalue", (), "float32", data=np.array(value, np.float32))
    lw.op("PADV2", [lw.get(x, "nhwc"), paddings, fill], [out], "PadV2Options", lw.b.s.PadV2OptionsT())
    return out


@lowers("Conv", tflite=("CONV_2D", "DEPTHWISE_CONV_2D", "PAD"),
        note="2-D; BatchNormalization folded in, Relu / Clip(0, 6) fused; group 1, depthwise, or grouped "
             "(CONV_2D with in/groups filter channels); explicit pads other than TF-SAME become PAD")
def conv(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    w = lw.const_input(node, 1).astype(np.float32)
    bias = lw.const_input(node, 2).astype(np.float32) if len(node.inputs) > 2 and node.inputs[2] else \
        np.zeros(w.shape[0], np.float32)
    if w.ndim != 4:
        raise UnsupportedError(f"Conv node {node.name!r} is {w.ndim - 2}-D; only 2-D convolutions lower to TFLite",
                               hint="reshape to a 2-D convolution (e.g. kernel k x 1) before export")
    shape = lw.shape(x)
    strides, dil = _spatial(node)
    pad = _padding(node, shape[2:], w.shape[2:], strides, dil)
    xin = explicit_pad(lw, node, x, pad) if isinstance(pad, tuple) else lw.get(x, "nhwc")
    pad = "VALID" if isinstance(pad, tuple) else pad
    group, c_in, c_out = int(node.attrs.get("group", 1)), shape[1], w.shape[0]
    s = lw.b.s
    if group == c_in and w.shape[1] == 1 and group > 1:
        wt, bt = lw.weights(node, w.transpose(1, 2, 3, 0), bias, axis=3)
        opts = s.DepthwiseConv2DOptionsT()
        opts.depthMultiplier = c_out // c_in
        code, otype = "DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions"
    else:  # group 1, or grouped: TFLite CONV_2D infers the groups from the filter's input channels
        wt, bt = lw.weights(node, w.transpose(0, 2, 3, 1), bias, axis=0)
        opts = s.Conv2DOptionsT()
        code, otype = "CONV_2D", "Conv2DOptions"
    opts.padding = getattr(s.Padding, pad)
    opts.strideH, opts.strideW = strides
    opts.dilationHFactor, opts.dilationWFactor = dil
    opts.fusedActivationFunction = _fused(lw, node)
    out = lw.out(node.outputs[0], "nhwc")
    lw.op(code, [xin, wt, bt], [out], otype, opts)


@lowers("ConvTranspose", tflite=("TRANSPOSE_CONV", "STRIDED_SLICE"),
        note="2-D, group 1, no dilation; pads crop the VALID result with a STRIDED_SLICE")
def conv_transpose(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    w = lw.const_input(node, 1).astype(np.float32)  # [C_in, C_out, kh, kw]
    strides, dil = _spatial(node)
    if w.ndim != 4 or int(node.attrs.get("group", 1)) != 1 or any(d != 1 for d in dil):
        raise UnsupportedError(f"ConvTranspose node {node.name!r}: only 2-D, group 1, undilated transposed "
                               "convolutions lower to TFLite", hint="use Resize + Conv instead")
    bias = lw.const_input(node, 2).astype(np.float32) if len(node.inputs) > 2 and node.inputs[2] else \
        np.zeros(w.shape[1], np.float32)
    n, _, h, wd = lw.shape(x)
    kh, kw = w.shape[2:]
    full = (n, (h - 1) * strides[0] + kh, (wd - 1) * strides[1] + kw, w.shape[1])
    _, c, oh, ow = lw.shape(y)
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    if pads[0] + oh > full[1] or pads[1] + ow > full[2]:
        raise UnsupportedError(f"ConvTranspose node {node.name!r}: output_padding beyond the kernel's reach "
                               "is not supported", hint="drop output_padding or pad after the layer")
    wt, bt = lw.weights(node, w.transpose(1, 2, 3, 0), bias, axis=0)
    s = lw.b.s
    opts = s.TransposeConvOptionsT()
    opts.padding = s.Padding.VALID
    opts.strideH, opts.strideW = strides
    opts.fusedActivationFunction = _fused(lw, node)
    xin = lw.get(x, "nhwc")
    shape_t = lw.batch_shape(xin, full[1:], node.name + "/output")
    if (oh, ow) == full[1:3]:
        out = lw.out(y, "nhwc")
        lw.op("TRANSPOSE_CONV", [shape_t, wt, xin, bt], [out], "TransposeConvOptions", opts)
        return
    qp = lw.qparams(y) if lw.mode_int8 else None
    mid = lw.scratch(node.name + "/full", full, qp)
    lw.op("TRANSPOSE_CONV", [shape_t, wt, xin, bt], [mid], "TransposeConvOptions", opts)
    out = lw.out(y, "nhwc", qp=qp)
    strided_slice(lw, node.name, mid, out, [0, pads[0], pads[1], 0], [n, pads[0] + oh, pads[1] + ow, c],
                  [1, 1, 1, 1])


def strided_slice(lw: Lowering, name: str, src: int, out: int, begin, end, strides) -> None:
    opts = lw.b.s.StridedSliceOptionsT()
    opts.beginMask = opts.endMask = 1  # the whole batch, whatever its size
    ins = [src, lw.int_const(name + "/begin", begin), lw.int_const(name + "/end", end),
           lw.int_const(name + "/strides", strides)]
    lw.op("STRIDED_SLICE", ins, [out], "StridedSliceOptions", opts)


@lowers("MaxPool", "AveragePool", tflite={"MaxPool": ("MAX_POOL_2D", "PADV2"), "AveragePool": ("AVERAGE_POOL_2D", "PAD")},
        note={"MaxPool": "2-D; pads other than TF-SAME (ResNet's 3x3/2, pads 1; asymmetric) become a PADV2 with the "
                         "lowest value; no ceil_mode",
              "AveragePool": "2-D; pads with count_include_pad=1 become a PAD; with count_include_pad=0 only "
                             "TF-SAME; no ceil_mode"})
def pool(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    kernel = list(node.attrs["kernel_shape"])
    strides = list(node.attrs.get("strides", [1, 1]))
    if len(kernel) != 2 or any(d != 1 for d in node.attrs.get("dilations", [1, 1])):
        raise UnsupportedError(f"{node.op} node {node.name!r}: only 2-D pooling without dilation lowers to TFLite")
    pad = _padding(node, lw.shape(x)[2:], kernel, strides, [1, 1])
    include = bool(node.attrs.get("count_include_pad", 0))
    avg = node.op == "AveragePool"
    if avg and pad == "SAME" and include:  # TFLite's SAME average excludes the padding: pad explicitly
        pad = _same_pads(lw.shape(x)[2:], kernel, strides, [1, 1])
    if isinstance(pad, tuple) and avg and not include:
        raise UnsupportedError(f"AveragePool node {node.name!r}: pads {node.attrs.get('pads')} with "
                               "count_include_pad=0 have no TFLite equivalent",
                               hint="use count_include_pad=True or TF-style 'same' pooling")
    _, h, w, _ = _nhwc(lw.shape(x))
    if isinstance(pad, tuple):
        xin = explicit_pad(lw, node, x, pad, value=0.0 if avg else float(np.finfo(np.float32).min))
        h, w = h + sum(pad[0]), w + sum(pad[1])
        pad = "VALID"
    else:
        xin = lw.get(x, "nhwc")
    expect = _nhwc(lw.shape(y))
    got = [(v - k) // st + 1 if pad == "VALID" else math.ceil(v / st) for v, k, st in zip((h, w), kernel, strides)]
    if tuple(got) != tuple(expect[1:3]):
        raise UnsupportedError(f"{node.op} node {node.name!r}: output {expect[1:3]} needs ceil_mode, which TFLite "
                               "pooling lacks", hint="export with ceil_mode=False")
    s = lw.b.s
    opts = s.Pool2DOptionsT()
    opts.padding = getattr(s.Padding, pad)
    opts.strideH, opts.strideW = strides
    opts.filterHeight, opts.filterWidth = kernel
    out = lw.out(y, "nhwc", same_as=x)  # int8 pooling keeps the input's scale and zero point
    lw.op("MAX_POOL_2D" if node.op == "MaxPool" else "AVERAGE_POOL_2D", [xin], [out], "Pool2DOptions", opts)


@lowers("GlobalAveragePool", "GlobalMaxPool", tflite={"GlobalAveragePool": ("MEAN",), "GlobalMaxPool": ("REDUCE_MAX",)},
        note="over H, W, keepdims")
def global_pool(lw: Lowering, node: Node) -> None:
    x = node.inputs[0]
    layout = lw.layout[x]
    axes = [1, 2] if layout == "nhwc" else list(range(2, len(lw.shape(x))))
    opts = lw.b.s.ReducerOptionsT()
    opts.keepDims = True
    avg = node.op == "GlobalAveragePool"
    out = lw.out(node.outputs[0], layout, same_as=None if avg else x)
    lw.op("MEAN" if avg else "REDUCE_MAX", [lw.get(x), lw.int_const(node.name + "/axes", axes)], [out],
          "ReducerOptions", opts)


def _resize_mode(lw: Lowering, node: Node) -> tuple[str, bool, bool]:
    """(TFLite op, align_corners, half_pixel_centers) for a Resize / Upsample node, or an error."""
    def attr(key, default):
        v = node.attrs.get(key, default)
        return v.decode() if isinstance(v, bytes) else v

    mode = attr("mode", "nearest")
    ctm = attr("coordinate_transformation_mode", "half_pixel" if node.op == "Resize" else "asymmetric")
    nearest = attr("nearest_mode", "round_prefer_floor")
    if mode == "nearest":
        if ctm == "asymmetric" and nearest == "floor":
            return "RESIZE_NEAREST_NEIGHBOR", False, False
        if ctm == "align_corners" and nearest in ("round_prefer_ceil", "round_prefer_floor"):
            return "RESIZE_NEAREST_NEIGHBOR", True, False
        if ctm == "tf_half_pixel_for_nn" and nearest == "floor":
            return "RESIZE_NEAREST_NEIGHBOR", False, True
    elif mode == "linear":
        if ctm in ("half_pixel", "pytorch_half_pixel"):
            return "RESIZE_BILINEAR", False, True
        if ctm == "asymmetric":
            return "RESIZE_BILINEAR", False, False
        if ctm == "align_corners":
            return "RESIZE_BILINEAR", True, False
    raise UnsupportedError(f"{node.op} node {node.name!r}: mode {mode!r} with coordinate transformation {ctm!r}"
                           f"{' and nearest_mode ' + repr(nearest) if mode == 'nearest' else ''} has no TFLite "
                           "resize", hint="use nearest (asymmetric, floor: PyTorch's default) or bilinear "
                                          "(half_pixel, asymmetric or align_corners)")


@lowers("Resize", "Upsample", tflite=("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"),
        note="4-D over H, W; nearest (asymmetric + floor, align_corners, tf_half_pixel_for_nn) or linear "
             "(half_pixel, pytorch_half_pixel, asymmetric, align_corners); output size from shape inference")
def resize(lw: Lowering, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = lw.shape(x), lw.shape(y)
    if len(xs) != 4 or tuple(xs[:2]) != tuple(ys[:2]):
        raise UnsupportedError(f"{node.op} node {node.name!r}: only resizing H and W of a 4-D tensor lowers to "
                               "TFLite", hint="resize N / C with Reshape + Gather instead")
    code, align, half = _resize_mode(lw, node)
    s = lw.b.s
    if code == "RESIZE_BILINEAR":
        opts, otype = s.ResizeBilinearOptionsT(), "ResizeBilinearOptions"
    else:
        opts, otype = s.ResizeNearestNeighborOptionsT(), "ResizeNearestNeighborOptions"
    opts.alignCorners, opts.halfPixelCenters = align, half
    out = lw.out(y, "nhwc", same_as=x)
    lw.op(code, [lw.get(x, "nhwc"), lw.int_const(node.name + "/size", list(ys[2:]))], [out], otype, opts)
