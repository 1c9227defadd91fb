"""Write a TFLite flatbuffer from tensors, buffers and operators.

Uses the object API of the TFLite schema (``schema_py_generated`` that ships inside ``ai-edge-litert``; the schema
itself is tensorflow/compiler/mlir/lite/schema/schema.fbs) and the ``flatbuffers`` builder. Conventions taken from
the schema: buffer 0 is always the empty buffer, file identifier ``TFL3``, model ``version`` 3; a tensor's
``shape_signature`` holds -1 for dynamic dimensions (our batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._deps import require

_NP_TO_TFL = {"float32": "FLOAT32", "float16": "FLOAT16", "int32": "INT32", "int8": "INT8", "int64": "INT64"}


def schema():
    """The TFLite schema module (object API) shipped with ai-edge-litert."""
    return require("ai_edge_litert.schema_py_generated", purpose="writing .tflite files")


@dataclass
class QParams:
    """Affine int8 quantization of a tensor: real = scale * (q - zero_point); per channel along ``axis``."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @classmethod
    def per_tensor(cls, scale: float, zero_point: int = 0) -> "QParams":
        return cls(np.array([scale], np.float32), np.array([zero_point], np.int64))


@dataclass
class TfliteBuilder:
    """Accumulates one subgraph; :meth:`to_bytes` serialises the model."""

    tensors: list = field(default_factory=list)
    buffers: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    opcodes: dict = field(default_factory=dict)  # (builtin code, version) -> index
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # name -> bytes
    fixed_batch: bool = False  # True: ``dynamic_batch`` is ignored (a graph whose ops handle batch 1 only)

    def __post_init__(self):
        self.s = schema()
        self.buffers.append(self.s.BufferT())  # buffer 0: the empty sentinel

    def tensor(self, name: str, shape, dtype: str, qp: QParams | None = None, data: np.ndarray | None = None,
               dynamic_batch: bool = False) -> int:
        """Add a tensor (a constant when ``data`` is given) and return its index."""
        s = self.s
        t = s.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32)
        if dynamic_batch and len(shape) and not self.fixed_batch:
            sig = np.asarray(shape, np.int32).copy()
            sig[0] = -1
            t.shapeSignature = sig
        t.type = getattr(s.TensorType, _NP_TO_TFL[dtype])
        if qp is not None:
            q = s.QuantizationParametersT()
            q.scale = np.asarray(qp.scale, np.float32)
            q.zeroPoint = np.asarray(qp.zero_point, np.int64)
            q.quantizedDimension = int(qp.axis)
            t.quantization = q
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code: str, inputs, outputs, options_type: str | None = None, options=None, version: int = 1) -> None:
        """Append an operator ``code`` (a BuiltinOperator name) reading ``inputs`` and writing ``outputs``."""
        s = self.s
        builtin = getattr(s.BuiltinOperator, code)
        key = (builtin, version)
        if key not in self.opcodes:
            self.opcodes[key] = len(self.opcodes)
        o = s.OperatorT()
        o.opcodeIndex = self.opcodes[key]
        o.inputs = np.asarray(inputs, np.int32)
        o.outputs = np.asarray(outputs, np.int32)
        if options_type:
            o.builtinOptionsType = getattr(s.BuiltinOptions, options_type)
            o.builtinOptions = options
        self.operators.append(o)

    def to_bytes(self, description: str = "jetsonkit") -> bytes:
        s = self.s
        flatbuffers = require("flatbuffers", purpose="writing .tflite files")
        codes = []
        for (builtin, version), _ in sorted(self.opcodes.items(), key=lambda kv: kv[1]):
            c = s.OperatorCodeT()
            c.builtinCode = builtin
            c.deprecatedBuiltinCode = min(builtin, 127)  # schema: placeholder 127 for codes above 127
            c.version = version
            codes.append(c)
        g = s.SubGraphT()
        g.tensors, g.operators, g.name = self.tensors, self.operators, "main"
        g.inputs, g.outputs = np.asarray(self.inputs, np.int32), np.asarray(self.outputs, np.int32)
        m = s.ModelT()
        m.version, m.description, m.operatorCodes, m.subgraphs = 3, description, codes, [g]
        m.buffers = list(self.buffers)
        m.metadata = []
        for name, payload in self.metadata.items():
            buf = s.BufferT()
            buf.data = np.frombuffer(payload, np.uint8)
            m.buffers.append(buf)
            md = s.MetadataT()
            md.name, md.buffer = name, len(m.buffers) - 1
            m.metadata.append(md)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())
