"""``jetsonkit convert``: ONNX model (or a PyTorch spec) -> .tflite for LiteRT (Raspberry Pi fallback)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from calibrators.methods import DEFAULT_METHOD

from ...convert.tflite import IO_TYPES, LAYOUTS, PRECISIONS
from .. import CommandResult
from ..args import add_calib_arguments, add_method_arguments
from ...errors import UsageError

NAME = "convert"
HELP = "convert an ONNX model (or a PyTorch spec) to TFLite / LiteRT: fp32, fp16 or full-integer int8"
DESCRIPTION = (HELP + ". NHWC input by default (what a camera gives); the layout, I/O types and quantization "
               "are stored in the model's metadata and in OUTPUT.json. int8 needs --data (the same samples as "
               "`jetsonkit calibrate`); --calib imposes that table's ranges so TensorRT and TFLite share one calibration.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model.onnx, or a PyTorch spec (package.module:factory) with --input")
    parser.add_argument("--to", choices=("tflite",), default="tflite", help="target format (default tflite)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("-o", "--output", help="output .tflite (default: MODEL.<precision>.tflite)")
    parser.add_argument("--data", help="calibration samples, as for `jetsonkit calibrate`: mnist:<train|val|test>"
                                       "[:limit] (the bundled real MNIST), a .npy / .npz file in the model's NCHW "
                                       "layout, or a folder of images")
    parser.add_argument("--limit", type=int,
                        help="calibration samples used: the first N of --data (default 1000)")
    add_calib_arguments(parser, help_="calibration table (calib.json from `jetsonkit calibrate`) to impose")
    add_method_arguments(parser, default=None, options=False,
                         help_=f"without --calib: the range method of the table made here (default {DEFAULT_METHOD}, "
                               "as `jetsonkit calibrate`)")
    parser.add_argument("--io", choices=IO_TYPES, default="float",
                        help="int8 model: float I/O (quantized inside, default) or int8 I/O")
    parser.add_argument("--input-layout", choices=LAYOUTS, default="nhwc",
                        help="layout callers feed 4-D inputs in (default nhwc, a camera's layout)")
    parser.add_argument("--input-shape", metavar="NxCxHxW",
                        help="ONNX model with dynamic H / W (a detector): the size to convert at, e.g. 1x3x640x640")
    parser.add_argument("--input", action="append", help="input spec for a PyTorch model, e.g. input:1x1x28x28")
    parser.add_argument("--weights", help="state_dict for a PyTorch spec (read with weights_only=True)")


def _onnx_from_spec(args, workdir: str) -> str:
    if not args.input:
        raise UsageError(f"{args.model!r} is not an .onnx file; a PyTorch spec needs --input NAME:SHAPE",
                         hint="e.g. --input input:1x1x28x28, or export first with `jetsonkit export`")
    from ...export import export_onnx
    from ...modelspec import load_model
    from ...specs import parse_input_spec

    specs = [parse_input_spec(s) for s in args.input]
    model = load_model(args.model, args.weights)
    path = os.path.join(workdir, "model.onnx")
    export_onnx(model, tuple(s.example() for s in specs), path, input_names=[s.name for s in specs], dynamic=True)
    return path


def _input_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise UsageError(f"--input-shape {text!r} is not a shape of positive sizes", hint="e.g. 1x3x640x640")
    return dims


def run(args: argparse.Namespace) -> CommandResult:
    from ..._io import check_output_path, check_output_suffix
    from ...convert import convert_tflite

    if args.precision == "int8" and not args.data:
        raise UsageError("--precision int8 needs --data (the calibration samples)",
                         hint="add --data samples.npy (and --calib calib.json to reuse its ranges)")
    if args.precision != "int8":
        given = (("--data", args.data), ("--limit", args.limit), ("--method", args.method))
        unused = [flag for flag, value in given if value is not None]
        if unused:
            raise UsageError(f"{', '.join(unused)} calibrate(s) --precision int8 and would do nothing for "
                             f"--precision {args.precision}", hint="drop them, or pass --precision int8")
    is_onnx = args.model.endswith(".onnx")
    if is_onnx and (args.input or args.weights):
        raise UsageError(f"--input / --weights describe a PyTorch spec, and {args.model!r} is already ONNX",
                         hint="drop them (the ONNX file carries its input shapes and weights)")
    out = args.output or f"{Path(args.model).stem if is_onnx else 'model'}.{args.precision}.tflite"
    shape = _input_shape(args.input_shape)

    check_output_suffix(out, (".tflite",), "a TFLite model")
    check_output_path(out, inputs=(args.model if is_onnx else None, args.calib, args.data))
    check_output_path(f"{out}.json", inputs=(args.model if is_onnx else None, args.calib, args.data))  # the sidecar
    with tempfile.TemporaryDirectory(prefix="jetsonkit-convert-") as tmp:
        onnx_path = args.model if is_onnx else _onnx_from_spec(args, tmp)
        result = convert_tflite(onnx_path, out, precision=args.precision, data=args.data, calib=args.calib,
                                method=args.method, io=args.io, input_layout=args.input_layout,
                                limit=1000 if args.limit is None else args.limit,
                                allow_other_model=args.allow_other_model, input_shape=shape)
    d = result.to_dict()
    ins = ", ".join(f"{i['name']} {i['dtype']} {i['shape']} {i['layout'] or ''}".rstrip() for i in d["inputs"])
    text = (f"wrote {d['path']} ({d['size_bytes'] / 1024:.1f} KiB, {args.precision}, {args.io} I/O); "
            f"input {ins}; ops {', '.join(f'{k}x{v}' for k, v in sorted(d['ops'].items()))}")
    return CommandResult(data=d, text=text)
