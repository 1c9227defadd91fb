"""Write small, real .tflite files from numpy weights with LiteRT's own flatbuffer schema.

This is not a converter: it lays out a few builtin ops (CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED) with
``ai_edge_litert.schema_py_generated`` (the TFLite schema's generated object API) so the runtime's tests and
benchmark have .tflite models that LiteRT really runs, on any machine with ``ai-edge-litert`` and no converter
stack. The real PyTorch -> TFLite path is ``jetsonkit.convert``. Layouts follow the TFLite schema
(tensorflow/lite/schema/schema.fbs): NHWC activations, conv weights OHWI, fully-connected weights [out, in].
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jetsonkit._deps import require
from jetsonkit._io import write_bytes_atomic

_TYPES = {np.dtype(np.float32): "FLOAT32", np.dtype(np.int8): "INT8", np.dtype(np.int32): "INT32"}


class _GraphWriter:
    """Accumulates tensors, buffers and operators of one subgraph."""

    def __init__(self) -> None:
        self.fb = require("ai_edge_litert.schema_py_generated", purpose="writing .tflite test models")
        empty = self.fb.BufferT()
        self.buffers: list[Any] = [empty]  # buffer 0 is the schema's empty sentinel
        self.tensors: list[Any] = []
        self.operators: list[Any] = []
        self.opcodes: dict[int, int] = {}

    def tensor(self, name: str, shape, dtype, data: np.ndarray | None = None, signature=None,
               quant: tuple[float, int] | None = None) -> int:
        fb = self.fb
        t = fb.TensorT()
        t.name, t.shape = name, list(shape)
        t.type = getattr(fb.TensorType, _TYPES[np.dtype(dtype)])
        if signature is not None:
            t.shapeSignature = list(signature)
        if quant is not None:
            q = fb.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
            t.quantization = q
        buf = fb.BufferT()
        if data is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), dtype=np.uint8)
        self.buffers.append(buf)
        t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code_name: str, inputs: list[int], outputs: list[int], options_name: str, options: Any) -> None:
        fb = self.fb
        code = getattr(fb.BuiltinOperator, code_name)
        if code not in self.opcodes:
            self.opcodes[code] = len(self.opcodes)
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.opcodes[code], inputs, outputs
        o.builtinOptionsType = getattr(fb.BuiltinOptions, options_name)
        o.builtinOptions = options
        self.operators.append(o)

    def to_bytes(self, inputs: list[int], outputs: list[int]) -> bytes:
        fb = self.fb
        flat = require("ai_edge_litert.tools.flatbuffer_utils", purpose="writing .tflite test models")
        sub = fb.SubGraphT()
        sub.tensors, sub.inputs, sub.outputs, sub.operators, sub.name = \
            self.tensors, inputs, outputs, self.operators, "main"
        model = fb.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], self.buffers
        model.description = "support.tflite_writer"
        codes = []
        for code in sorted(self.opcodes, key=self.opcodes.get):
            c = fb.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
            codes.append(c)
        model.operatorCodes = codes
        return bytes(flat.convert_object_to_bytearray(model))


def _conv(g: _GraphWriter, x: int, w: np.ndarray, b: np.ndarray, shape_out, name: str) -> int:
    fb = g.fb
    wt = g.tensor(f"{name}/weight", w.shape, np.float32, w)
    bt = g.tensor(f"{name}/bias", b.shape, np.float32, b)
    y = g.tensor(name, shape_out, np.float32, signature=[-1, *shape_out[1:]])
    opts = fb.Conv2DOptionsT()
    opts.padding, opts.strideW, opts.strideH = fb.Padding.SAME, 1, 1
    opts.dilationWFactor = opts.dilationHFactor = 1
    opts.fusedActivationFunction = fb.ActivationFunctionType.RELU
    g.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", opts)
    return y


def _maxpool(g: _GraphWriter, x: int, shape_out, name: str) -> int:
    fb = g.fb
    y = g.tensor(name, shape_out, np.float32, signature=[-1, *shape_out[1:]])
    opts = fb.Pool2DOptionsT()
    opts.padding, opts.strideW, opts.strideH, opts.filterWidth, opts.filterHeight = fb.Padding.VALID, 2, 2, 2, 2
    g.op("MAX_POOL_2D", [x], [y], "Pool2DOptions", opts)
    return y


def _dense(g: _GraphWriter, x: int, w: np.ndarray, b: np.ndarray, name: str, relu: bool) -> int:
    fb = g.fb
    wt = g.tensor(f"{name}/weight", w.shape, np.float32, w)
    bt = g.tensor(f"{name}/bias", b.shape, np.float32, b)
    y = g.tensor(name, [1, w.shape[0]], np.float32, signature=[-1, w.shape[0]])
    opts = fb.FullyConnectedOptionsT()
    opts.fusedActivationFunction = fb.ActivationFunctionType.RELU if relu else fb.ActivationFunctionType.NONE
    g.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", opts)
    return y


def mnist_cnn_tflite(state: dict[str, np.ndarray], path: str | os.PathLike) -> None:
    """The bundled MNIST CNN (Conv32-pool-Conv64-pool-FC128-FC10) as a float32 NHWC .tflite at ``path``.

    ``state`` is the model's state_dict as numpy arrays (``features.0.weight`` ... ``classifier.2.bias``).
    Input ``input`` [N, 28, 28, 1] (batch resizable), output ``logits`` [N, 10].
    """
    g = _GraphWriter()
    fb = g.fb
    x = g.tensor("input", [1, 28, 28, 1], np.float32, signature=[-1, 28, 28, 1])
    ohwi = lambda key: state[key].transpose(0, 2, 3, 1)  # noqa: E731 - torch OIHW -> TFLite OHWI
    h = _conv(g, x, ohwi("features.0.weight"), state["features.0.bias"], [1, 28, 28, 32], "conv1")
    h = _maxpool(g, h, [1, 14, 14, 32], "pool1")
    h = _conv(g, h, ohwi("features.3.weight"), state["features.3.bias"], [1, 14, 14, 64], "conv2")
    h = _maxpool(g, h, [1, 7, 7, 64], "pool2")
    new_shape = np.array([-1, 7 * 7 * 64], dtype=np.int32)
    shape_t = g.tensor("flatten/shape", [2], np.int32, new_shape)
    flat = g.tensor("flatten", [1, 7 * 7 * 64], np.float32, signature=[-1, 7 * 7 * 64])
    opts = fb.ReshapeOptionsT()
    opts.newShape = new_shape.tolist()
    g.op("RESHAPE", [h, shape_t], [flat], "ReshapeOptions", opts)
    # torch flattens (C, H, W); NHWC flattens (H, W, C): permute the first dense layer's columns to match
    w1 = state["classifier.0.weight"].reshape(-1, 64, 7, 7).transpose(0, 2, 3, 1).reshape(-1, 7 * 7 * 64)
    h = _dense(g, flat, np.ascontiguousarray(w1), state["classifier.0.bias"], "fc1", relu=True)
    y = _dense(g, h, state["classifier.2.weight"], state["classifier.2.bias"], "logits", relu=False)
    write_bytes_atomic(path, g.to_bytes([x], [y]))


def int8_dense_tflite(weight: np.ndarray, bias: np.ndarray, path: str | os.PathLike, *,
                      in_quant: tuple[float, int], out_quant: tuple[float, int]) -> tuple[float, np.ndarray]:
    """A one-layer int8 model (int8 input and output, as full-integer TFLite models have) at ``path``.

    Weights are quantized per tensor, symmetric (scale = max|w| / 127); the bias to int32 with scale
    in_scale * w_scale, as the TFLite int8 spec requires. Returns (weight scale, int8 weights) for references.
    """
    g = _GraphWriter()
    fb = g.fb
    w_scale = float(np.abs(weight).max()) / 127.0
    w_q = np.clip(np.round(weight / w_scale), -127, 127).astype(np.int8)
    b_q = np.round(bias / (in_quant[0] * w_scale)).astype(np.int32)
    x = g.tensor("input", [1, weight.shape[1]], np.int8, quant=in_quant)
    wt = g.tensor("dense/weight", w_q.shape, np.int8, w_q, quant=(w_scale, 0))
    bt = g.tensor("dense/bias", b_q.shape, np.int32, b_q, quant=(in_quant[0] * w_scale, 0))
    y = g.tensor("output", [1, weight.shape[0]], np.int8, quant=out_quant)
    opts = fb.FullyConnectedOptionsT()
    opts.fusedActivationFunction = fb.ActivationFunctionType.NONE
    g.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", opts)
    write_bytes_atomic(path, g.to_bytes([x], [y]))
    return w_scale, w_q
