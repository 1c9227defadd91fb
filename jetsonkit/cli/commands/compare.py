"""``jetsonkit compare A B [C ...]``: the same inputs through any backends, every output checked against A."""

from __future__ import annotations

from ..args import input_path, add_data_argument

NAME = "compare"
HELP = "run the same inputs through several artifacts (.engine / .onnx / Q/DQ .onnx / .tflite) and compare outputs"
DESCRIPTION = (HELP + ": per output max abs / max rel error, cosine, SQNR and pass/fail against --atol / --rtol "
               "(|b - a| <= atol + rtol * |a|); exit 1 when any output fails. --per-tensor also compares the "
               "intermediate tensors ONNX models share by name and names the first layer whose error jumps.")


def add_arguments(parser) -> None:
    input_path(parser, "models", nargs="+", help="the reference model first, then the ones to compare with it")
    src = parser.add_mutually_exclusive_group()
    add_data_argument(src, "inputs fed to both models")
    src.add_argument("--random", type=int, metavar="N", help="N seeded random samples in the reference's input shape")
    parser.add_argument("--atol", type=float, default=1e-3, help="absolute tolerance (default 1e-3)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
    parser.add_argument("--per-tensor", action="store_true", help="compare intermediate tensors (ONNX models)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random (default 0)")


def run(args):
    from ...compare import compare
    from .. import EXIT_CHECK_FAILED, EXIT_OK, CommandResult

    report = compare(args.models, data=args.data, random=args.random, atol=args.atol, rtol=args.rtol,
                     per_tensor=args.per_tensor, seed=args.seed)
    return CommandResult(data=report.to_dict(), text=report.text(),
                         exit_code=EXIT_OK if report.passed else EXIT_CHECK_FAILED)
