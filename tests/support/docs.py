"""The generated blocks of the docs: ``scripts/gen_docs.py`` loaded as a module (it is a script, not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def generated(page: str) -> str:
    """The text ``page`` (e.g. ``docs/tflite.md``) should have: its generated blocks rewritten from the registries."""
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generated(page)


def current(page: str) -> str:
    return (ROOT / page).read_text()
