"""Argument groups every command shares: ``--calib`` (+ ``--allow-other-model``), the image-folder options, and the
marks that declare an argument a file the command reads or writes. A stage's own options (``--method`` and each
method's options among them) are the fields of its settings dataclass (:mod:`jetsonkit.settings`). Nothing heavy is
imported here."""

from __future__ import annotations

import argparse

__all__ = ["add_calib_arguments", "add_data_argument", "add_precision_plan_argument", "add_trt_version_argument",
           "add_image_arguments", "image_preprocess", "input_path", "output_path", "path_roles", "DATA_FORMS"]

# What a --data argument may name: the grammar of jetsonkit.data.DataSpec.parse, said once for every command.
DATA_FORMS = ("mnist:<train|val|test>[:limit] (the bundled real MNIST), a .npy / .npz file (x, and labels y), a "
              "folder of .npy / .npz samples, a folder of images (class sub-folders give labels), a COCO or YOLO "
              "folder, or mnist_det:<train|test>[:count]")


def input_path(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *flags: str, **kwargs) -> argparse.Action:
    """``parser.add_argument(*flags, **kwargs)`` for an argument that names files the command reads (a model, a
    spec file, weights, a table, a plan, data): no output of the same command may be one of them."""
    action = parser.add_argument(*flags, **kwargs)
    action.path_role = "input"  # type: ignore[attr-defined]
    return action


def output_path(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *flags: str, **kwargs) -> argparse.Action:
    """``parser.add_argument(*flags, **kwargs)`` for an argument that names a file or folder the command writes."""
    action = parser.add_argument(*flags, **kwargs)
    action.path_role = "output"  # type: ignore[attr-defined]
    return action


def path_roles(parser: argparse.ArgumentParser) -> dict[str, dict[str, str]]:
    """``{"input": {dest: label}, "output": {dest: label}}`` as the parser's arguments declare them
    (:func:`input_path` / :func:`output_path`); the label is what messages call it (``model``, ``-o``, ``--calib``)."""
    roles: dict[str, dict[str, str]] = {"input": {}, "output": {}}
    for action in parser._actions:
        role = getattr(action, "path_role", None)
        if role:
            roles[role][action.dest] = action.option_strings[0] if action.option_strings else action.dest
    return roles


def add_calib_arguments(parser: argparse.ArgumentParser, *, required: bool = False, help_: str | None = None) -> None:
    """``--calib`` (a table from ``jetsonkit calibrate``) and ``--allow-other-model``."""
    input_path(parser, "--calib", required=required,
               help=help_ or "calibration table (calib.json from `jetsonkit calibrate`)")
    parser.add_argument("--allow-other-model", action="store_true",
                        help="use a --calib table that records another model's hash (refused by default)")


def add_data_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, purpose: str,
                      **kwargs) -> argparse.Action:
    """The one ``--data`` definition: ``purpose`` (what the command does with it) then the forms it accepts."""
    default = kwargs.get("default")
    tail = f"; default {default}" if default else ""
    return input_path(parser, "--data", help=f"{purpose}: {DATA_FORMS}{tail}", **kwargs)


def add_precision_plan_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                                purpose: str) -> argparse.Action:
    """The one ``--plan`` definition: a precision plan file (per-layer precisions, from ``jetsonkit quantize
    --auto-budget`` or written by hand), and what this command does with it."""
    return input_path(parser, "--plan",
                      help=f"precision plan file (.yaml / .toml / .json, per-layer precisions): {purpose}")


def add_trt_version_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, purpose: str, *,
                             default: str | None = None) -> argparse.Action:
    """The one ``--trt-version`` definition (checked against the known TensorRT versions where it is used)."""
    tail = f" (default {default})" if default else ""
    return parser.add_argument("--trt-version", metavar="X.Y[.Z]", help=f"TensorRT version {purpose}{tail}")


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


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """How images from a folder become the model's input (``--image-size``, ``--mean``, ``--std``, ...)."""
    g = parser.add_argument_group("image folders")
    g.add_argument("--image-size", type=_size, help="resize to HxW (default: the model's input size)")
    g.add_argument("--mean", type=_floats, default=(0.0,), help="per-channel mean after scaling to [0, 1]")
    g.add_argument("--std", type=_floats, default=(1.0,), help="per-channel std after scaling to [0, 1]")
    g.add_argument("--layout", choices=("NCHW", "NHWC"), help="default: read off the model input")
    g.add_argument("--resize", choices=("stretch", "letterbox", "center_crop"),
                   help="how an image meets the input size (default: the spec stored in the model, else stretch)")
    g.add_argument("--color", choices=("rgb", "bgr", "gray"), help="channel order the network takes")


def image_preprocess(args: argparse.Namespace, model: str):
    """The pre-processing :func:`add_image_arguments`' flags ask for (the model's stored spec fills the rest)."""
    from ..data.images import preprocess_options

    return preprocess_options(model, size=args.image_size, layout=args.layout, resize=args.resize, color=args.color,
                              mean=None if args.mean == (0.0,) else args.mean,
                              std=None if args.std == (1.0,) else args.std)
