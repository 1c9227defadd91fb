"""``jetsonkit calibrate``: INT8 ranges for every Q/DQ tensor of an ONNX model, as JSON (+ a TensorRT cache)."""

from __future__ import annotations

import argparse

from calibrators.methods import METHODS

from ...calibrate import CalibrationSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import (add_data_argument, add_image_arguments, add_trt_version_argument, image_preprocess, input_path,
                    output_path)

NAME = "calibrate"
HELP = f"compute INT8 ranges ({' / '.join(METHODS)}) for an ONNX model from calibration data"
DESCRIPTION = (
    "Run calibration data through the model in ONNX Runtime, histogram every tensor that Q/DQ quantizes, and "
    "write the ranges as a JSON table (and optionally a TensorRT 8.x/10.x calibration cache). Data: "
    "mnist:<train|val|test>[:limit] (the bundled real MNIST), a .npy / .npz file, a folder of .npy / .npz samples, "
    "or a folder of images (class sub-folders allowed). A static-batch model gets the data in batches of its size."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="the FP32 .onnx model")
    add_data_argument(parser, "calibration samples", required=True)
    add_settings_arguments(parser, CalibrationSettings)
    output_path(parser, "-o", "--output", default="calib.json", help="calibration table to write (default calib.json)")
    output_path(parser, "--trt-cache", help="also write a TensorRT calibration cache (TensorRT 8.x / 10.x)")
    add_trt_version_argument(parser, "the cache is for (needs --trt-cache)", default="10.3.0")
    add_image_arguments(parser)


def run(args: argparse.Namespace) -> CommandResult:
    from ...calibrate import run_calibrate
    from ...errors import UsageError

    settings = from_args(CalibrationSettings, args)
    if args.trt_version is not None and not args.trt_cache:
        raise UsageError("--trt-version applies to the TensorRT cache only", hint="add --trt-cache FILE or drop it")
    result = run_calibrate(args.model, args.data, settings, output=args.output, trt_cache=args.trt_cache,
                           trt_version=args.trt_version or "10.3.0", preprocess=image_preprocess(args, args.model))
    data, text = result.summary()
    return CommandResult(data=data, text=text)
