"""``jetsonkit prune``: 2:4 magnitude pruning of a PyTorch model, optional permutation and fine-tune, checkpoint."""

from __future__ import annotations

import argparse

from ...settings import add_arguments as add_settings_arguments
from ...sparsity.stage import FinetuneSettings, PruneSettings
from .. import CommandResult
from ..args import input_path, output_path, add_data_argument

NAME = "prune"
HELP = "2:4 structured pruning of a PyTorch model (+ channel permutation, + short fine-tune) to a checkpoint"
DESCRIPTION = (HELP + ". The checkpoint loads with torch.load(weights_only=True) and with "
               "`jetsonkit export SPEC --weights pruned.pt`.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model spec: package.module:factory, file.py:factory "
                                      "(e.g. jetsonkit.examples.mnist:build_model)")
    input_path(parser, "--weights", help="state_dict to load into the factory's model (read with weights_only=True)")
    add_settings_arguments(parser, PruneSettings)
    parser.add_argument("--input", metavar="NAME:SHAPE", help="example input for --permute, e.g. input:1x1x28x28 "
                                                             "(default: one sample of --data)")
    g = parser.add_argument_group("fine-tuning (masks stay fixed)")
    g.add_argument("--finetune", action="store_true", help="fine-tune after pruning on --data")
    add_data_argument(g, "fine-tune data")
    add_settings_arguments(g, FinetuneSettings)
    input_path(parser, "--eval", metavar="DATA", help="report top-1 before / after on this data, e.g. mnist:test")
    output_path(parser, "-o", "--output", required=True, help="pruned checkpoint (.pt)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...settings import from_args, refuse_given
    from ...sparsity.stage import run_prune

    tuning = args.finetune or args.distill  # the fine-tune flags need one of them
    finetune = from_args(FinetuneSettings, args) if tuning else refuse_given(FinetuneSettings, args, "--finetune")
    result = run_prune(args.model, from_args(PruneSettings, args), finetune, train=args.data, eval_data=args.eval,
                       example_input=args.input, output=args.output, weights=args.weights,
                       meta={"model_spec": args.model})
    return CommandResult(data={"model": args.model, **result.as_dict()}, text=result.text())
