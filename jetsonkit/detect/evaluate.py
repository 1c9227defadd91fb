"""Detection evaluation: frames -> letterboxed input -> model -> NMS -> boxes in frame pixels -> COCO mAP.

Data specs: ``mnist_det:<train|test>[:count]`` (the generated MNIST detection set, seed 0; default count 500), a
COCO folder (``annotations.json`` + images) or a YOLO folder (``images/`` + ``labels/``), both read by
:meth:`jetsonkit.data.DataSpec.detections`. Every frame
goes through one :class:`~jetsonkit.preprocess.PreprocessSpec` (default :func:`letterbox_spec`: letterbox, pad 114,
RGB, x / 255, the pre-processing the bundled detector and YOLOv8 exports take), and every box comes back to frame
pixels through the spec's geometry,
so ground truth stays in the frame's own coordinates. Calibration data for a detector comes from the same spec
(:func:`calibration_batch`), so calibration, evaluation and the camera path see the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import DataError
from .metrics import box_agreement, coco_map
from .postprocess import CONF, IOU, MAX_DET, Detections, postprocess



def letterbox_spec(size: tuple[int, int]):
    """The detector pre-processing at ``size`` (height, width): letterbox, pad 114, RGB, x / 255, NCHW float32."""
    from ..preprocess import PreprocessSpec

    return PreprocessSpec(size=tuple(size), resize="letterbox", pad=114, color="rgb", scale=1 / 255)


@dataclass
class DetectionData:
    """Frames (HWC uint8 RGB) and their COCO ground truth (boxes in frame pixels)."""

    frames: list[np.ndarray]
    gt: dict
    name: str

    def __len__(self) -> int:
        return len(self.frames)


def load_detection_data(spec: str, base=None) -> DetectionData:
    """``mnist_det:<split>[:count]``, a COCO or a YOLO folder, through :class:`jetsonkit.data.DataSpec`."""
    from ..data import DataSpec

    frames, gt = DataSpec.parse(spec, base=base).frames()  # data without boxes: a DataError saying so
    return DetectionData(frames, gt, spec)


def _input_shape(model: Any) -> list:
    if hasattr(model, "inputs"):
        return list(model.inputs[0].shape)
    from ..runtime import Runtime

    with Runtime.open(model) as rt:
        return list(rt.inputs[0].shape)


def _channels_first(shape: list) -> bool:
    """NCHW unless the channel count (1 or 3) sits last and not second (the rule of jetsonkit.data.images)."""
    return not (shape[3] in (1, 3) and shape[1] not in (1, 3))


def input_size(model: Any, default: int | None = None) -> tuple[int, int]:
    """(height, width) of the model's image input; ``default`` when its H/W are dynamic."""
    shape = _input_shape(model)
    if len(shape) != 4:
        raise DataError(f"{model}: input shape {list(shape)} is not an image batch", hint="pass a detector")
    hw = shape[2:] if _channels_first(shape) else shape[1:3]
    if all(isinstance(d, int) and d > 0 for d in hw):
        return int(hw[0]), int(hw[1])
    if default is None:
        raise DataError(f"{model}: input height/width are dynamic ({list(shape)})", hint="pass --imgsz")
    return default, default


def letterboxed(frames: list[np.ndarray], size: tuple[int, int], spec=None):
    """NCHW float32 batch of the pre-processed frames and each frame's geometry (for boxes back to the frame)."""
    spec = (spec or letterbox_spec(size)).with_size(*size)
    x = np.concatenate([spec.apply(f) for f in frames]).astype(np.float32)
    return x, [spec.geometry(f.shape[1], f.shape[0]) for f in frames]


def calibration_batch(data: DetectionData, size: tuple[int, int], spec=None) -> np.ndarray:
    """Calibration samples for a detector: the frames through the evaluation's own pre-processing."""
    return letterboxed(data.frames, size, spec)[0]


def detect(model: Any, data: DetectionData, size: tuple[int, int], conf: float = CONF, iou: float = IOU,
           max_det: int = MAX_DET, spec=None) -> list[Detections]:
    """Each frame's detections in frame pixels (``spec``: a PreprocessSpec, default :func:`letterbox_spec`)."""
    from ..evaluate import fit_input_layout, predict

    if spec is None:
        shape = _input_shape(model)
        if len(shape) == 4 and (shape[1] if _channels_first(shape) else shape[3]) == 1:
            spec = replace(letterbox_spec(size), color="gray")  # a one-channel detector takes luma
    x, geos = letterboxed(data.frames, size, spec)
    x, _ = fit_input_layout(model, x)
    num_classes = len(data.gt["categories"])
    dets = postprocess(predict(model, x), conf=conf, iou=iou, max_det=max_det, num_classes=num_classes)
    return [d.mapped(g.boxes_to_frame) for d, g in zip(dets, geos)]


def evaluate_detection(model: Any, data: DetectionData, reference: Any = None, imgsz: int | None = None,
                       conf: float = CONF, iou: float = IOU, spec=None) -> dict:
    """mAP of ``model`` on ``data`` (and of ``reference``, its mAP@0.5 drop and box agreement, when given)."""
    default = imgsz or (data.frames[0].shape[0] if data.frames else None)
    dets = detect(model, data, input_size(model, default), conf, iou, spec=spec)
    result: dict = {"images": len(data), **coco_map(data.gt, dets)}
    if reference is not None:
        ref = detect(reference, data, input_size(reference, default), conf, iou, spec=spec)
        ref_map = coco_map(data.gt, ref)
        result["reference"] = ref_map
        result["map50_drop_points"] = 100 * (ref_map["map50"] - result["map50"])
        result["agreement"] = box_agreement(dets, ref)
    return result
