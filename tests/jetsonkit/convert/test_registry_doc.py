"""The per-op table in docs/tflite.md is the registry's, and the registry names real TFLite ops."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location("gen_tflite_ops", ROOT / "scripts" / "gen_tflite_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_doc_table_is_generated_from_registry():
    from jetsonkit.convert.ops import REGISTRY, markdown_table

    gen = _script()
    text = (ROOT / "docs" / "tflite.md").read_text()
    assert gen.render(text, markdown_table()) == text, "run scripts/gen_tflite_ops.py"
    for op in REGISTRY:
        assert f"\n| {op} |" in text


def test_registry_names_builtin_tflite_ops():
    from jetsonkit.convert.flatbuf import schema
    from jetsonkit.convert.ops import REGISTRY

    builtin = set(vars(schema().BuiltinOperator))
    for spec in REGISTRY.values():
        assert set(spec.tflite) <= builtin, (spec.op, set(spec.tflite) - builtin)
