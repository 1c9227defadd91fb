"""One Runtime over TensorRT, ONNX Runtime and LiteRT.

    from jetsonkit.runtime import Runtime
    with Runtime.open("model.onnx", threads=2) as rt:        # .tflite -> LiteRT, .engine/.plan -> TensorRT
        print(rt.inputs, rt.outputs)                          # TensorInfo(name, shape, dtype)
        out = rt.infer(x)                                     # {output name: array}
        handle = rt.infer_async(x); ...; out = handle.wait()  # same handle type on every backend

Backends are imported when a model is opened, so ``import jetsonkit.runtime`` needs numpy alone.
"""

from __future__ import annotations

from .base import BACKENDS, SUFFIXES, Runtime, RuntimeClosedError, backend_for
from .handle import InferHandle
from .tensors import TensorInfo, check_feed, concrete_shape

__all__ = ["Runtime", "RuntimeClosedError", "InferHandle", "TensorInfo", "BACKENDS", "SUFFIXES", "backend_for",
           "check_feed", "concrete_shape"]
