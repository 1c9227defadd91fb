#!/usr/bin/env python3
"""Write the generated blocks of the docs from the registries they describe.

Each block sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in its page; the tests
(tests/jetsonkit/convert/test_registry_doc.py, tests/calibrators/test_methods_doc.py) fail when one differs from its
registry. Usage: scripts/gen_docs.py [--check]
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (page, block name, module, function returning the block's markdown)
BLOCKS = (
    ("docs/tflite.md", "ops-table", "jetsonkit.convert.ops", "markdown_table"),  # the TFLite op registry
    ("docs/calibration.md", "methods-table", "calibrators.methods", "markdown_table"),  # the range methods
)


def render(text: str, name: str, block: str, page: str = "the page") -> str:
    """``text`` with the section between the markers of block ``name`` replaced by ``block``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    head, sep, rest = text.partition(begin)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise SystemExit(f"{page}: markers {begin} / {end} not found")
    return f"{head}{begin}\n{block}{end}{tail}"


def generated(page: str) -> str:
    """The text ``page`` (relative to the repository) should have: every block of it regenerated."""
    text = (ROOT / page).read_text()
    for doc, name, module, function in BLOCKS:
        if doc == page:
            text = render(text, name, getattr(importlib.import_module(module), function)(), page)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when a page is out of date, write nothing")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    stale = []
    for page in dict.fromkeys(doc for doc, *_ in BLOCKS):
        new = generated(page)
        if new != (ROOT / page).read_text():
            stale.append(page)
            if not args.check:
                (ROOT / page).write_text(new)
    if stale:
        print(("out of date: " if args.check else "wrote ") + ", ".join(stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
