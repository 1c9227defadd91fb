"""Argument groups every command shares: one definition of ``--method`` (and each method's options), ``--calib``,
``--trt-version``. Choices and defaults come from their single sources (``calibrators.REGISTRY``,
:mod:`jetsonkit.engine.versions`); nothing heavy is imported here."""

from __future__ import annotations

import argparse

from calibrators.methods import DEFAULT_METHOD, METHODS, OPTIONS, REGISTRY

__all__ = ["add_method_arguments", "method_options", "add_calib_arguments"]


def add_method_arguments(parser: argparse.ArgumentParser, *, default: str | None = DEFAULT_METHOD,
                         help_: str | None = None, options: bool = True) -> None:
    """``--method`` (choices: the registry) and, with ``options``, one flag per option a method declares
    (``--percentile``)."""
    described = "; ".join(f"{m.name}: {m.help}" for m in REGISTRY.values())
    parser.add_argument("--method", choices=METHODS, default=default,
                        help=help_ or f"range method (default {default}). {described}")
    for option in OPTIONS.values() if options else ():
        owners = ", ".join(m.name for m in REGISTRY.values() if option in m.options)
        parser.add_argument(f"--{option.name.replace('_', '-')}", type=option.kind, dest=option.name,
                            help=f"{option.help} (--method {owners}; default {option.default:g})")


def method_options(args: argparse.Namespace) -> dict:
    """The method options given on the command line, checked against ``--method`` (another method's option is a
    UsageError, as in a recipe and in the library)."""
    from ..calibrate import method_settings

    return method_settings(args.method or DEFAULT_METHOD, {name: getattr(args, name, None) for name in OPTIONS})


def add_calib_arguments(parser: argparse.ArgumentParser, *, required: bool = False, help_: str | None = None) -> None:
    """``--calib`` (a table from ``jetsonkit calibrate``) and ``--allow-other-model``."""
    parser.add_argument("--calib", required=required,
                        help=help_ or "calibration table (calib.json from `jetsonkit calibrate`)")
    parser.add_argument("--allow-other-model", action="store_true",
                        help="use a --calib table that records another model's hash (refused by default)")
