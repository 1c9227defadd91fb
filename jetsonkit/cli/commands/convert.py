"""``jetsonkit convert``: ONNX model (or a PyTorch spec) -> .tflite for LiteRT (Raspberry Pi fallback)."""

from __future__ import annotations

import argparse

from ...convert.stage import ConvertSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import add_calib_arguments, input_path, output_path, add_data_argument

NAME = "convert"
HELP = "convert an ONNX model (or a PyTorch spec) to TFLite / LiteRT: fp32, fp16 or full-integer int8"
DESCRIPTION = (HELP + ". NHWC input by default (what a camera gives); the layout, I/O types and quantization "
               "are stored in the model's metadata and in OUTPUT.json. int8 needs --data (the same samples as "
               "`jetsonkit calibrate`); --calib imposes that table's ranges so TensorRT and TFLite share one calibration.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model.onnx, or a PyTorch spec (package.module:factory) with --input")
    output_path(parser, "-o", "--output", help="output .tflite (default: MODEL.<precision>.tflite)")
    add_data_argument(parser, "calibration samples (without --calib), in the ONNX model's layout")
    add_calib_arguments(parser, help_="calibration table (calib.json from `jetsonkit calibrate`) to impose")
    add_settings_arguments(parser, ConvertSettings)
    parser.add_argument("--input", action="append", help="input spec for a PyTorch model, e.g. input:1x1x28x28")
    input_path(parser, "--weights", help="state_dict for a PyTorch spec (read with weights_only=True)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...convert.stage import run_convert

    result = run_convert(args.model, args.output, from_args(ConvertSettings, args), data=args.data,
                         calib=args.calib, allow_other_model=args.allow_other_model, inputs=args.input,
                         weights=args.weights)
    return CommandResult(data=result.to_dict(), text=result.summary())
