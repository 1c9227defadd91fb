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

from .batching import DEFAULT_BATCH_SIZE, DataStream, model_batch
from .images import IMAGE_SUFFIXES
from .inputs import InputInfo, check_batch, onnx_inputs
from .spec import KINDS, MNIST_SPLITS, DataSpec

__all__ = ["DataSpec", "DataStream", "InputInfo", "check_batch", "onnx_inputs", "model_batch", "load_xy",
           "IMAGE_SUFFIXES", "KINDS", "MNIST_SPLITS", "DEFAULT_BATCH_SIZE"]


def load_xy(data, inputs=None, *, preprocess=None, max_samples=None):
    """``DataSpec.parse(data, preprocess=preprocess).load_xy(inputs, max_samples=max_samples)``."""
    return DataSpec.parse(data, preprocess=preprocess).load_xy(inputs, max_samples=max_samples)
