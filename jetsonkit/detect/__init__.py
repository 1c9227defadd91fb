"""Object detection: YOLO-style output decoding, NMS (numpy, or the ONNX ``NonMaxSuppression`` tail) and COCO mAP.

numpy only at import; pycocotools is loaded when mAP is computed, onnx when the NMS tail is added.
"""

from __future__ import annotations

from .metrics import box_agreement, coco_map, map_of_predictor
from .postprocess import Detections, nms, postprocess

__all__ = ["Detections", "nms", "postprocess", "coco_map", "box_agreement", "map_of_predictor"]
