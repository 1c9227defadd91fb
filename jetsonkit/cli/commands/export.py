"""``jetsonkit export``: a PyTorch model to a clean ONNX file, with a parity check against torch."""

from __future__ import annotations

from ...export.stage import ExportSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from ..args import input_path, output_path

NAME = "export"
HELP = "export a PyTorch model to ONNX (clean-up, checker, parity vs torch in ONNX Runtime)"
DESCRIPTION = """Export a PyTorch model to ONNX, clean it up, check it, and compare it with torch.

MODEL is package.module:factory, path/to/file.py:factory (your file is imported and the factory called),
model.pt (TorchScript) or model.pt2 (torch.export). Example:
  jetsonkit export jetsonkit.examples.mnist:build_model --input input:1x1x28x28 --dynamic batch -o mnist.onnx
Exit codes: 0 ok, 1 parity above tolerance (the table is printed, nothing is written), 2 bad input."""


def add_arguments(parser) -> None:
    input_path(parser, "model", help="package.module:factory | file.py:factory | model.pt | model.pt2")
    output_path(parser, "-o", "--output", required=True, help="ONNX file to write (its folder must exist)")
    input_path(parser, "--weights", help="state_dict file loaded with torch.load(weights_only=True)")
    parser.add_argument("--input", action="append", dest="inputs", metavar="NAME:SHAPE[:DTYPE]",
                        help="example input, e.g. images:1x3x224x224:float32 (repeat for several inputs)")
    parser.add_argument("--output-name", action="append", dest="output_names", metavar="NAME",
                        help="ONNX output name (repeat per output; default output / output_<i>)")
    parser.add_argument("--dynamic", action="append", metavar="LABEL|NAME:AXIS[=LABEL]",
                        help="dynamic axis: a label (e.g. batch) makes axis 0 of every input/output dynamic")
    add_settings_arguments(parser, ExportSettings)


def run(args):
    from ...export.stage import result_text, run_export
    from .. import CommandResult

    result = run_export(args.model, args.output, args.inputs or (), from_args(ExportSettings, args),
                        output_names=args.output_names, dynamic=args.dynamic, weights=args.weights)
    return CommandResult(data=result.to_dict(), text=result_text(result))
