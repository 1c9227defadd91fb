"""``--data``, ``--plan`` and ``--trt-version`` mean one thing on every command: each is defined once
(``jetsonkit.cli.args``), and no command spells its own."""

from __future__ import annotations

import ast
from pathlib import Path

from jetsonkit.cli import build_parser
from jetsonkit.cli.args import DATA_FORMS

COMMANDS = Path(__file__).resolve().parents[3] / "jetsonkit" / "cli" / "commands"
SHARED = ("--data", "--plan", "--trt-version")


def _subparsers():
    return next(a for a in build_parser()._actions if a.dest == "command").choices


def test_no_command_declares_a_shared_flag_itself():
    found = [f"{p.name}:{n.lineno}: {n.value}" for p in sorted(COMMANDS.glob("*.py"))
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(n, ast.Constant) and n.value in SHARED]
    assert found == []


def test_every_data_flag_names_the_same_forms():
    with_data = {name: next(a for a in sub._actions if "--data" in a.option_strings)
                 for name, sub in _subparsers().items() if "--data" in sub._option_string_actions}
    assert {"calibrate", "convert", "evaluate", "prune", "qat", "quantize", "compare"} <= set(with_data)
    for name, action in with_data.items():
        assert DATA_FORMS in action.help, f"{name} --data: {action.help}"
        assert getattr(action, "path_role", None) == "input", name


def test_every_plan_flag_is_a_precision_plan_file_read():
    with_plan = {name: sub._option_string_actions["--plan"] for name, sub in _subparsers().items()
                 if "--plan" in sub._option_string_actions}
    assert {"quantize", "qat", "build"} <= set(with_plan)
    for name, action in with_plan.items():
        assert "precision plan file" in action.help and getattr(action, "path_role", None) == "input", name
