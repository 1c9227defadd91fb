"""Stage settings: one dataclass per stage holds its defaults and its checks; the CLI flags and the recipe section
are read off it, so the three never drift apart.

A field is declared with :func:`option`::

    @dataclass(frozen=True)
    class QatSettings:
        epochs: int = option(1, "passes over the training data", minimum=1)
        batchnorm: str = option("fold", "fold BatchNorm into the conv, or freeze it", choices=("fold", "freeze"))

:func:`check` validates an instance (:class:`SettingError` names the field); :func:`add_arguments` turns the fields
into ``--kebab-case`` flags; :func:`from_args` builds the instance from parsed flags (a UsageError naming the flag);
the recipe loader builds the same class from its YAML section (a ConfigError naming file, key and line).
"""

from __future__ import annotations

import argparse
import difflib
import types
import typing
from dataclasses import MISSING, Field, field, fields
from typing import Any, Callable

from .errors import UsageError

__all__ = ["option", "check", "SettingError", "add_arguments", "from_args", "given", "refuse_given", "flag",
           "usage_error"]


class SettingError(ValueError):
    """A setting's value is not allowed; ``key`` names the field, ``hint`` the fix (optional)."""

    def __init__(self, key: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.key = key
        self.hint = hint


def option(default: Any = MISSING, help: str = "", *, choices: tuple | Callable[[], tuple] | None = None,
           minimum: float | None = None, positive: bool = False, cli: bool = True, recipe: bool = True,
           parse: Callable[[str], Any] | None = None, metavar: str | None = None,
           flags: tuple[str, ...] | None = None, path: str | None = None) -> Any:
    """A settings field: its default, one line of help, and its checks (``choices`` -- a tuple or a function
    returning one, read from the option's single source --, ``minimum``, ``positive``). ``cli`` / ``recipe``:
    whether the command line / a recipe section offers it. ``parse``: how the flag's text becomes the value (an
    argparse ``type``: raise ``argparse.ArgumentTypeError``) when the field's type is not a plain str / int / float;
    ``metavar``: the flag's value as help shows it. A ``tuple[str, ...]`` field is a repeatable flag (unless it has
    ``parse``: then one flag's text gives the whole tuple, e.g. ``--input-shape 1x3x640x640``). ``flags``: the
    flag's spellings when they are not ``--field-name`` (the first names the field in errors; the rest are aliases,
    e.g. trtexec's). ``path``: ``"input"`` / ``"output"`` for a field that names a file the command reads / writes
    (:func:`jetsonkit.cli.args.input_path`)."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "positive": positive, "cli": cli, "recipe": recipe,
            "parse": parse, "metavar": metavar, "flags": flags, "path": path}
    return field(default=default, metadata=meta)


def choices_of(f: Field) -> tuple | None:
    c = f.metadata.get("choices")
    return c() if callable(c) else c


def check(settings: Any) -> Any:
    """``settings`` unchanged, or SettingError naming the first field whose value is not allowed. Checks that
    involve several fields live in the class's ``validate()`` method (called last, raises SettingError)."""
    for f in fields(settings):
        value, meta = getattr(settings, f.name), f.metadata
        if value is None:
            continue
        allowed = choices_of(f)
        if allowed is not None and value not in allowed:
            near = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            raise SettingError(f.name, f"{value!r} is not one of {', '.join(map(str, allowed))}",
                               hint=f"did you mean {near[0]!r}?" if near else None)
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise SettingError(f.name, f"{f.name} must be >= {meta['minimum']}, got {value}")
        if meta.get("positive") and not value > 0:
            raise SettingError(f.name, f"{f.name} must be > 0, got {value}")
    validate = getattr(settings, "validate", None)
    if callable(validate):
        validate()
    return settings


def flag(name: str, cls: type | None = None) -> str:
    """The command-line spelling of field ``name`` (of ``cls``: its declared ``flags`` first)."""
    declared = next((f.metadata.get("flags") for f in fields(cls) if f.name == name), None) if cls else None
    return declared[0] if declared else "--" + name.replace("_", "-")


def _base_type(tp: Any) -> Any:
    """``int`` for ``int | None``; other types as they are (``tuple[str, ...]`` stays a tuple)."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return tp
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return args[0] if args else tp


def add_arguments(parser: argparse.ArgumentParser | Any, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """One ``--flag`` per field of ``cls`` offered on the command line (bools become ``store_true``)."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in skip or not f.metadata.get("cli", False):
            continue
        tp = _base_type(hints[f.name])
        default = f"default {f.default}" if f.default not in (None, MISSING, False, ()) else ""
        text = "; ".join(x for x in (f.metadata.get("help", ""), default) if x)
        names = f.metadata.get("flags") or (flag(f.name),)
        if tp is bool:
            action = parser.add_argument(*names, action="store_true", dest=f.name, help=text)
        elif typing.get_origin(tp) is tuple and not f.metadata.get("parse"):  # tuple[str, ...]: repeat the flag
            action = parser.add_argument(*names, action="append", type=typing.get_args(tp)[0], dest=f.name,
                                         metavar=f.metadata.get("metavar") or f.name.upper(),
                                         help=f"{text} (repeatable)")
        else:
            action = parser.add_argument(*names, type=f.metadata.get("parse") or tp, dest=f.name,
                                         choices=choices_of(f), help=text, default=None,
                                         metavar=f.metadata.get("metavar"))
        if f.metadata.get("path"):
            action.path_role = f.metadata["path"]  # the mark jetsonkit.cli.args.input_path / output_path set


def given(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` whose flags were given on the command line, with their values (an unset flag keeps the
    field's default; 0 is a value); repeated flags as a tuple."""
    out = {}
    for f in fields(cls):
        value = getattr(args, f.name, None)
        if f.metadata.get("cli", False) and value is not None and value is not False:
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def refuse_given(cls: type, args: argparse.Namespace, needs: str) -> None:
    """None, or a UsageError naming the flags of ``cls`` that were given although ``needs`` (the flag that turns
    them on) was not: they would do nothing."""
    names = [flag(name, cls) for name in given(cls, args)]
    if names:
        raise UsageError(f"{', '.join(names)} would do nothing without {needs}", hint=f"add {needs}, or drop them")


def from_args(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """``cls`` from the flags given (the rest keep their defaults) plus ``extra``; UsageError names the flag."""
    given_ = given(cls, args)
    try:
        return check(cls(**{**given_, **extra}))
    except SettingError as exc:
        raise usage_error(exc, cls) from None


def usage_error(exc: SettingError, cls: type | None = None) -> UsageError:
    """``exc`` as the command line says it (``cls``: the settings class, for its declared flags):
    "batch_size must be >= 1, got 0" -> "--batch-size must be >= 1, got 0"."""
    text, name = str(exc), flag(exc.key, cls)
    if text.startswith(exc.key):
        text = name + text[len(exc.key):]
    elif not text.startswith("--"):  # a message that names its flags already stays as it is
        text = f"{name}: {text}"
    return UsageError(text, hint=exc.hint)
