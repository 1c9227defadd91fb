"""Input specs and dynamic axes, as written on the command line.

An input spec is ``NAME:SHAPE[:DTYPE]`` with SHAPE as ``1x3x224x224`` (``images:1x3x224x224:float32``); DTYPE
defaults to float32. A dynamic-axis spec is either a label alone (``batch``: axis 0 of every input and output) or
``NAME:AXIS[=LABEL]`` (``images:2=height``). Parsing needs numpy only; errors are one-line
:class:`~jetsonkit.errors.InputSpecError` naming the spec and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import InputSpecError

__all__ = ["InputSpec", "parse_input_spec", "parse_dynamic", "DTYPES"]

# spec dtype name -> numpy dtype (torch dtypes are looked up by the same name where torch is used)
DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "float64": np.float64,
    "int64": np.int64,
    "int32": np.int32,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}
_ALIASES = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16", "long": "int64", "int": "int32"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_FORMAT = "NAME:SHAPE[:DTYPE], e.g. images:1x3x224x224:float32"


@dataclass(frozen=True)
class InputSpec:
    """One model input: its ONNX name, example shape and dtype name (a key of :data:`DTYPES`)."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        return f"{self.name}:{'x'.join(map(str, self.shape))}:{self.dtype}"

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(DTYPES[self.dtype])

    def example(self, seed: int = 0) -> np.ndarray:
        """A deterministic example array of this shape and dtype (normal floats, small non-negative integers)."""
        rng = np.random.default_rng(seed)
        if self.dtype == "bool":
            return rng.integers(0, 2, self.shape).astype(np.bool_)
        if np.issubdtype(self.numpy_dtype, np.integer):
            return rng.integers(0, 10, self.shape).astype(self.numpy_dtype)
        return rng.standard_normal(self.shape).astype(self.numpy_dtype)


def parse_input_spec(text: str) -> InputSpec:
    """Parse ``NAME:SHAPE[:DTYPE]`` into an :class:`InputSpec`."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputSpecError(f"input spec {text!r} does not parse", hint=f"write {_FORMAT}")
    name, shape_text = parts[0], parts[1]
    if not _NAME.match(name):
        raise InputSpecError(f"input spec {text!r}: {name!r} is not a valid input name", hint=f"write {_FORMAT}")
    dims = shape_text.lower().split("x")
    if not all(d.isdigit() and int(d) > 0 for d in dims):
        raise InputSpecError(
            f"input spec {text!r}: shape {shape_text!r} must be positive integers joined by 'x'",
            hint="give the example shape, e.g. 1x3x224x224, and mark dynamic axes with --dynamic",
        )
    dtype = _ALIASES.get(parts[2].lower(), parts[2].lower()) if len(parts) == 3 else "float32"
    if dtype not in DTYPES:
        raise InputSpecError(f"input spec {text!r}: unknown dtype {parts[2]!r}", hint=f"use one of {', '.join(DTYPES)}")
    return InputSpec(name, tuple(int(d) for d in dims), dtype)


def parse_dynamic(items: list[str] | None, inputs: list[InputSpec], outputs: list[str]) -> dict[str, dict[int, str]]:
    """Turn ``--dynamic`` values into ``{tensor name: {axis: label}}`` for inputs and outputs.

    ``batch`` (a bare label) makes axis 0 of every input and output dynamic under that label;
    ``NAME:AXIS[=LABEL]`` marks one axis of one input (label defaults to ``NAME_AXIS``).
    """
    axes: dict[str, dict[int, str]] = {}
    by_name = {s.name: s for s in inputs}
    for item in items or []:
        if ":" not in item:
            if not _NAME.match(item):
                raise InputSpecError(f"dynamic axis {item!r} does not parse", hint="write a label (batch) or NAME:AXIS[=LABEL]")
            for name in [*by_name, *outputs]:
                axes.setdefault(name, {})[0] = item
            continue
        name, _, rest = item.partition(":")
        axis_text, _, label = rest.partition("=")
        if name not in by_name:
            raise InputSpecError(
                f"dynamic axis {item!r} names input {name!r}, which is not among the inputs ({', '.join(by_name) or 'none'})",
                hint="use a name given with --input",
            )
        if not axis_text.lstrip("-").isdigit():
            raise InputSpecError(f"dynamic axis {item!r}: axis {axis_text!r} is not an integer", hint="write NAME:AXIS[=LABEL]")
        rank = len(by_name[name].shape)
        axis = int(axis_text)
        if not -rank <= axis < rank:
            raise InputSpecError(
                f"dynamic axis {item!r}: input {name!r} has shape {by_name[name].shape} (rank {rank}), no axis {axis}",
                hint=f"use an axis in 0..{rank - 1}",
            )
        axes.setdefault(name, {})[axis % rank] = label or f"{name}_{axis % rank}"
    return axes
