"""``jetsonkit calibrate``: INT8 ranges for every Q/DQ tensor of an ONNX model, as JSON (+ a TensorRT cache)."""

from __future__ import annotations

import argparse

from .. import CommandResult
from ..args import add_image_arguments, add_method_arguments, image_preprocess, method_options

NAME = "calibrate"
HELP = "compute INT8 ranges (entropy / percentile / mse / minmax / auto) for an ONNX model from calibration data"
DESCRIPTION = (
    "Run calibration data through the model in ONNX Runtime, histogram every tensor that Q/DQ quantizes, and "
    "write the ranges as a JSON table (and optionally a TensorRT 8.x/10.x calibration cache). Data: "
    "mnist:<train|val|test>[:limit] (the bundled real MNIST), a .npy / .npz file, a folder of .npy / .npz samples, "
    "or a folder of images (class sub-folders allowed). A static-batch model gets the data in batches of its size."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the FP32 .onnx model")
    parser.add_argument("--data", required=True,
                        help="mnist:train:1000, a .npy / .npz file, a folder of .npy / .npz samples, or of images")
    add_method_arguments(parser)
    parser.add_argument("-o", "--output", default="calib.json", help="calibration table to write (default calib.json)")
    parser.add_argument("--trt-cache", help="also write a TensorRT calibration cache (TensorRT 8.x / 10.x)")
    parser.add_argument("--trt-version", help="TensorRT version the cache is for (default 10.3.0; needs --trt-cache)")
    parser.add_argument("--batch-size", type=int,
                        help="samples per ONNX Runtime run (default: the model's static batch size, else 32)")
    parser.add_argument("--max-samples", type=int, help="use at most this many samples")
    parser.add_argument("--max-memory", metavar="SIZE", default="512M",
                        help="memory the activations may take on top of the process, e.g. 256M or 2G: sizes the batch "
                             "and the tensors exposed per ONNX Runtime run (default 512M: a 224x224 classifier's "
                             "calibrate stays under 1 GB in all)")
    parser.add_argument("--shape", help="calibration shape for dynamic axes, NAME:1x3x224x224")
    add_image_arguments(parser)


def run(args: argparse.Namespace) -> CommandResult:
    from ..._memory import parse_size
    from ...calibrate import calibrate, summary
    from ...errors import UsageError

    if args.trt_version is not None and not args.trt_cache:
        raise UsageError("--trt-version applies to the TensorRT cache only", hint="add --trt-cache FILE or drop it")
    trt_version = args.trt_version or "10.3.0"
    table = calibrate(args.model, args.data, args.method, output=args.output, trt_cache=args.trt_cache,
                      trt_version=trt_version, batch_size=args.batch_size, shape=args.shape,
                      max_samples=args.max_samples, preprocess=image_preprocess(args, args.model),
                      max_memory=parse_size(args.max_memory), **method_options(args))
    data, text = summary(table, args.model, args.data, args.output, args.trt_cache, trt_version)
    return CommandResult(data=data, text=text)
