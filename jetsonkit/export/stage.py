"""The export stage as one contract: :class:`ExportSettings` (defaults and checks) and :func:`run_export`.

``jetsonkit export``'s flags are read off :class:`ExportSettings` (:mod:`jetsonkit.settings`); :func:`run_export`
takes the model as the command line names it (``package.module:factory``, ``file.py:factory``, ``model.pt``,
``model.pt2``, see :mod:`jetsonkit.modelspec`) or as an ``nn.Module``, the inputs as ``NAME:SHAPE[:DTYPE]`` texts,
and returns :func:`export_onnx`'s :class:`ExportResult`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import InputSpecError, UsageError
from ..settings import SettingError, check, option
from . import DEFAULT_OPSET, EXPORTERS, ExportResult, export_onnx

__all__ = ["ExportSettings", "run_export", "result_text"]

_PARITY = {"atol": 1e-4, "rtol": 1e-4, "random_trials": 2}  # what the parity check uses when not told


@dataclass(frozen=True)
class ExportSettings:
    """How a PyTorch model becomes ONNX and how it is checked against torch."""

    opset: int = option(DEFAULT_OPSET, "ONNX opset (17: TensorRT 8.6 / 10.x / 11.x parse it)")
    exporter: str = option("auto", "torch exporter; auto = legacy (module-path node names), dynamo if legacy fails",
                           choices=EXPORTERS)
    atol: float | None = option(None, f"parity: absolute tolerance (default {_PARITY['atol']:g})", minimum=0)
    rtol: float | None = option(None, f"parity: relative tolerance (default {_PARITY['rtol']:g})", minimum=0)
    random_trials: int | None = option(None, "parity: random input sets besides the example (default "
                                       f"{_PARITY['random_trials']})", minimum=0)
    no_parity: bool = option(False, "skip the parity check")
    no_fold: bool = option(False, "skip constant folding")

    def validate(self) -> None:
        given = [k for k in _PARITY if getattr(self, k) is not None]
        if self.no_parity and given:
            raise SettingError(given[0], f"{given[0]} sets the parity check, which no_parity (--no-parity) skips",
                               hint="drop one or the other")
        from .._deps import require

        require("torch", purpose="ONNX export")  # named first: an install without the export extra lacks both
        newest = require("onnx", purpose="ONNX export").defs.onnx_opset_version()
        if not 7 <= self.opset <= newest:
            raise SettingError("opset", f"opset {self.opset} is outside 7..{newest} (the opsets the installed onnx "
                               "knows)", hint=f"keep the default {DEFAULT_OPSET} (TensorRT 8.6 / 10.x / 11.x parse it)")

    def parity_options(self) -> dict:
        """``export_onnx``'s parity keywords (the defaults filled in)."""
        return {"parity": not self.no_parity, **{k: d if getattr(self, k) is None else getattr(self, k)
                                                 for k, d in _PARITY.items()}}


def _examples(specs) -> tuple:
    import torch

    return tuple(torch.from_numpy(s.example(seed=i)) for i, s in enumerate(specs))


def run_export(model: Any, output: str | os.PathLike, inputs: Sequence[str],
               settings: ExportSettings = ExportSettings(), *, output_names: Sequence[str] | None = None,
               dynamic: Sequence[str] | None = None, weights: str | None = None) -> ExportResult:
    """Export ``model`` (a spec :func:`jetsonkit.modelspec.load_model` reads, or a module) to ``output``.

    ``inputs``: ``NAME:SHAPE[:DTYPE]`` texts (one per forward argument; deterministic example tensors are made from
    them); ``dynamic``: ``--dynamic`` texts (a bare label covers axis 0 of every input and output); ``weights``: a
    state_dict file for a factory spec. Raises CheckFailed (nothing written) when parity fails.
    """
    from .._io import check_output_suffix
    from ..modelspec import load_model
    from ..specs import parse_dynamic, parse_input_spec

    settings = check(settings)
    if not inputs:
        raise UsageError("export needs at least one --input NAME:SHAPE[:DTYPE]",
                         hint="e.g. --input input:1x1x28x28:float32")
    check_output_suffix(output, (".onnx",), "an ONNX model")
    specs = [parse_input_spec(text) for text in inputs]
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputSpecError(f"input name(s) {', '.join(dupes)} given more than once", hint="name each input once")
    # a bare label (--dynamic batch) also covers the outputs; "*" stands for them while their names are unknown
    axes = parse_dynamic(dynamic, specs, list(output_names or []) or ["*"])
    module = load_model(model, weights) if isinstance(model, str) else model
    return export_onnx(module, _examples(specs), output, input_names=names, output_names=output_names or None,
                       dynamic=axes or None, opset=settings.opset, exporter=settings.exporter,
                       fold_constants=not settings.no_fold, **settings.parity_options())


def result_text(result: ExportResult) -> str:
    """:func:`run_export`'s result for people: the file, the exporter's notes, the parity table."""
    lines = [result.summary(), *(f"note: {n}" for n in result.notes)]
    if result.parity:
        lines.append(result.parity.table())
    return "\n".join(lines)
