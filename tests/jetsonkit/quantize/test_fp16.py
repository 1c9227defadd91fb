"""FP16 graph with FP32 islands (the plan compiled for strongly typed TensorRT 11), run in ONNX Runtime."""

from __future__ import annotations

import onnx
import pytest

from jetsonkit.cli import main
from jetsonkit.errors import UnsupportedError
from jetsonkit.evaluate import agreement
from jetsonkit.quantize.fp16 import to_fp16
from jetsonkit.quantize.plan import PrecisionPlan, Rule

GEMM2 = "/classifier/classifier.2/Gemm"


def test_fp16_graph_with_fp32_island(mnist_onnx, mnist_test):
    model = to_fp16(mnist_onnx, PrecisionPlan([Rule("fp32", match=GEMM2)]))
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types["classifier.2.weight"] == onnx.TensorProto.FLOAT
    assert types["features.0.weight"] == types["classifier.0.weight"] == onnx.TensorProto.FLOAT16
    gemm = next(n for n in model.graph.node if n.name == GEMM2)
    producer = {o: n for n in model.graph.node for o in n.output}
    assert producer[gemm.input[0]].op_type == "Cast"  # fp16 -> fp32 fence in front of the island
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    a = agreement(model, mnist_onnx, mnist_test[0][:1000])
    assert a.top1_agreement >= 0.998 and a.cosine > 0.9999
    assert 0 < a.max_abs_error < 0.5  # really computed in fp16
    assert model.ByteSize() < 0.55 * onnx.load(str(mnist_onnx)).ByteSize()


def test_all_fp16_has_only_io_casts(mnist_onnx):
    model = to_fp16(mnist_onnx)
    assert [n.op_type for n in model.graph.node].count("Cast") == 2


def test_refuses_qdq_model_and_cli(mnist_onnx, mnist_ranges, tmp_path, capsys):
    from jetsonkit.quantize.qdq import quantize_qdq

    with pytest.raises(UnsupportedError, match="holds Q/DQ"):
        to_fp16(quantize_qdq(mnist_onnx, mnist_ranges).model)
    plan, out = tmp_path / "plan.yaml", tmp_path / "m.fp16.onnx"
    plan.write_text(f"rules:\n  - match: '{GEMM2}'\n    precision: fp32\n")
    assert main(["quantize", str(mnist_onnx), "--fp16", "--plan", str(plan), "-o", str(out)]) == 0
    assert "Cast node(s)" in capsys.readouterr().out
    assert onnx.load(str(out)).graph.initializer
