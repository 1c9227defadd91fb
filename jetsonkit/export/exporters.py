"""Run one of torch's two ONNX exporters, fall back to the other, and explain a failure.

- ``legacy``: the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``). It names nodes after the
  module path (``/features/features.0/Conv``), which precision plans and reports can refer to, and it is fast
  (0.2 s for the MNIST CNN here). Deprecated by torch since 2.9 but present in 2.13.
- ``dynamo``: the ``torch.export``-based exporter (``dynamo=True``, torch's default since 2.9). It handles more
  Python (data-dependent control flow via torch.export) and reads ``.pt2`` programs, but names nodes
  ``node_conv2d_1`` (renamed afterwards from its scope metadata, see ``cleanup.name_nodes_by_module``) and takes
  seconds; its lowest implemented opset is 18, converted down to the requested one.

``auto`` tries legacy first for its names, then dynamo; the result says which ran and why. When both fail on an
operator, :func:`locate_op` runs the model once under a dispatch mode to name the module that calls it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Any

from .._deps import require
from ..errors import UnsupportedError

__all__ = ["EXPORTERS", "run_exporter", "locate_op"]

EXPORTERS = ("auto", "legacy", "dynamo")
_OP_PATTERNS = (re.compile(r"operator '(?:aten::)?([\w.]+)'"), re.compile(r"aten\.([A-Za-z0-9_]+)\."),
                re.compile(r"aten::([A-Za-z0-9_]+)"))


def run_exporter(model: Any, args: tuple, path: Path, *, exporter: str, opset: int, input_names: list[str],
                 output_names: list[str], dynamic_axes: dict[str, dict[int, str]]) -> tuple[str, list[str]]:
    """Export ``model`` to ``path``; return (exporter that ran, notes such as why the first one failed)."""
    torch = require("torch", purpose="ONNX export")
    order = _exporter_order(torch, model, exporter)
    notes: list[str] = []
    errors: list[tuple[str, BaseException]] = []
    for name in order:
        try:
            _export_with(torch, name, model, args, path, opset, input_names, output_names, dynamic_axes)
        except Exception as exc:  # noqa: BLE001 - both exporters raise many types; the reason is kept and reported
            errors.append((name, exc))
            if len(order) > 1 and name != order[-1]:
                notes.append(f"the {name} exporter failed ({_first_line(exc)}); falling back to {order[-1]}")
            continue
        return name, notes
    raise _explain_failure(torch, model, args, errors)


def _exporter_order(torch, model: Any, exporter: str) -> list[str]:
    if exporter not in EXPORTERS:
        raise UnsupportedError(f"unknown exporter {exporter!r}", hint=f"use one of {', '.join(EXPORTERS)}")
    if isinstance(model, torch.export.ExportedProgram):
        if exporter == "legacy":
            raise UnsupportedError("the legacy exporter cannot read a torch.export program (.pt2)",
                                   hint="use --exporter dynamo or auto")
        return ["dynamo"]
    if isinstance(model, torch.jit.ScriptModule):
        if exporter == "dynamo":
            raise UnsupportedError("the dynamo exporter cannot read a TorchScript program",
                                   hint="use --exporter legacy or auto")
        return ["legacy"]
    return ["legacy", "dynamo"] if exporter == "auto" else [exporter]


def _export_with(torch, name: str, model, args, path, opset, input_names, output_names, dynamic_axes) -> None:
    common = dict(input_names=input_names, output_names=output_names, opset_version=opset,
                  dynamic_axes=dynamic_axes or None)
    with _quiet_torch():
        if name == "legacy":
            torch.onnx.export(model, args, str(path), dynamo=False, do_constant_folding=True, **common)
        else:
            torch.onnx.export(model, args, str(path), dynamo=True, external_data=True, optimize=True,
                              verbose=False, **common)


@contextlib.contextmanager
def _quiet_torch():
    """Silence the exporters' warnings and Python prints, so that ``--json`` keeps stdout clean (the C++ "Torch IR
    graph at exception" dump on file descriptor 1 is the CLI process's to route: :mod:`jetsonkit.cli.streams`);
    errors still propagate."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _explain_failure(torch, model, args, errors: list[tuple[str, BaseException]]) -> UnsupportedError:
    tried = "; ".join(f"{name}: {_first_line(exc)}" for name, exc in errors)
    op = _op_from_errors(errors)
    if op:
        where = locate_op(model, args, op) if isinstance(model, torch.nn.Module) else None
        at = f" in module {where!r}" if where else ""
        err = UnsupportedError(
            f"the ONNX exporters cannot handle operator {op!r}{at} ({tried[:300]})",
            hint="replace that call with supported ops, register a custom symbolic/ONNX function, or try another --opset",
        )
    else:
        err = UnsupportedError(f"ONNX export failed ({tried[:400]})", hint="rerun with --debug for the traceback")
    err.__cause__ = errors[-1][1]
    return err


def _op_from_errors(errors: list[tuple[str, BaseException]]) -> str | None:
    for _, exc in errors:
        text = str(exc)
        for pattern in _OP_PATTERNS:
            m = pattern.search(text)
            if m:
                return m.group(1).split(".")[-1] if "::" not in m.group(1) else m.group(1)
    return None


def locate_op(model, args: tuple, op: str) -> str | None:
    """The dotted path of the innermost module whose forward calls aten ``op`` (``None`` if not seen)."""
    torch = require("torch", purpose="locating an operator")
    from torch.utils._python_dispatch import TorchDispatchMode

    names = {id(m): n for n, m in model.named_modules()}
    stack: list[str] = []
    found: list[str] = []
    wanted = op.lstrip("_")

    class _Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, a=(), kw=None):
            base = func.name().split("::")[-1].split(".")[0].lstrip("_")
            if not found and base == wanted:
                found.append(stack[-1] if stack else "")
            return func(*a, **(kw or {}))

    def enter(module, inputs) -> None:
        stack.append(names.get(id(module), type(module).__name__))

    def leave(module, inputs, output) -> None:  # must return None, or it would replace the module's output
        if stack:
            stack.pop()

    pre = torch.nn.modules.module.register_module_forward_pre_hook(enter)
    post = torch.nn.modules.module.register_module_forward_hook(leave)
    try:
        with torch.no_grad(), _Recorder():
            model(*args)
    except Exception:  # noqa: BLE001 - best effort: the op may only fail in export, not in eager
        pass
    finally:
        pre.remove()
        post.remove()
    if not found:
        return None
    return found[0] or "<top-level forward>"


def _first_line(exc: BaseException) -> str:
    """The informative line of an exporter error (for dynamo, the first line of its "Exception summary")."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if "## Exception summary" in text:
        text = text.split("## Exception summary", 1)[1].strip()
        text = re.sub(r"^<class '[\w.]+'>:\s*", "", text)
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return type(exc).__name__
