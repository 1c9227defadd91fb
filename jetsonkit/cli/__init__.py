"""The ``jetsonkit`` command line.

Each subcommand is a module in :mod:`jetsonkit.cli.commands` that defines::

    NAME = "export"                     # the subcommand
    HELP = "one line for --help"
    def add_arguments(parser): ...      # argparse arguments; import nothing heavy at module level
    def run(args) -> CommandResult: ... # does the work (heavy imports inside)

Modules are discovered, not listed by hand. Exit codes: 0 ok, 1 a check ran and failed, 2 bad input or usage,
3 an internal error (a bug: please report it with the ``--debug`` traceback), 4 the machine refused (read-only
folder, disk full, permission: the OS reason and the path), 130 interrupted. With ``--json`` every exit prints one
JSON object on stdout.

Before a command runs, its outputs are checked against every file its inputs name (model, spec file, weights, table,
plan, data): no command replaces what it reads. Which arguments are which is declared where they are added
(:func:`jetsonkit.cli.args.input_path` / :func:`~jetsonkit.cli.args.output_path`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Sequence

from .. import __version__
from .args import path_roles
from .streams import configure_logging, native_output
from ..errors import CheckFailed, JetsonkitError

__all__ = ["CommandResult", "main", "build_parser"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_ENVIRONMENT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


@dataclass
class CommandResult:
    """What a subcommand returns: ``data`` for ``--json``, ``text`` for people, and the exit code."""

    data: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    exit_code: int = EXIT_OK


class _ArgumentError(Exception):
    """argparse rejected the command line; ``main`` prints it as one line (and as JSON with ``--json``)."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the command, not the usage block."""

    def error(self, message: str):  # type: ignore[override]
        raise _ArgumentError(self.prog, message)


def _common_options() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    g = common.add_argument_group("output")
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on stdout")
    g.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress, no summary")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    return common


def _command_modules():
    from . import commands

    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog="jetsonkit",
        description="PyTorch to Jetson (TensorRT) and Raspberry Pi (LiteRT), every artifact measured.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"jetsonkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP), parents=[common])
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _paths=path_roles(p))
    return parser


def _emit(args: argparse.Namespace, result: CommandResult) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"ok": result.exit_code == EXIT_OK, **result.data}, indent=2, default=str))
    elif result.text and not getattr(args, "quiet", False):
        print(result.text)


def _one_line(text: str) -> str:
    """An error message as one line: a message from user code or a library may span several (a user's factory
    raising ``RuntimeError("a\\nb")``); the lines are joined, the full text stays in --debug / --json."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _error_json(message: str, kind: str, details: object = None, exit_code: int = EXIT_BAD_INPUT) -> dict:
    return {"ok": False, "error": message, "type": kind, "details": details, "exit_code": exit_code}


def _check_outputs(args: argparse.Namespace) -> None:
    from .._io import refuse_overwriting_inputs

    roles = getattr(args, "_paths", {"input": {}, "output": {}})
    inputs, outputs = ({label: getattr(args, d) for d, label in roles[role].items() if getattr(args, d, None) is not None}
                       for role in ("input", "output"))
    refuse_overwriting_inputs(outputs, inputs)


def main(argv: Sequence[str] | None = None, *, process: bool = False) -> int:
    """Run one command in this interpreter (tests call it). ``process``: this is the ``jetsonkit`` process itself
    (:func:`console_main`), whose native fd output follows --quiet / --json while the command runs."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as exc:
        message = f"{exc} (see `{exc.prog} --help`)"
        if as_json:
            _print_json(_error_json(message, "UsageError"))
        else:
            print(f"{exc.prog}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not getattr(args, "command", None):
        if as_json:
            _print_json(_error_json("no command given (see `jetsonkit --help`)", "UsageError"))
        else:
            parser.print_help()
        return EXIT_BAD_INPUT
    as_json = getattr(args, "json", False)
    configure_logging(getattr(args, "quiet", False) or as_json)
    debug = getattr(args, "debug", False)
    try:
        try:
            _check_outputs(args)
            quiet = getattr(args, "quiet", False)
            with native_output(quiet, as_json) if process else contextlib.nullcontext():
                result = args._run(args)
        except OSError as exc:
            from .._io import from_os_error

            mapped = from_os_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
    except JetsonkitError as exc:
        if debug:
            traceback.print_exc()
        details = getattr(exc, "details", None)
        if as_json:
            _print_json(_error_json(str(exc), type(exc).__name__, details, exc.exit_code))
        else:
            if isinstance(exc, CheckFailed) and isinstance(details, str) and not getattr(args, "quiet", False):
                print(details)
            print(f"jetsonkit {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        if as_json:
            _print_json(_error_json("interrupted", "KeyboardInterrupt", exit_code=EXIT_INTERRUPTED))
        print(f"jetsonkit {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, traceback on --debug
        if debug:
            traceback.print_exc()
        message = (f"internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                   "(rerun with --debug and report it)")
        if as_json:
            _print_json(_error_json(message, "InternalError", type(exc).__name__, EXIT_INTERNAL))
        print(f"jetsonkit {args.command}: {message}", file=sys.stderr)
        return EXIT_INTERNAL
    _emit(args, result)
    return result.exit_code


def console_main() -> None:  # pragma: no cover - thin wrapper
    """The ``jetsonkit`` process: native libraries' fd output follows --quiet / --json (:mod:`.streams`)."""
    sys.exit(main(process=True))
