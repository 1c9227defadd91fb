"""The precision plan: per-layer int8 / fp16 / fp32 rules, applied in order, last match wins.

A plan file (YAML, TOML or JSON) holds, at top level or under a ``precision_plan`` section::

    default: int8              # precision of every quantizable layer (Conv, ConvTranspose, Gemm, MatMul, Add, pool)
    rules:                     # applied in order; the last rule that matches a layer decides it
      - match: "/classifier/*" # glob on the ONNX node name
        precision: fp32
      - regex: "attn.*MatMul"  # Python regular expression, searched in the node name
        precision: fp16
      - op: Gemm               # ONNX op type
        precision: int8

A rule that matches no layer is an error listing the nearest names (difflib), as is an unknown precision or key.
The plan is compiled two ways: into the graph (:func:`jetsonkit.quantize.quantize_qdq` puts no Q/DQ around a
layer that is not int8) and into builder settings for TensorRT <= 10 (:meth:`PrecisionPlan.layer_precisions`,
the ONNX parser names TensorRT layers after the ONNX nodes).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .._deps import require
from .._io import write_text_atomic
from ..errors import ConfigError
from .placement import default_float_nodes, node_names, quantizable_nodes

__all__ = ["PRECISIONS", "Rule", "Decision", "PrecisionPlan"]

PRECISIONS = ("int8", "fp16", "fp32")
_SELECTORS = ("match", "regex", "op")
_RULE_KEYS = set(_SELECTORS) | {"precision", "note"}


@dataclass(frozen=True)
class Rule:
    """One rule: exactly one selector (``match`` glob, ``regex`` or ``op``) and a ``precision``."""

    precision: str
    match: str | None = None
    regex: str | None = None
    op: str | None = None
    note: str | None = None

    def selector(self) -> tuple[str, str]:
        return next((k, getattr(self, k)) for k in _SELECTORS if getattr(self, k) is not None)

    def describe(self) -> str:
        key, value = self.selector()
        return f"{key}: {value!r} -> {self.precision}"

    def matches(self, name: str, op: str) -> bool:
        if self.match is not None:
            return fnmatch.fnmatchcase(name, self.match)
        if self.regex is not None:
            return re.search(self.regex, name) is not None
        return op == self.op


@dataclass(frozen=True)
class Decision:
    """A layer's final precision and what decided it (``rule`` is "default", "float layer" or a rule)."""

    precision: str
    rule: str
    op: str
    quantizable: bool


