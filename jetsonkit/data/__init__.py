"""Data for every stage: one :class:`DataSpec` (parser + readers), model-sized batches, detection folders.

    spec = DataSpec.parse("imgs/")                          # or mnist:train:1000, x.npy, eval.npz, samples/, coco/
    for batch in spec.batches(inputs):                      # calibration: {input name: array}, model-sized, checked
        ...
    x, y = spec.load_xy()                                   # evaluation / training: arrays (.npy memory-mapped)
    boxes = DataSpec.parse("coco/").detections()            # COCO / YOLO ground truth (jetsonkit.data.detection)

Image folders go through the runtime's pre-processing (:class:`jetsonkit.preprocess.PreprocessSpec`). numpy only
at import (Pillow when images are read). See docs/data.md.
"""

from __future__ import annotations

import os

from .batching import DEFAULT_BATCH_SIZE, DataStream, model_batch
from .images import IMAGE_SUFFIXES
from .inputs import InputInfo, check_batch, onnx_inputs
from .spec import KINDS, MNIST_SPLITS, DataSpec

__all__ = ["DataSpec", "DataStream", "InputInfo", "check_batch", "onnx_inputs", "model_batch", "load_xy", "for_model",
           "IMAGE_SUFFIXES", "KINDS", "MNIST_SPLITS", "DEFAULT_BATCH_SIZE"]


def load_xy(data, inputs=None, *, preprocess=None, max_samples=None):
    """``DataSpec.parse(data, preprocess=preprocess).load_xy(inputs, max_samples=max_samples)``."""
    return DataSpec.parse(data, preprocess=preprocess).load_xy(inputs, max_samples=max_samples)


def for_model(data, model, preprocess=None) -> DataSpec:
    """``data`` parsed for ``model`` (an ONNX path or ModelProto): image data without a ``preprocess`` spec takes
    the one stored in the model, so calibration and evaluation decode images the same way."""
    spec = DataSpec.parse(data, preprocess=preprocess)
    if spec.preprocess is not None or spec.kind not in ("images", "coco", "yolo"):
        return spec
    onnx_file = isinstance(model, (str, os.PathLike)) and str(model).endswith(".onnx") and os.path.isfile(model)
    if onnx_file or hasattr(model, "graph"):
        from ..preprocess.metadata import from_onnx

        stored = from_onnx(model)
        if stored is not None:
            return DataSpec.parse(spec, preprocess=stored)
    return spec
