"""``jetsonkit calibrate``: INT8 ranges for every Q/DQ tensor of an ONNX model, as JSON (+ a TensorRT cache)."""

from __future__ import annotations

import argparse

from .. import CommandResult
from ..args import add_method_arguments, method_options

NAME = "calibrate"
HELP = "compute INT8 ranges (entropy / percentile / mse / minmax / auto) for an ONNX model from calibration data"
DESCRIPTION = (
    "Run calibration data through the model in ONNX Runtime, histogram every tensor that Q/DQ quantizes, and "
    "write the ranges as a JSON table (and optionally a TensorRT 8.x/10.x calibration cache). Data: "
    "mnist:<train|val|test>[:limit] (the bundled real MNIST), a .npy / .npz file, a folder of .npy / .npz samples, "
    "or a folder of images (class sub-folders allowed). A static-batch model gets the data in batches of its size."
)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not HxW (e.g. 224x224)") from None
    return h, w


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="the FP32 .onnx model")
    parser.add_argument("--data", required=True,
                        help="mnist:train:1000, a .npy / .npz file, a folder of .npy / .npz samples, or of images")
    add_method_arguments(parser)
    parser.add_argument("-o", "--output", default="calib.json", help="calibration table to write (default calib.json)")
    parser.add_argument("--trt-cache", help="also write a TensorRT calibration cache (TensorRT 8.x / 10.x)")
    parser.add_argument("--trt-version", default="10.3.0", help="TensorRT version the cache is for (default 10.3.0)")
    parser.add_argument("--batch-size", type=int,
                        help="samples per ONNX Runtime run (default: the model's static batch size, else 32)")
    parser.add_argument("--max-samples", type=int, help="use at most this many samples")
    parser.add_argument("--shape", help="calibration shape for dynamic axes, NAME:1x3x224x224")
    g = parser.add_argument_group("image folders")
    g.add_argument("--image-size", type=_size, help="resize to HxW (default: the model's input size)")
    g.add_argument("--mean", type=_floats, default=(0.0,), help="per-channel mean after scaling to [0, 1]")
    g.add_argument("--std", type=_floats, default=(1.0,), help="per-channel std after scaling to [0, 1]")
    g.add_argument("--layout", choices=("NCHW", "NHWC"), help="default: read off the model input")
    g.add_argument("--resize", choices=("stretch", "letterbox", "center_crop"),
                   help="how an image meets the input size (default: the spec stored in the model, else stretch)")
    g.add_argument("--color", choices=("rgb", "bgr", "gray"), help="channel order the network takes")


def run(args: argparse.Namespace) -> CommandResult:
    from ...calibrate import calibrate, format_ranges, range_rows
    from ...data.images import preprocess_options

    options = {"batch_size": args.batch_size, "shape": args.shape, "max_samples": args.max_samples,
               **method_options(args)}
    options["preprocess"] = preprocess_options(args.model, size=args.image_size, layout=args.layout,
                                               resize=args.resize, color=args.color,
                                               mean=None if args.mean == (0.0,) else args.mean,
                                               std=None if args.std == (1.0,) else args.std)
    table = calibrate(args.model, args.data, args.method, output=args.output, trt_cache=args.trt_cache,
                      trt_version=args.trt_version, **options)
    rows = range_rows(table)
    lines = [f"{args.method} ranges for {len(rows)} tensors from {table.samples} samples -> {args.output}",
             *format_ranges(rows)]
    if args.trt_cache:
        lines.append(f"TensorRT {args.trt_version} calibration cache -> {args.trt_cache}")
    data = {"model": args.model, "data": args.data, "method": args.method, "output": args.output,
            "trt_cache": args.trt_cache, "samples": table.samples, "model_sha256": table.model_sha256,
            "tensors": {r["tensor"]: {"amax": r["amax"], "absmax": r["absmax"]} for r in rows}}
    return CommandResult(data=data, text="\n".join(lines))