@dataclass
class PrecisionPlan:
    """Ordered precision rules (last match wins) over a default for quantizable layers."""

    rules: list[Rule] = field(default_factory=list)
    default: str = "int8"
    source: str = "<plan>"

    def __post_init__(self) -> None:
        _check_precision(self.default, self.source, "default")
        for i, rule in enumerate(self.rules):
            _check_precision(rule.precision, self.source, f"rules[{i}].precision")
            if rule.regex is not None:
                _compile_regex(rule.regex, self.source, f"rules[{i}].regex")

    # -- building ------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "<plan>") -> "PrecisionPlan":
        """A plan from a parsed mapping (the file's top level or its ``precision_plan`` section)."""
        if isinstance(data, dict) and "precision_plan" in data:
            data = data["precision_plan"]
        if not isinstance(data, dict):
            raise ConfigError(f"precision plan {source} is not a mapping", hint="write 'rules: [...]' at top level")
        unknown = set(data) - {"rules", "default"}
        if unknown:
            raise ConfigError(f"precision plan {source}: unknown key {sorted(unknown)[0]!r}",
                              hint="allowed keys: default, rules")
        rules_data = data.get("rules") or []
        if not isinstance(rules_data, list):
            raise ConfigError(f"precision plan {source}: key 'rules' must be a list", hint="rules: [{match: ..., precision: ...}]")
        rules = [_rule_from_dict(r, source, i) for i, r in enumerate(rules_data)]
        return cls(rules, str(data.get("default", "int8")), source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PrecisionPlan":
        """Read a plan from a ``.yaml`` / ``.yml``, ``.toml`` or ``.json`` file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"precision plan {str(path)!r} not found", hint="pass an existing plan file")
        return cls.from_dict(_parse_file(path), str(path))

    # -- applying ------------------------------------------------------------------------------------------
    def resolve(self, model: Any, *, strict: bool = True) -> dict[str, Decision]:
        """Every node's final precision and the rule that decided it, in graph order.

        Quantizable layers start at ``default``, except a transformer's attention MatMuls / residual Adds and a
        detection decode (kept in fp32, the reason given: ``placement.default_float_nodes``); other layers run in
        floating point (fp32 unless a rule says fp16). An int8 rule on a layer with no INT8 form leaves it in floating point and says so. With
        ``strict``, a rule that matches no node raises ConfigError listing the near misses.
        """
        quantizable = quantizable_nodes(model)
        floats = default_float_nodes(model)
        names = node_names(model)
        ops = [n.op_type for n in model.graph.node]
        decisions = {}
        for name, op in zip(names, ops):
            q = name in quantizable
            if name in floats:
                decisions[name] = Decision("fp32", floats[name] if q else f"float layer ({floats[name]})", op, q)
            else:
                decisions[name] = Decision(self.default if q else "fp32", "default" if q else "float layer", op, q)
        for i, rule in enumerate(self.rules):
            hits = [(n, op) for n, op in zip(names, ops) if rule.matches(n, op)]
            if not hits and strict:
                raise ConfigError(_no_match_message(self.source, i, rule, names, ops), hint="fix or remove the rule")
            for name, op in hits:
                q = name in quantizable
                if rule.precision == "int8" and not q:
                    decisions[name] = Decision("fp32", f"rules[{i}] {rule.describe()} (no INT8 form for {op})", op, q)
                else:
                    decisions[name] = Decision(rule.precision, f"rules[{i}] {rule.describe()}", op, q)
        return decisions

    def layer_precisions(self, model: Any) -> dict[str, str]:
        """Node name -> precision for the layers TensorRT <= 10 should be told about (quantizable or ruled)."""
        return {n: d.precision for n, d in self.resolve(model).items() if d.quantizable or d.rule.startswith("rules[")}

    def explain(self, model: Any) -> str:
        """A table of every layer's final precision and the rule that decided it."""
        decisions = self.resolve(model)
        width = max([len(n) for n in decisions] + [5])
        lines = [f"{'layer':<{width}}  {'op':<18} {'precision':<9}  decided by"]
        for name, d in decisions.items():
            lines.append(f"{name:<{width}}  {d.op:<18} {d.precision:<9}  {d.rule}")
        return "\n".join(lines)

    # -- writing -------------------------------------------------------------------------------------------
    def to_yaml(self, header: Iterable[str] = ()) -> str:
        """The plan as an editable YAML file (notes become comments)."""
        out = [f"# {line}" for line in header]
        out.append(f"default: {self.default}")
        out.append("rules:" if self.rules else "rules: []")
        for rule in self.rules:
            key, value = rule.selector()
            if rule.note:
                out.append(f"  # {rule.note}")
            out.append(f"  - {key}: {json.dumps(value)}")
            out.append(f"    precision: {rule.precision}")
        return "\n".join(out) + "\n"

    def save(self, path: str | os.PathLike, header: Iterable[str] = ()) -> Path:
        """Write the plan as YAML (or JSON for a ``.json`` path), atomically."""
        path = Path(path)
        if path.suffix == ".json":
            data = {"default": self.default, "rules": [
                {k: v for k, v in vars(r).items() if v is not None} for r in self.rules]}
            return write_text_atomic(path, json.dumps(data, indent=2) + "\n")
        return write_text_atomic(path, self.to_yaml(header))


def _check_precision(value: Any, source: str, key: str) -> None:
    if value not in PRECISIONS:
        near = difflib.get_close_matches(str(value), PRECISIONS, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"use one of {', '.join(PRECISIONS)}"
        raise ConfigError(f"precision plan {source}: {key} is {value!r}, not one of {', '.join(PRECISIONS)}",
                          hint=hint)


def _compile_regex(pattern: str, source: str, key: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"precision plan {source}: {key} {pattern!r} is not a valid regex: {exc}",
                          hint="escape special characters or use 'match' with a glob") from exc


def _rule_from_dict(data: Any, source: str, i: int) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(data, dict):
        raise ConfigError(f"precision plan {source}: {where} is not a mapping", hint="write {match: ..., precision: ...}")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise ConfigError(f"precision plan {source}: {where} has unknown key {sorted(unknown)[0]!r}",
                          hint=f"allowed keys: {', '.join(sorted(_RULE_KEYS))}")
    selectors = [k for k in _SELECTORS if k in data]
    if len(selectors) != 1:
        raise ConfigError(f"precision plan {source}: {where} needs exactly one of match / regex / op (has "
                          f"{', '.join(selectors) or 'none'})", hint="split it into one rule per selector")
    if "precision" not in data:
        raise ConfigError(f"precision plan {source}: {where} has no 'precision'", hint="add precision: int8|fp16|fp32")
    _check_precision(data["precision"], source, f"{where}.precision")
    return Rule(precision=data["precision"], note=data.get("note"), **{selectors[0]: str(data[selectors[0]])})


def _parse_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            return require("yaml", purpose="YAML precision plans").safe_load(text)
        if path.suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                tomllib = require("tomli", purpose="TOML precision plans on Python 3.10")
            return tomllib.loads(text)
        if path.suffix == ".json":
            return json.loads(text)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - YAML / TOML / JSON parse errors carry the line
        raise ConfigError(f"precision plan {path} does not parse: {' '.join(str(exc).split())}",
                          hint="fix the syntax at the line shown") from exc
    raise ConfigError(f"precision plan {path} has an unknown extension {path.suffix!r}",
                      hint="use .yaml, .toml or .json")


def _no_match_message(source: str, i: int, rule: Rule, names: list[str], ops: list[str]) -> str:
    key, value = rule.selector()
    pool = sorted(set(ops)) if key == "op" else names
    probe = value.replace("*", "").replace("?", "") if key == "match" else value
    near = difflib.get_close_matches(probe, pool, n=3, cutoff=0.4)
    if not near and key != "op":
        near = difflib.get_close_matches(value, pool, n=3, cutoff=0.3)
    shown = f"; near misses: {', '.join(near)}" if near else "; no similar names"
    return f"precision plan {source}: rules[{i}] ({key}: {value!r}) matches no layer{shown}"
