"""The per-op table in docs/tflite.md is the registry's, and the registry names real TFLite ops."""

from __future__ import annotations

from support.docs import current, generated


def test_doc_table_is_generated_from_registry():
    from jetsonkit.convert.ops import REGISTRY

    text = current("docs/tflite.md")
    assert generated("docs/tflite.md") == text, "run scripts/gen_docs.py"
    for op in REGISTRY:
        assert f"\n| {op} |" in text


def test_registry_names_builtin_tflite_ops():
    from jetsonkit.convert.flatbuf import schema
    from jetsonkit.convert.ops import REGISTRY

    builtin = set(vars(schema().BuiltinOperator))
    for spec in REGISTRY.values():
        assert set(spec.tflite) <= builtin, (spec.op, set(spec.tflite) - builtin)
