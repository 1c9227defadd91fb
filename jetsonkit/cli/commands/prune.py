"""``jetsonkit prune``: 2:4 magnitude pruning of a PyTorch model, optional permutation and fine-tune, checkpoint."""

from __future__ import annotations

import argparse

from .. import CommandResult
from ..args import input_path, output_path

NAME = "prune"
HELP = "2:4 structured pruning of a PyTorch model (+ channel permutation, + short fine-tune) to a checkpoint"
DESCRIPTION = (HELP + ". The checkpoint loads with torch.load(weights_only=True) and with "
               "`jetsonkit export SPEC --weights pruned.pt`.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model spec: package.module:factory, file.py:factory "
                                      "(e.g. jetsonkit.examples.mnist:build_model)")
    input_path(parser, "--weights", help="state_dict to load into the factory's model (read with weights_only=True)")
    parser.add_argument("--sparsity", default="2:4", help="sparsity pattern; only 2:4 (default)")
    parser.add_argument("--include", action="append", metavar="PATTERN", help="prune only layers matching (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="PATTERN", help="never prune layers matching (repeatable)")
    parser.add_argument("--permute", action="store_true", help="reorder channels first to keep more magnitude")
    parser.add_argument("--input", metavar="NAME:SHAPE", help="example input for --permute, e.g. input:1x1x28x28 "
                                                             "(default: one sample of --data)")
    g = parser.add_argument_group("fine-tuning (masks stay fixed)")
    g.add_argument("--finetune", action="store_true", help="fine-tune after pruning on --data")
    input_path(g, "--data", help="training data: mnist:train[:limit], an .npz with x (and y), an .npy, or a folder")
    g.add_argument("--distill", action="store_true", help="distil from the dense model (labels not needed)")
    g.add_argument("--epochs", type=int, help="passes over --data (default 1)")
    g.add_argument("--lr", type=float, help="Adam learning rate, decays linearly to 0 (default 1e-4)")
    g.add_argument("--batch-size", type=int, help="default 64")
    g.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    input_path(parser, "--eval", metavar="DATA", help="report top-1 before / after on this data, e.g. mnist:test")
    output_path(parser, "-o", "--output", required=True, help="pruned checkpoint (.pt)")


def _check_args(args) -> None:
    from ...errors import UsageError

    if args.sparsity != "2:4":
        raise UsageError(f"--sparsity {args.sparsity!r} is not supported", hint="only 2:4 (NVIDIA sparse tensor cores)")
    if (args.finetune or args.distill) and not args.data:
        raise UsageError("--finetune needs --data", hint="e.g. --data mnist:train:20000")
    if args.permute and not (args.input or args.data):
        raise UsageError("--permute needs an example input to trace the model", hint="pass --input input:1x1x28x28")
    tuning = args.finetune or args.distill
    unused = [flag for flag, value in (("--epochs", args.epochs), ("--lr", args.lr), ("--batch-size", args.batch_size),
                                       ("--max-steps", args.max_steps)) if value is not None and not tuning]
    if args.data and not (tuning or args.permute):
        unused.append("--data")
    if args.input and not args.permute:
        unused.append("--input")
    if unused:
        raise UsageError(f"{', '.join(unused)} would do nothing: they set fine-tuning (--finetune / --distill) "
                         f"or the example input of --permute", hint="add the option they belong to, or drop them")
    for name in ("epochs", "batch_size", "max_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, not {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be > 0, not {args.lr}", hint="e.g. --lr 1e-4")
    args.epochs, args.lr, args.batch_size = args.epochs or 1, args.lr or 1e-4, args.batch_size or 64


def _check_prunable(model, spec: str) -> None:
    from ..._deps import require
    from ...errors import UsageError

    torch = require("torch", purpose="2:4 pruning")
    if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
        raise UsageError(f"{spec!r} is a {type(model).__name__}, whose weights cannot be pruned and saved here",
                         hint="give the model as package.module:factory or file.py:factory (+ --weights)")


def _example_input(args, x):
    from ..._deps import require

    torch = require("torch", purpose="channel permutation")
    if args.input:
        from ...specs import parse_input_spec

        spec = parse_input_spec(args.input)
        return torch.from_numpy(spec.example())
    return torch.from_numpy(x[:1].astype("float32"))


def _check_example(model, example, where: str) -> None:
    """InputSpecError when the model's forward rejects the example input --permute traces with."""
    from ..._deps import require
    from ...errors import InputSpecError

    torch = require("torch", purpose="channel permutation")
    try:
        with torch.no_grad():
            model(example)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError / ValueError / TypeError for a bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputSpecError(f"the model does not accept the example input of --permute ({where}, shape "
                             f"{list(example.shape)}): {first}",
                             hint="give --input the shape the model's forward expects, e.g. input:1x1x28x28") from exc


def run(args: argparse.Namespace) -> CommandResult:
    import copy

    from ..._io import check_output_path, check_output_suffix
    from ...data import load_xy
    from ...modelspec import load_model
    from ...sparsity import finetune, prune_2to4, save_pruned
    from ...sparsity.torchdata import batches, top1

    _check_args(args)
    check_output_suffix(args.output, (".pt", ".pth"), "a pruned checkpoint")
    check_output_path(args.output, inputs=(args.weights,))
    model = load_model(args.model, args.weights)
    _check_prunable(model, args.model)
    dense = copy.deepcopy(model) if args.distill else None
    x = y = None
    if args.data:
        x, y = load_xy(args.data)
    ev = load_xy(args.eval) if args.eval else None
    data: dict = {"model": args.model, "output": args.output, "pattern": "2:4"}
    if ev is not None:
        data["top1_dense"] = top1(model, *ev)
    example = _example_input(args, x) if args.permute else None
    if example is not None:
        _check_example(model, example, args.input or args.data)
    result = prune_2to4(model, include=args.include, exclude=args.exclude, permute=args.permute,
                        example_input=example)
    data.update(result.as_dict())
    if ev is not None:
        data["top1_pruned"] = top1(model, *ev)
    if args.finetune or args.distill:
        loader = batches(x, None if args.distill else y, batch_size=args.batch_size)
        ft = finetune(model, loader, result.masks, teacher=dense, epochs=args.epochs, lr=args.lr,
                      max_steps=args.max_steps)
        data["finetune"] = {**ft.as_dict(), "data": args.data, "lr": args.lr, "batch_size": args.batch_size}
        if ev is not None:
            data["top1_finetuned"] = top1(model, *ev)
    meta = {k: v for k, v in data.items() if k.startswith("top1_")}
    meta.update(model_spec=args.model, permute=bool(args.permute), finetune=data.get("finetune", {}).get("mode", "none"))
    save_pruned(model, args.output, result.pruned_layers, meta=meta)
    return CommandResult(data=data, text=_text(data, result))


def _text(data: dict, result) -> str:
    lines = [result.table()]
    for key, label in (("top1_dense", "dense"), ("top1_pruned", "2:4 pruned"), ("top1_finetuned", "2:4 fine-tuned")):
        if key in data:
            lines.append(f"top-1 {label}: {100 * data[key]:.2f} %")
    lines.append(f"wrote {data['output']} ({len(result.pruned_layers)} layers 2:4)")
    return "\n".join(lines)
