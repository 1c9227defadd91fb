"""Read a YAML file into plain data plus the line of every key, so that recipe errors can name file, key and line.

PyYAML composes a node tree whose nodes carry ``start_mark`` (0-based line and column); the values come from
``yaml.safe_load`` of the same text, so both walks see the same structure. Paths are tuples of keys (strings) and
list indices (ints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._deps import require
from ..errors import ConfigError

__all__ = ["LocatedYaml", "load_located_yaml"]

KeyPath = tuple  # a key path: ("stages", "prune", "finetune", "epochs")


@dataclass
class LocatedYaml:
    """The file's data and the 1-based line of each key path."""

    file: str
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def where(self, path: KeyPath) -> str:
        """``recipe.yaml:12: key 'stages.prune.lr'`` (the key part is left out for the root)."""
        line = self.line(path)
        loc = f"{self.file}:{line}" if line else self.file
        return f"{loc}: key {dotted(path)!r}" if path else loc


def dotted(path: KeyPath) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def _walk(file: str, node: Any, path: KeyPath, lines: dict[KeyPath, int], ancestors: tuple = ()) -> None:
    """Record the line of every key; a key that appears twice in one mapping, or an alias that contains itself
    (``a: &x [*x]``), is a ConfigError naming the lines (PyYAML would keep the last key / recurse forever)."""
    yaml = require("yaml", purpose="reading recipes")
    if any(node is a for a in ancestors):
        raise ConfigError(f"{file}:{node.start_mark.line + 1}: key {dotted(path)!r}: a YAML alias refers to itself",
                          hint="replace the alias (*name) by the value it should repeat")
    ancestors = (*ancestors, node)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key, line = str(key_node.value), key_node.start_mark.line + 1
            child = path + (key,)
            if key in first and key != "<<":
                raise ConfigError(f"{file}:{line}: key {dotted(child)!r} appears twice (lines {first[key]} and "
                                  f"{line})", hint="keep one of them: YAML would silently use the last")
            first[key] = line
            lines[child] = line
            _walk(file, value_node, child, lines, ancestors)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(file, item, path + (i,), lines, ancestors)


def load_located_yaml(path: str | Path) -> LocatedYaml:
    """Parse ``path``; a syntax error becomes a ConfigError naming file and line."""
    yaml = require("yaml", purpose="reading recipes")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"recipe {str(p)!r} does not exist", hint="check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read recipe {str(p)!r}: {exc}", hint="pass a UTF-8 YAML file") from exc
    lines: dict[KeyPath, int] = {}
    try:
        root = yaml.compose(text)
        if root is not None:
            _walk(str(p), root, (), lines)  # first: duplicate keys and self-referencing aliases never reach the data
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: YAML does not parse: {problem}", hint="fix the YAML syntax on that line") from exc
    return LocatedYaml(str(p), data, lines)
