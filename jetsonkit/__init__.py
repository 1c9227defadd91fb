"""jetsonkit: take a trained PyTorch model to the edge, and measure every artifact on the way.

``import jetsonkit`` needs numpy alone; every heavy package (torch, onnx, onnxruntime, tensorrt, pycuda, LiteRT)
is imported when the function that needs it is first called. Public names are resolved lazily from ``_LAZY``.
"""

from __future__ import annotations

from ._lazy import lazy_names

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "errors": "jetsonkit.errors",
    "sparsity": "jetsonkit.sparsity",
    "prune_2to4": "jetsonkit.sparsity",
    "quantize_qdq": "jetsonkit.quantize",
    "PrecisionPlan": "jetsonkit.quantize",
    "search_mixed_precision": "jetsonkit.quantize",
    "qat": "jetsonkit.qat",
    "top1": "jetsonkit.evaluate",
    "agreement": "jetsonkit.evaluate",
    "build_engine": "jetsonkit.engine",
    "BuildSettings": "jetsonkit.engine",
    "convert_tflite": "jetsonkit.convert",
    "export_onnx": "jetsonkit.export",
    "ExportResult": "jetsonkit.export",
    "load_model": "jetsonkit.modelspec",
    "InputSpec": "jetsonkit.specs",
    "Preprocess": "jetsonkit.preprocess",
    "PreprocessSpec": "jetsonkit.preprocess",
    "DataSpec": "jetsonkit.data",
    "Runtime": "jetsonkit.runtime",
    "compress": "jetsonkit.pipeline",
    "load_recipe": "jetsonkit.pipeline",
    "render_report": "jetsonkit.pipeline",
}

__all__ = ["__version__", *_LAZY]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
