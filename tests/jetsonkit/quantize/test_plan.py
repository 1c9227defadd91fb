"""The precision plan: parsing, validation errors, last-match-wins resolution, compilation into the graph."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from jetsonkit.errors import ConfigError
from jetsonkit.quantize.plan import PrecisionPlan, Rule
from jetsonkit.quantize.qdq import quantize_qdq

CONV0, GEMM2 = "/features/features.0/Conv", "/classifier/classifier.2/Gemm"


@pytest.fixture(scope="module")
def model(mnist_onnx):
    return onnx.load(str(mnist_onnx))


def test_last_match_wins_and_explain(model):
    plan = PrecisionPlan([Rule("fp16", op="Gemm"), Rule("fp32", match="/classifier/classifier.2/*"),
                          Rule("int8", regex=r"classifier\.0")])
    d = plan.resolve(model)
    assert d[CONV0].precision == "int8" and d[CONV0].rule == "default"
    assert d[GEMM2].precision == "fp32" and d[GEMM2].rule.startswith("rules[1]")
    assert d["/classifier/classifier.0/Gemm"].precision == "int8"
    assert d["/classifier/classifier.0/Gemm"].rule.startswith("rules[2]")
    text = plan.explain(model)
    assert len(text.splitlines()) == 1 + len(model.graph.node)
    assert f"{GEMM2}  Gemm" in text and "rules[1] match: '/classifier/classifier.2/*' -> fp32" in text
    assert plan.layer_precisions(model) == {CONV0: "int8", "/features/features.3/Conv": "int8",
                                            "/classifier/classifier.0/Gemm": "int8", GEMM2: "fp32"}


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "default: int8\nrules:\n  - op: Gemm\n    precision: fp32\n"),
    (".toml", 'default = "int8"\n[[rules]]\nop = "Gemm"\nprecision = "fp32"\n'),
    (".json", '{"precision_plan": {"rules": [{"op": "Gemm", "precision": "fp32"}]}}'),
])
def test_load_formats(tmp_path, model, suffix, text):
    path = tmp_path / f"plan{suffix}"
    path.write_text(text)
    plan = PrecisionPlan.load(path)
    assert plan.rules == [Rule("fp32", op="Gemm")]
    assert sorted(p for p in plan.layer_precisions(model).values()) == ["fp32", "fp32", "int8", "int8"]


def test_rule_matching_nothing_lists_near_misses(model):
    plan = PrecisionPlan.from_dict({"rules": [{"match": "/feature/features.0/conv", "precision": "fp32"}]}, "p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: rules\[0\] .*matches no layer; near misses: "
                                          r"/features/features\.0/Conv"):
        plan.resolve(model)
    with pytest.raises(ConfigError, match="near misses: Gemm"):
        PrecisionPlan([Rule("fp32", op="Gem")]).resolve(model)


@pytest.mark.parametrize("data,pattern", [
    ({"rules": [{"op": "Gemm", "precision": "int4"}]}, r"rules\[0\]\.precision is 'int4'.*did you mean 'int8'"),
    ({"default": "fp64"}, r"default is 'fp64'"),
    ({"rules": [{"op": "Gemm", "match": "x", "precision": "fp32"}]}, "exactly one of match / regex / op"),
    ({"rules": [{"op": "Gemm", "precison": "fp32"}]}, "unknown key 'precison'"),
    ({"rules": [{"regex": "(", "precision": "fp32"}]}, "not a valid regex"),
    ({"rulez": []}, "unknown key 'rulez'"),
])
def test_bad_plans_name_file_and_key(data, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        PrecisionPlan.from_dict(data, "plan.yaml")
    assert "plan.yaml" in str(info.value) and "\n" not in str(info.value)


def test_yaml_syntax_error_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rules: [\n  - op: Gemm\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml does not parse.*line"):
        PrecisionPlan.load(path)


def test_plan_compiles_into_graph(mnist_onnx, mnist_ranges, mnist_train_1k, tmp_path):
    plan = PrecisionPlan([Rule("fp32", match=GEMM2), Rule("fp16", match=CONV0)])
    result = quantize_qdq(mnist_onnx, mnist_ranges, plan=plan)
    nodes = {n.name: n for n in result.model.graph.node}
    assert all(not t.endswith("_dequantized") for t in nodes[GEMM2].input)
    assert all(not t.endswith("_dequantized") for t in nodes[CONV0].input)
    assert nodes["/features/features.3/Conv"].input[0].endswith("_dequantized")
    assert result.kept_float == {GEMM2: "fp32", CONV0: "fp16"}
    saved = tmp_path / "plan.yaml"
    plan.save(saved, header=["test"])
    assert PrecisionPlan.load(saved).rules == plan.rules
    x = mnist_train_1k[0][:32]
    import onnxruntime as ort

    sess = ort.InferenceSession(result.model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert np.isfinite(sess.run(None, {"input": x})[0]).all()
