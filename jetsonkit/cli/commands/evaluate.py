"""``jetsonkit evaluate``: top-1 on labelled data and agreement with an FP32 reference, in ONNX Runtime;
``--task detect``: COCO mAP of a YOLO-style detector and box agreement with the reference."""

from __future__ import annotations

import argparse

from ...evaluate_stage import EvaluateSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import EXIT_CHECK_FAILED, CommandResult
from ..args import add_image_arguments, image_preprocess, input_path, add_data_argument

NAME = "evaluate"
HELP = "top-1 accuracy (or detection mAP with --task detect) and agreement with a reference model"
DESCRIPTION = (HELP + ". Image folders are decoded as `jetsonkit calibrate` decodes them: the image options "
               "given, else the pre-processing stored in the ONNX model, else what its input shape implies.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model to evaluate (.onnx; other formats through jetsonkit.runtime)")
    add_data_argument(parser, "evaluation data with labels (default mnist:test; with --task detect: boxes, default "
                              "mnist_det:test:500)")
    input_path(parser, "--reference", help="reference model (e.g. the FP32 .onnx) for agreement figures")
    add_settings_arguments(parser, EvaluateSettings)
    add_image_arguments(parser)


def run(args: argparse.Namespace) -> CommandResult:
    from ...evaluate_stage import run_evaluate

    result = run_evaluate(args.model, args.data, from_args(EvaluateSettings, args), reference=args.reference,
                          preprocess=image_preprocess(args, args.model))
    return CommandResult(data=result.as_dict(), text=result.text(),
                         exit_code=EXIT_CHECK_FAILED if result.failures else 0)
