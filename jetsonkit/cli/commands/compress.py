"""``jetsonkit compress recipe.yaml -o out/``: every target of a recipe, every artifact measured, one report."""

from __future__ import annotations

from ..args import input_path, output_path

NAME = "compress"
HELP = "run a recipe: export, 2:4 prune, calibrate once, quantize, convert/build every target, measure, report"
DESCRIPTION = (HELP + ". Finished stages are reused on the next run (content-hashed); a TensorRT target on a machine "
               "without TensorRT gets its Q/DQ ONNX and build spec and is reported as 'not built here'. Exit 1 when "
               "the recipe has budgets and no artifact meets them.")


def add_arguments(parser) -> None:
    input_path(parser, "recipe", help="recipe file (YAML), e.g. jetsonkit/examples/mnist_recipe.yaml")
    output_path(parser, "-o", "--output", default="jetsonkit-out", help="output folder (default jetsonkit-out/)")
    parser.add_argument("--target", action="append", metavar="NAME", help="only this target (repeatable)")
    parser.add_argument("--force", action="store_true", help="rerun every stage even when it is up to date")


def run(args):
    from ...pipeline import compress
    from .. import CommandResult

    result = compress(args.recipe, args.output, force=args.force, targets=args.target)
    return CommandResult(data=result.report, text=result.summary_text())
