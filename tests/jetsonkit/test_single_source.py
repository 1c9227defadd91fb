"""Every option list has one source: the CLI's choices, the recipe's checks and the library read the same tuple."""

from __future__ import annotations

import ast
from pathlib import Path

import calibrators
from jetsonkit.cli import build_parser
from jetsonkit.convert import tflite
from jetsonkit.engine import options as engine_options
from jetsonkit.pipeline import recipe

REPO = Path(__file__).resolve().parents[2]


def _choices(command: str, dest: str):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    return tuple(next(a for a in sub._actions if a.dest == dest).choices)


def test_calibration_methods():
    assert calibrators.METHODS == tuple(calibrators.REGISTRY)
    for command in ("calibrate", "convert"):
        assert _choices(command, "method") == calibrators.METHODS
    # every option a method declares is a flag of `calibrate` and a key of the recipe's calibration section
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["calibrate"]
    flags = {a.dest for a in sub._actions}
    assert set(calibrators.OPTIONS) <= flags
    assert set(calibrators.OPTIONS) <= {f for f in recipe.CalibrationConfig.__dataclass_fields__}


def test_precisions():
    assert _choices("convert", "precision") == tflite.PRECISIONS == recipe.PRECISIONS["tflite"]
    assert _choices("build", "precision") == engine_options.PRECISIONS
    assert set(recipe.PRECISIONS["tensorrt"]) < set(engine_options.PRECISIONS)
    assert _choices("build", "int8_mode") == engine_options.INT8_MODES
    assert _choices("convert", "io") == tflite.IO_TYPES and _choices("convert", "input_layout") == tflite.LAYOUTS


def test_tensorrt_versions_are_compared_in_versions_py_only():
    """No raw ``major >= 10`` outside jetsonkit/engine/versions.py: the runtime and the planner ask TrtVersion.
    (Scanned: the packages that handle TensorRT; a GPU's compute capability, e.g. in doctor.py, is another number.)"""
    found = []
    files = [p for pkg in ("engine", "runtime", "pipeline", "cli") for p in (REPO / "jetsonkit" / pkg).rglob("*.py")]
    assert len(files) > 30
    for path in sorted(files):
        if path.name == "versions.py" and path.parent.name == "engine":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                text = ast.unparse(node)
                names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "") for n in ast.walk(node)}
                if names & {"major", "trt_major"} and any(isinstance(n, ast.Constant) for n in ast.walk(node)):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {text}")
    assert found == []
