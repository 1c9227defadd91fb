"""The evaluate stage as one call: a model on data -- top-1 (classify) or COCO mAP (detect) --, its agreement with a
reference, and the gates that fail it; used by ``jetsonkit evaluate``.

:class:`EvaluateSettings` holds the stage's options, defaults and checks (``jetsonkit evaluate``'s flags are read off
its fields, :mod:`jetsonkit.settings`). Image data is decoded with the pre-processing calibration uses
(:func:`jetsonkit.data.for_model`: the spec given, else the one stored in the ONNX model). This module sits above
:mod:`jetsonkit.evaluate` (classification helpers) and :mod:`jetsonkit.detect` (detection), which never import it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .detect.postprocess import CONF, IOU
from .errors import UsageError
from .settings import SettingError, check, option

__all__ = ["EvaluateSettings", "EvaluateResult", "run_evaluate", "TASKS", "DEFAULT_DATA", "load_eval_data"]

TASKS = ("classify", "detect")
DEFAULT_DATA = {"classify": "mnist:test", "detect": "mnist_det:test:500"}
_GATES = {"classify": ("min_top1", "max_drop"), "detect": ("min_map", "max_map_drop")}


@dataclass(frozen=True)
class EvaluateSettings:
    """What is measured and what fails the run; the model, the data and the reference are the stage's inputs."""

    task: str = option("classify", "classify (top-1) or detect (COCO mAP of a YOLO-style [N, 4 + classes, "
                       "anchors] output, NMS in numpy)", choices=TASKS)
    min_top1: float | None = option(None, "classify: fail (exit 1) when top-1 is below this fraction")
    max_drop: float | None = option(None, "classify: fail (exit 1) when top-1 is more than this many points below "
                                    "the reference's")
    min_map: float | None = option(None, "detect: fail (exit 1) when mAP@0.5 is below this fraction")
    max_map_drop: float | None = option(None, "detect: fail (exit 1) when mAP@0.5 is more than this many points "
                                        "below the reference's")
    imgsz: int | None = option(None, "detect: input size for models with dynamic height/width (default: the "
                               "data's first frame height)", minimum=1)
    conf: float = option(CONF, "detect: score threshold before NMS, in [0, 1)", minimum=0)
    iou: float = option(IOU, "detect: NMS IoU threshold, in (0, 1]", positive=True)

    def validate(self) -> None:
        other = "detect" if self.task == "classify" else "classify"
        for key in _GATES[other]:
            if getattr(self, key) is not None:
                raise SettingError(key, f"{key} is a gate of task {other}, and the task is {self.task}",
                                   hint=f"set the task to {other}, or use {' / '.join(_GATES[self.task])}")
        for key in ("min_top1", "min_map"):
            value = getattr(self, key)
            if value is not None and not 0 <= value <= 1:
                raise SettingError(key, f"{key} {value:g} is not a fraction in [0, 1]",
                                   hint=f"e.g. {value / 100:g} for {value:g} %" if 1 < value <= 100 else "e.g. 0.98")
        if self.conf >= 1:
            raise SettingError("conf", f"conf must be in [0, 1), got {self.conf:g}")
        if self.iou > 1:
            raise SettingError("iou", f"iou must be in (0, 1], got {self.iou:g}")


@dataclass
class EvaluateResult:
    """The figures (JSON-able ``data``), the lines for people, and the gates that failed."""

    data: dict
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines + (["  FAILED: " + "; ".join(self.failures)] if self.failures else []))

    def as_dict(self) -> dict:
        return {**self.data, **({"failures": self.failures} if self.failures else {})}


def run_evaluate(model: Any, data: Any = None, settings: EvaluateSettings = EvaluateSettings(), *,
                 reference: Any = None, preprocess: Any = None) -> EvaluateResult:
    """Evaluate ``model`` on ``data`` (a data spec; default :data:`DEFAULT_DATA` of the task) against
    ``reference`` (optional) with ``settings``; image data is decoded by ``preprocess`` (a PreprocessSpec), else
    as calibration decodes it for this model."""
    settings = check(settings)
    data = data or DEFAULT_DATA[settings.task]
    drop = "max_drop" if settings.task == "classify" else "max_map_drop"
    if getattr(settings, drop) is not None and not reference:
        raise UsageError(f"--{drop.replace('_', '-')} needs --reference", hint="pass the FP32 model with --reference")
    if settings.task == "detect":
        return _detect(model, data, settings, reference, preprocess)
    return _classify(model, data, settings, reference, preprocess)


def load_eval_data(model: Any, data: Any, preprocess: Any = None) -> tuple[Any, Any]:
    """(x, y or None) of ``data`` as ``model`` takes it. Image folders are decoded with ``preprocess``, else with
    the spec stored in the model (what calibration does), and sized by the model's input: an ONNX file's, or the
    one a ``.tflite`` written by ``jetsonkit convert`` records (its pre-processing spec travels in its metadata)."""
    from .data import DataSpec, for_model, onnx_inputs

    spec = for_model(data, model, preprocess)
    if spec.kind not in ("images", "coco", "yolo") or not isinstance(model, (str, os.PathLike)) \
            or not Path(model).is_file():
        return spec.load_xy(None)
    if str(model).endswith(".onnx"):
        return spec.load_xy(onnx_inputs(model))
    if str(model).endswith(".tflite"):
        inputs, stored = _tflite_input(model)
        if spec.preprocess is None and stored is not None:
            spec = DataSpec.parse(spec, preprocess=stored)
        return spec.load_xy(inputs)
    return spec.load_xy(None)


