""""Plan" means one thing in jetsonkit: the precision plan (``quantize/plan.py``, ``--plan``, ``stages.quantize.plan``).

What was also called a plan has its own word now: the TensorRT build spec (``engine/spec.py``), the runtime's buffer
sizes (``runtime/trt_buffers.py``), the frame feed (``runtime/frame.py``), calibration's memory split
(``_memory.py``). ``.plan`` stays as TensorRT's engine-file suffix. This test keeps it so: every identifier that
contains "plan" is one of the precision plan's words, the TensorRT packages (engine, runtime) name it in full
(``precision_plan`` / ``PrecisionPlan``), and no module but the precision plan's is named after a plan.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jetsonkit"
PLAN_WORDS = {"plan", "plans", "planned", "planner", "planning"}  # not "plane" (NV12's Y plane), "explanation"
# identifiers that name the precision plan (or a file / flag holding one)
PRECISION_PLAN_WORDS = {"plan", "plans", "PrecisionPlan", "precision_plan", "plan_path", "plan_out", "_auto_plan",
                        "_plan", "_plan_mapping", "planned", "plan_table",
                        "add_precision_plan_argument"}
FULL_NAME_ONLY = ("engine", "runtime")  # no bare "plan" here: a reader of TensorRT code must not guess which one


def has_plan(name: str) -> bool:
    """Does the identifier have "plan" as one of its words (snake_case or CamelCase parts)?"""
    return any(part.lower() in PLAN_WORDS for part in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name))


def plan_identifiers(text: str) -> list[tuple[int, str]]:
    """(line, identifier) of every Python name with "plan" as a word (strings and comments are not names)."""
    return [(t.start[0], t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type == tokenize.NAME and has_plan(t.string)]


def offenders(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        strict = rel.parts[0] in FULL_NAME_ONLY
        allowed = {"precision_plan", "PrecisionPlan"} if strict else PRECISION_PLAN_WORDS
        found += [f"{rel}:{line}: {name}" for line, name in plan_identifiers(path.read_text(encoding="utf-8"))
                  if name not in allowed]
        if has_plan(path.stem) and rel != Path("quantize/plan.py"):
            found.append(f"{rel}: module named after a plan")
    return found


def test_plan_means_the_precision_plan_only():
    assert offenders(PACKAGE) == []


def test_the_check_finds_a_build_plan(tmp_path):
    """The guard fails on what it guards against: a build plan in the engine package, a plan-named module."""
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "builder.py").write_text("def apply(plan):\n    return plan  # a .plan file\n")
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "trt_plan.py").write_text("SUFFIX = '.plan'\nY_plane = 1\n")
    (tmp_path / "quantize").mkdir()
    (tmp_path / "quantize" / "plan.py").write_text("class PrecisionPlan: ...\ndef load(plan): ...\n")
    (tmp_path / "calibrate.py").write_text("def make_plan(): ...\nexplanation = BuildPlan = 0\n")
    assert offenders(tmp_path) == ["calibrate.py:1: make_plan", "calibrate.py:2: BuildPlan", "engine/builder.py:1: plan",
                                   "engine/builder.py:2: plan", "runtime/trt_plan.py: module named after a plan"]
