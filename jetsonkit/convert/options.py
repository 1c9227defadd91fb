"""``ConvertSettings``: the convert stage's options, their defaults and checks (numpy only).

Below both :mod:`.tflite` (``convert_tflite`` checks its arguments with it) and :mod:`.stage` (``run_convert``,
the CLI and a recipe's TFLite target read it), so neither imports the other to reach it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from calibrators.methods import DEFAULT_METHOD  # numpy-only: the one registry of range methods

from ..settings import option

__all__ = ["ConvertSettings", "DEFAULT_LIMIT", "PRECISIONS", "IO_TYPES", "LAYOUTS", "parse_shape"]

PRECISIONS, IO_TYPES, LAYOUTS = ("fp32", "fp16", "int8"), ("float", "int8"), ("nhwc", "nchw")
DEFAULT_LIMIT = 1000  # calibration samples read from a data spec when no limit is given (an array is used whole)


def _methods() -> tuple:
    import calibrators

    return calibrators.METHODS


def parse_shape(text: str) -> tuple[int, ...]:
    """``1x3x640x640`` -> ``(1, 3, 640, 640)`` (an argparse ``type``: bad text is ArgumentTypeError)."""
    try:
        dims = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape of positive sizes (e.g. 1x3x640x640)")
    return dims


@dataclass(frozen=True)
class ConvertSettings:
    """How an ONNX model becomes a .tflite: ``jetsonkit convert``'s flags and a recipe TFLite target's keys."""

    to: str = option("tflite", "target format", choices=("tflite",), recipe=False)
    precision: str = option("fp32", "fp32, fp16, or full-integer int8 (int8 needs --data)", choices=PRECISIONS)
    io: str = option("float", "int8 model: float I/O (quantized inside) or int8 I/O", choices=IO_TYPES,
                     recipe=False)
    input_layout: str = option("nhwc", "layout callers feed 4-D inputs in (nhwc: a camera's layout)", choices=LAYOUTS)
    input_shape: tuple[int, ...] | None = option(
        None, "ONNX model with dynamic H / W (a detector): the size to convert at, e.g. 1x3x640x640",
        parse=parse_shape, metavar="NxCxHxW", recipe=False)
    limit: int | None = option(None, f"calibration samples used: the first N of --data (default {DEFAULT_LIMIT})",
                               minimum=1, recipe=False)
    method: str | None = option(None, "without --calib: the range method of the table made here (default "
                                f"{DEFAULT_METHOD}, as `jetsonkit calibrate`)", choices=_methods, recipe=False)