def _tflite_input(model: Any) -> tuple[Any, Any]:
    """(the .tflite's one 4-D input as the ONNX model took it -- NCHW, as evaluation data is --, or None; the
    pre-processing spec in its metadata, or None)."""
    import numpy as np

    from .artifacts import read_tflite_metadata
    from .data import InputInfo
    from .preprocess.metadata import from_metadata

    meta = read_tflite_metadata(model)
    inputs = meta.get("inputs") or []
    stored = from_metadata(meta, str(model))
    if len(inputs) != 1 or len(inputs[0].get("shape") or ()) != 4:
        return None, stored
    _, a, b, c = inputs[0]["shape"]
    shape = (None, c, a, b) if inputs[0].get("layout") == "NHWC" else (None, a, b, c)
    return [InputInfo(inputs[0]["name"], shape, np.dtype(np.float32))], stored


def _classify(model: Any, data: Any, s: EvaluateSettings, reference: Any, preprocess: Any) -> EvaluateResult:
    from .evaluate import agreement_of_outputs, fit_input_layout, predict

    x, y = load_eval_data(model, data, preprocess)
    if y is None and (s.min_top1 is not None or s.max_drop is not None):
        raise UsageError(f"--min-top1 / --max-drop need labels, and {data!r} has no y",
                         hint="save the labels with numpy.savez(path, x=inputs, y=labels), or drop the gate")
    if y is None and not reference:
        raise UsageError(f"{data!r} has no labels and no --reference is given: nothing to measure",
                         hint="save the labels with numpy.savez(path, x=inputs, y=labels), or pass the FP32 model "
                              "with --reference for agreement")
    x_model, note = fit_input_layout(model, x)
    out = predict(model, x_model)
    result = EvaluateResult({"model": str(model), "data": str(data), "samples": int(len(x))},
                            [f"{model} on {data} ({len(x)} samples)"])
    notes = [note] if note else []
    if y is not None:
        result.data["top1"] = top1 = float((out.reshape(len(x), -1).argmax(1) == y).mean())
        result.lines.append(f"  top-1 {100 * top1:.2f} %")
        if s.min_top1 is not None and top1 < s.min_top1:
            result.failures.append(f"top-1 {top1:.4f} < {s.min_top1}")
    if reference:
        x_ref, ref_note = fit_input_layout(reference, x)
        notes += [ref_note] if ref_note else []
        ref = predict(reference, x_ref)
        agree = agreement_of_outputs(out, ref)
        result.data["agreement"] = agree.as_dict()
        result.lines.append(f"  vs {reference}: top-1 agreement {100 * agree.top1_agreement:.2f} %, "
                            f"cosine {agree.cosine:.5f}, max abs error {agree.max_abs_error:.4g}")
        if y is not None:
            result.data["reference_top1"] = ref_top1 = float((ref.reshape(len(x), -1).argmax(1) == y).mean())
            result.data["drop_points"] = drop = 100 * (ref_top1 - result.data["top1"])
            result.lines.append(f"  reference top-1 {100 * ref_top1:.2f} % (drop {drop:+.2f} points)")
            if s.max_drop is not None and drop > s.max_drop:
                result.failures.append(f"drop {drop:.2f} points > {s.max_drop}")
    if notes:
        result.data["notes"] = notes
        result.lines += [f"  note: {n}" for n in notes]
    return result


def _detect(model: Any, data: str, s: EvaluateSettings, reference: Any, preprocess: Any) -> EvaluateResult:
    from .detect.evaluate import evaluate_detection, load_detection_data

    res = evaluate_detection(model, load_detection_data(data), reference, imgsz=s.imgsz, conf=s.conf, iou=s.iou,
                             spec=preprocess)
    result = EvaluateResult({"model": str(model), "data": data, "task": "detect", **res},
                            [f"{model} on {data} ({res['images']} images)",
                             f"  mAP@0.5 {100 * res['map50']:.2f} %, mAP@0.5:0.95 {100 * res['map']:.2f} % "
                             f"({res['detections']} detections)"])
    if s.min_map is not None and res["map50"] < s.min_map:
        result.failures.append(f"mAP@0.5 {res['map50']:.4f} < {s.min_map}")
    if reference:
        ref, agree = res["reference"], res["agreement"]
        result.lines.append(f"  reference {reference}: mAP@0.5 {100 * ref['map50']:.2f} %, mAP@0.5:0.95 "
                            f"{100 * ref['map']:.2f} % (mAP@0.5 drop {res['map50_drop_points']:+.2f} points)")
        result.lines.append(f"  box agreement: {100 * agree['agreement']:.1f} % of {agree['reference_boxes']} "
                            f"confident reference boxes matched at IoU >= 0.8 (mean best IoU {agree['mean_iou']:.3f})")
        if s.max_map_drop is not None and res["map50_drop_points"] > s.max_map_drop:
            result.failures.append(f"mAP@0.5 drop {res['map50_drop_points']:.2f} points > {s.max_map_drop}")
    return result
