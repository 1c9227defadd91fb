"""Library messages go through the ``jetsonkit`` logger; only the CLI prints or redirects file descriptors."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _library_files():
    for pkg in ("jetsonkit", "calibrators"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            if "cli" not in path.relative_to(REPO / pkg).parts:
                yield path


def _main_block_lines(tree: ast.Module) -> set[int]:
    """Lines of ``if __name__ == "__main__":`` blocks (a script's entry point, not the library)."""
    lines: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            lines.update(range(node.lineno, node.end_lineno + 1))
    return lines


def _calls(names: set[str]):
    for path in _library_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        script = _main_block_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.lineno not in script:
                name = ast.unparse(node.func)
                if name in names:
                    yield f"{path.relative_to(REPO)}:{node.lineno}: {name}"


def test_no_library_module_prints():
    assert list(_library_files()), "no library files found"
    assert list(_calls({"print"})) == []


def test_no_library_module_redirects_file_descriptors():
    assert list(_calls({"os.dup2", "os.dup", "contextlib.redirect_stderr"})) == []


def test_a_library_warning_is_a_log_record(mnist_onnx, mnist_train_1k, caplog):
    from jetsonkit.calibrate import calibrate

    with caplog.at_level(logging.INFO, logger="jetsonkit"):
        calibrate(mnist_onnx, mnist_train_1k[0][:40], "minmax", batch_size=40)
    warnings = [r for r in caplog.records if r.name == "jetsonkit" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "calibrating with 40 samples" in warnings[0].getMessage()
    assert any(r.levelno == logging.INFO and "computing minmax ranges" in r.getMessage() for r in caplog.records)


def test_cli_shows_info_on_stderr_unless_quiet(mnist_onnx, tmp_path, capsys):
    from jetsonkit.cli import main

    args = ["calibrate", str(mnist_onnx), "--data", "mnist:train:40", "--method", "minmax"]
    assert main(args + ["-o", str(tmp_path / "a.json")]) == 0
    err = capsys.readouterr().err
    assert "computing minmax ranges" in err and "warning: calibrating with 40 samples" in err
    assert main(["--quiet"] + args + ["-o", str(tmp_path / "b.json")]) == 0
    err = capsys.readouterr().err
    assert "computing minmax ranges" not in err and "warning: calibrating with 40 samples" in err
