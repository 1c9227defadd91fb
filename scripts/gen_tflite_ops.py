#!/usr/bin/env python3
"""Write the per-op table of docs/tflite.md from the op registry (jetsonkit.convert.ops.REGISTRY).

The table sits between the markers ``<!-- ops-table:begin -->`` and ``<!-- ops-table:end -->``;
tests/jetsonkit/convert/test_registry_doc.py fails when it differs from the registry. Usage:
scripts/gen_tflite_ops.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "tflite.md"
BEGIN, END = "<!-- ops-table:begin -->", "<!-- ops-table:end -->"


def render(text: str, table: str) -> str:
    """``text`` with the section between the markers replaced by ``table``."""
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{DOC}: markers {BEGIN} / {END} not found")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 when the doc is out of date, write nothing")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from jetsonkit.convert.ops import markdown_table

    text = DOC.read_text()
    new = render(text, markdown_table())
    if args.check:
        return 0 if new == text else 1
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
