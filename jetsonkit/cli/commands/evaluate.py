"""``jetsonkit evaluate``: top-1 on labelled data and agreement with an FP32 reference, in ONNX Runtime;
``--task detect``: COCO mAP of a YOLO-style detector and box agreement with the reference."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import EXIT_CHECK_FAILED, CommandResult
from ..args import input_path

NAME = "evaluate"
HELP = "top-1 accuracy (or detection mAP with --task detect) and agreement with a reference model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model to evaluate (.onnx; other formats through jetsonkit.runtime)")
    parser.add_argument("--task", choices=("classify", "detect"), default="classify",
                        help="classify (top-1, default) or detect (COCO mAP of a YOLO-style [N, 4 + classes, "
                        "anchors] output, NMS in numpy)")
    input_path(parser, "--data", default=None,
                        help="classify: mnist:<train|val|test>[:limit], an .npz with x (and y), an .npy (x), a folder "
                        "of images (class sub-folders: labels) or of .npy / .npz samples; default mnist:test. "
                        "detect: mnist_det:<train|test>[:count] or a COCO folder (annotations.json + images); "
                        "default mnist_det:test:500")
    input_path(parser, "--reference", help="reference model (e.g. the FP32 .onnx) for agreement figures")
    parser.add_argument("--min-top1", type=float, help="fail (exit 1) when top-1 is below this fraction")
    parser.add_argument("--max-drop", type=float,
                        help="fail (exit 1) when top-1 is more than this many points below the reference's")
    det = parser.add_argument_group("detection (--task detect)")
    det.add_argument("--min-map", type=float, help="fail (exit 1) when mAP@0.5 is below this fraction")
    det.add_argument("--max-map-drop", type=float,
                     help="fail (exit 1) when mAP@0.5 is more than this many points below the reference's")
    det.add_argument("--imgsz", type=int, help="input size for models with dynamic height/width (default: the "
                     "data's first frame height)")
    det.add_argument("--conf", type=float, default=0.001, help="score threshold before NMS (default 0.001)")
    det.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...data import DataSpec, onnx_inputs
    from ...evaluate import agreement_of_outputs, fit_input_layout, predict
    from ...errors import UsageError

    if args.task == "detect":
        return _run_detect(args)
    if args.min_map is not None or args.max_map_drop is not None:
        raise UsageError("--min-map / --max-map-drop are for --task detect", hint="add --task detect")
    args.data = args.data or "mnist:test"
    if args.max_drop is not None and not args.reference:
        raise UsageError("--max-drop needs --reference", hint="pass the FP32 model with --reference")
    if args.min_top1 is not None and not 0 <= args.min_top1 <= 1:
        percent = 1 < args.min_top1 <= 100
        raise UsageError(f"--min-top1 {args.min_top1:g} is not a fraction in [0, 1]",
                         hint=f"e.g. --min-top1 {args.min_top1 / 100:g} for {args.min_top1:g} %" if percent
                         else "e.g. --min-top1 0.98")
    spec = DataSpec.parse(args.data)
    images = spec.kind in ("images", "coco", "yolo") and str(args.model).endswith(".onnx")
    x, y = spec.load_xy(onnx_inputs(args.model) if images and Path(args.model).is_file() else None)
    if y is None and (args.min_top1 is not None or args.max_drop is not None):
        raise UsageError(f"--min-top1 / --max-drop need labels, and {args.data!r} has no y",
                         hint="save the labels with numpy.savez(path, x=inputs, y=labels), or drop the gate")
    if y is None and not args.reference:
        raise UsageError(f"{args.data!r} has no labels and no --reference is given: nothing to measure",
                         hint="save the labels with numpy.savez(path, x=inputs, y=labels), or pass the FP32 model "
                              "with --reference for agreement")
    x_model, note = fit_input_layout(args.model, x)
    out = predict(args.model, x_model)
    data: dict = {"model": args.model, "data": args.data, "samples": int(len(x))}
    lines = [f"{args.model} on {args.data} ({len(x)} samples)"]
    notes = [note] if note else []
    failures = []
    if y is not None:
        data["top1"] = float((out.reshape(len(x), -1).argmax(1) == y).mean())
        lines.append(f"  top-1 {100 * data['top1']:.2f} %")
        if args.min_top1 is not None and data["top1"] < args.min_top1:
            failures.append(f"top-1 {data['top1']:.4f} < {args.min_top1}")
    if args.reference:
        x_ref, ref_note = fit_input_layout(args.reference, x)
        notes += [ref_note] if ref_note else []
        ref = predict(args.reference, x_ref)
        agree = agreement_of_outputs(out, ref)
        data["agreement"] = agree.as_dict()
        lines.append(f"  vs {args.reference}: top-1 agreement {100 * agree.top1_agreement:.2f} %, "
                     f"cosine {agree.cosine:.5f}, max abs error {agree.max_abs_error:.4g}")
        if y is not None:
            data["reference_top1"] = float((ref.reshape(len(x), -1).argmax(1) == y).mean())
            drop = 100 * (data["reference_top1"] - data["top1"])
            data["drop_points"] = drop
            lines.append(f"  reference top-1 {100 * data['reference_top1']:.2f} % (drop {drop:+.2f} points)")
            if args.max_drop is not None and drop > args.max_drop:
                failures.append(f"drop {drop:.2f} points > {args.max_drop}")
    if notes:
        data["notes"] = notes
        lines += [f"  note: {n}" for n in notes]
    if failures:
        data["failures"] = failures
        lines.append("  FAILED: " + "; ".join(failures))
    return CommandResult(data=data, text="\n".join(lines), exit_code=EXIT_CHECK_FAILED if failures else 0)


def _run_detect(args: argparse.Namespace) -> CommandResult:
    from ...detect.evaluate import evaluate_detection, load_detection_data
    from ...errors import UsageError

    if args.min_top1 is not None or args.max_drop is not None:
        raise UsageError("--min-top1 / --max-drop are for classification", hint="use --min-map / --max-map-drop")
    if args.max_map_drop is not None and not args.reference:
        raise UsageError("--max-map-drop needs --reference", hint="pass the FP32 model with --reference")
    if args.min_map is not None and not 0 <= args.min_map <= 1:
        raise UsageError(f"--min-map {args.min_map:g} is not a fraction in [0, 1]", hint="e.g. --min-map 0.8")
    if not 0 <= args.conf < 1 or not 0 < args.iou <= 1:
        raise UsageError(f"--conf {args.conf:g} / --iou {args.iou:g} out of range",
                         hint="--conf in [0, 1), --iou in (0, 1]")
    data_spec = args.data or "mnist_det:test:500"
    data = load_detection_data(data_spec)
    res = evaluate_detection(args.model, data, args.reference, imgsz=args.imgsz, conf=args.conf, iou=args.iou)
    out: dict = {"model": args.model, "data": data_spec, "task": "detect", **res}
    lines = [f"{args.model} on {data_spec} ({res['images']} images)",
             f"  mAP@0.5 {100 * res['map50']:.2f} %, mAP@0.5:0.95 {100 * res['map']:.2f} % "
             f"({res['detections']} detections)"]
    failures = []
    if args.min_map is not None and res["map50"] < args.min_map:
        failures.append(f"mAP@0.5 {res['map50']:.4f} < {args.min_map}")
    if args.reference:
        ref, agree = res["reference"], res["agreement"]
        lines.append(f"  reference {args.reference}: mAP@0.5 {100 * ref['map50']:.2f} %, mAP@0.5:0.95 "
                     f"{100 * ref['map']:.2f} % (mAP@0.5 drop {res['map50_drop_points']:+.2f} points)")
        lines.append(f"  box agreement: {100 * agree['agreement']:.1f} % of {agree['reference_boxes']} confident "
                     f"reference boxes matched at IoU >= 0.8 (mean best IoU {agree['mean_iou']:.3f})")
        if args.max_map_drop is not None and res["map50_drop_points"] > args.max_map_drop:
            failures.append(f"mAP@0.5 drop {res['map50_drop_points']:.2f} points > {args.max_map_drop}")
    if failures:
        out["failures"] = failures
        lines.append("  FAILED: " + "; ".join(failures))
    return CommandResult(data=out, text="\n".join(lines), exit_code=EXIT_CHECK_FAILED if failures else 0)
