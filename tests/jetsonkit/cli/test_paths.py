"""Which arguments name files a command reads and which it writes is declared where each argument is added
(``input_path`` / ``output_path``); the check that no output replaces an input reads those declarations."""

from __future__ import annotations

import argparse

import pytest

import jetsonkit.cli as cli
from jetsonkit.cli import build_parser, main
from jetsonkit.cli.args import input_path, output_path, path_roles
from jetsonkit.errors import InputError


def _commands():
    return next(a for a in build_parser()._actions if a.dest == "command").choices


def test_every_command_declares_its_paths():
    """Every positional that is not a fixed choice is a file the command reads; every -o is one it writes."""
    for name, sub in _commands().items():
        roles = path_roles(sub)
        for action in sub._actions:
            if not action.option_strings and action.choices is None:
                assert action.dest in roles["input"], f"{name}: positional {action.dest} is not declared an input"
            if "-o" in action.option_strings:
                assert roles["output"].get(action.dest) == "-o", f"{name}: -o is not declared an output"
        assert not set(roles["input"]) & set(roles["output"]), name
    assert not hasattr(cli, "_INPUTS") and not hasattr(cli, "_OUTPUTS")  # no hand-kept list of names


def test_a_new_commands_declarations_are_what_is_checked(tmp_path):
    parser = argparse.ArgumentParser()
    input_path(parser, "--lut", help="a lookup table the command reads")
    group = parser.add_argument_group("outputs")
    output_path(group, "--out", help="what it writes")
    parser.add_argument("--note", help="not a path: never compared")
    (tmp_path / "lut.bin").write_bytes(b"x")
    args = parser.parse_args(["--lut", str(tmp_path / "lut.bin"), "--out", str(tmp_path / "lut.bin"),
                              "--note", str(tmp_path / "lut.bin")])
    args._paths = path_roles(parser)
    assert args._paths == {"input": {"lut": "--lut"}, "output": {"out": "--out"}}
    with pytest.raises(InputError, match=r"--out '.*lut.bin' is the input --lut"):
        cli._check_outputs(args)
    args.out = str(tmp_path / "other.bin")
    cli._check_outputs(args)


def test_messages_name_the_flag_the_user_typed(tmp_path, capsys, mnist_onnx):
    """build's precision plan is --plan (its dest is precision_plan; the old list called it --precision-plan)."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("rules: []\n")
    assert main(["build", str(mnist_onnx), "--plan", str(plan), "-o", str(plan)]) == 2
    err = capsys.readouterr().err
    assert f"-o {str(plan)!r} is the input --plan" in err and plan.read_text() == "rules: []\n"
