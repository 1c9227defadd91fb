"""``jetsonkit export``: a PyTorch model to a clean ONNX file, with a parity check against torch."""

from __future__ import annotations

NAME = "export"
HELP = "export a PyTorch model to ONNX (clean-up, checker, parity vs torch in ONNX Runtime)"
DESCRIPTION = """Export a PyTorch model to ONNX, clean it up, check it, and compare it with torch.

MODEL is package.module:factory, path/to/file.py:factory (your file is imported and the factory called),
model.pt (TorchScript) or model.pt2 (torch.export). Example:
  jetsonkit export jetsonkit.examples.mnist:build_model --input input:1x1x28x28 --dynamic batch -o mnist.onnx
Exit codes: 0 ok, 1 parity above tolerance (the table is printed, nothing is written), 2 bad input."""


def add_arguments(parser) -> None:
    parser.add_argument("model", help="package.module:factory | file.py:factory | model.pt | model.pt2")
    parser.add_argument("-o", "--output", required=True, help="ONNX file to write (its folder must exist)")
    parser.add_argument("--weights", help="state_dict file loaded with torch.load(weights_only=True)")
    parser.add_argument("--input", action="append", dest="inputs", metavar="NAME:SHAPE[:DTYPE]",
                        help="example input, e.g. images:1x3x224x224:float32 (repeat for several inputs)")
    parser.add_argument("--output-name", action="append", dest="output_names", metavar="NAME",
                        help="ONNX output name (repeat per output; default output / output_<i>)")
    parser.add_argument("--dynamic", action="append", metavar="LABEL|NAME:AXIS[=LABEL]",
                        help="dynamic axis: a label (e.g. batch) makes axis 0 of every input/output dynamic")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17: TensorRT 8.6/10.x/11.x parse it)")
    parser.add_argument("--exporter", choices=("auto", "legacy", "dynamo"), default="auto",
                        help="torch exporter; auto = legacy (module-path node names), dynamo if legacy fails")
    parser.add_argument("--atol", type=float, help="parity: absolute tolerance (default 1e-4)")
    parser.add_argument("--rtol", type=float, help="parity: relative tolerance (default 1e-4)")
    parser.add_argument("--random-trials", type=int, help="parity: random input sets besides the example")
    parser.add_argument("--no-parity", action="store_true", help="skip the parity check")
    parser.add_argument("--no-fold", action="store_true", help="skip constant folding")


def run(args):
    from ...export import export_onnx
    from ...modelspec import load_model
    from ...specs import parse_dynamic, parse_input_spec
    from .. import CommandResult

    if not args.inputs:
        from ...errors import UsageError

        raise UsageError("export needs at least one --input NAME:SHAPE[:DTYPE]", hint="e.g. --input input:1x1x28x28:float32")
    _check_parity_options(args)
    from ..._io import check_output_suffix

    check_output_suffix(args.output, (".onnx",), "an ONNX model")
    specs = [parse_input_spec(text) for text in args.inputs]
    dupes = {s.name for s in specs if [t.name for t in specs].count(s.name) > 1}
    if dupes:
        from ...errors import InputSpecError

        raise InputSpecError(f"input name(s) {', '.join(sorted(dupes))} given more than once", hint="name each input once")
    output_names = args.output_names or []
    # a bare label (--dynamic batch) also covers the outputs; "*" stands for them while their names are unknown
    dynamic = parse_dynamic(args.dynamic, specs, output_names or ["*"])
    model = load_model(args.model, args.weights)
    _check_opset(args.opset)
    examples = _example_tensors(specs)
    result = export_onnx(
        model, examples, args.output, input_names=[s.name for s in specs], output_names=output_names or None,
        dynamic=dynamic or None, opset=args.opset, exporter=args.exporter,
        fold_constants=not args.no_fold, parity=not args.no_parity, atol=_or(args.atol, 1e-4),
        rtol=_or(args.rtol, 1e-4), random_trials=_or(args.random_trials, 2),
    )
    text = result.summary()
    if result.notes:
        text += "\n" + "\n".join(f"note: {n}" for n in result.notes)
    if result.parity:
        text += "\n" + result.parity.table()
    return CommandResult(data=result.to_dict(), text=text)


def _or(value, default):
    return default if value is None else value


def _check_parity_options(args) -> None:
    from ...errors import UsageError

    given = [f for f, v in (("--atol", args.atol), ("--rtol", args.rtol), ("--random-trials", args.random_trials))
             if v is not None]
    if args.no_parity and given:
        raise UsageError(f"{', '.join(given)} set the parity check, which --no-parity skips",
                         hint="drop one or the other")
    for flag, value in (("--atol", args.atol), ("--rtol", args.rtol), ("--random-trials", args.random_trials)):
        if value is not None and not value >= 0:
            raise UsageError(f"{flag} {value} must be >= 0")


def _check_opset(opset: int) -> None:
    """UsageError for an opset the installed onnx does not know (the exporter fell back and wrote it anyway)."""
    from ..._deps import require
    from ...errors import UsageError

    newest = require("onnx", purpose="ONNX export").defs.onnx_opset_version()
    if not 7 <= opset <= newest:
        raise UsageError(f"--opset {opset} is outside 7..{newest} (the opsets the installed onnx knows)",
                         hint="keep the default 17 (TensorRT 8.6 / 10.x / 11.x parse it)")


def _example_tensors(specs):
    import torch

    return tuple(torch.from_numpy(s.example(seed=i)) for i, s in enumerate(specs))
