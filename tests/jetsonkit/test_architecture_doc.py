"""docs/architecture.md and the README's layout name only what the tree holds.

Every backticked path (``jetsonkit/engine/spec.py``, ``quantize/plan.py``, ``trt_api/<version>.json``: relative to
the repository, ``jetsonkit/`` or ``tests/``; ``<...>`` is any name) exists, every bare file name (``nms.py``) is a
file of jetsonkit/, calibrators/, scripts/ or tests/, and every dotted name (``jetsonkit.engine.run_build``) is a
module, or a name a module defines, imports or lists for lazy import. The README's layout block names folders and
files that exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASES = (REPO, REPO / "jetsonkit", REPO / "tests")


def _path_exists(text: str) -> bool:
    pattern = re.sub(r"\*+", "*", re.sub(r"<[^>]+>", "*", text))
    if "/" not in pattern:
        return any(any(base.rglob(pattern)) for base in (REPO / "jetsonkit", REPO / "calibrators", REPO / "scripts", REPO / "tests"))
    return any(any(base.glob(pattern)) if "*" in pattern else (base / pattern).exists() for base in BASES)


def _defined(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # a lazy-import table names what the package offers
    return names


def _dotted_exists(text: str) -> bool:
    parts = text.split(".")
    for i in range(len(parts), 0, -1):
        module = REPO.joinpath(*parts[:i])
        source = next((p for p in (module.with_suffix(".py"), module / "__init__.py") if p.is_file()), None)
        if source is not None:
            return i == len(parts) or parts[i] in _defined(source)
    return False


def unknown_names(markdown: str) -> list[str]:
    bad = []
    for token in sorted(set(re.findall(r"`([^`\s]+)`", markdown))):
        token = token.rstrip(".,;:")
        if token.startswith("-") or "://" in token:
            continue
        if "/" in token or token.endswith(".py"):
            if not _path_exists(token):
                bad.append(token)
        elif re.fullmatch(r"(jetsonkit|calibrators)(\.\w+)+", token) and not _dotted_exists(token):
            bad.append(token)
    return bad


def test_the_checker_catches_a_stale_name():
    assert unknown_names("`jetsonkit/convert/registry.py`, `nms.py`, `jetsonkit.engine.run_build`") == []
    assert unknown_names("`jetsonkit/convert/gone.py`, `gone.py`, `jetsonkit.engine.no_such_name`, "
                         "`jetsonkit.nowhere`") == ["gone.py", "jetsonkit.engine.no_such_name", "jetsonkit.nowhere",
                                                    "jetsonkit/convert/gone.py"]


def test_architecture_doc_names_only_what_exists():
    assert unknown_names((REPO / "docs" / "architecture.md").read_text(encoding="utf-8")) == []


def test_readme_layout_names_only_what_exists():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    missing, folder = [], None
    for line in block.splitlines():
        head = re.match(r"^([\w.-]+/)\s", line)
        if head:
            folder = REPO / head.group(1)
            if not folder.is_dir():
                missing.append(head.group(1))
        prose = re.sub(r"\([^)]*\)", "", line[len(head.group(0)):] if head else line)  # parentheses are prose
        for name in re.findall(r"(?<![\w./-])([\w-]+(?:/|\.(?:py|sh|md)))(?=[\s,;:]|$)", prose):
            if folder is not None and not (folder / name).exists() and not (REPO / name).exists():
                missing.append(name)
    assert missing == []
