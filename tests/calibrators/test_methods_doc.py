"""The method table in docs/calibration.md is the registry's (scripts/gen_docs.py writes it)."""

from __future__ import annotations

import calibrators
from calibrators import methods
from support.docs import current, generated

PAGE = "docs/calibration.md"


def test_doc_table_is_generated_from_the_registry():
    text = current(PAGE)
    assert generated(PAGE) == text, "run scripts/gen_docs.py"
    for name in calibrators.METHODS:
        assert f"\n| `{name}`" in text
    assert f"| `{calibrators.DEFAULT_METHOD}` (default) |" in text


def test_a_new_method_or_option_makes_the_doc_stale(monkeypatch):
    text = current(PAGE)
    option = methods.MethodOption("clip", float, 2.0, "clip at this many std", 0.0, 10.0)
    monkeypatch.setitem(methods.REGISTRY, "sigma", methods.Method("sigma", methods.minmax_amax, "k std", (option,)))
    new = generated(PAGE)
    assert new != text and "| `sigma` | k std | `--clip` / `calibration.clip`: clip at this many std (2) |" in new
