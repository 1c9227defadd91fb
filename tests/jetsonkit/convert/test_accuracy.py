"""Issue 8's accuracy and size gates, on the real MNIST 10k test split."""

from __future__ import annotations

import numpy as np

from jetsonkit.examples.mnist import FP32_TEST_TOP1


def _top1(logits, y):
    return float((logits.argmax(1) == y).mean())


def test_fp32_tflite_equals_onnxruntime(tflite_outputs, onnx_reference):
    assert tflite_outputs["fp32"].shape == onnx_reference.shape
    assert np.abs(tflite_outputs["fp32"] - onnx_reference).max() <= 1e-4


def test_fp16_within_a_tenth_of_a_point(tflite_outputs, onnx_reference, mnist_test):
    y = mnist_test[1]
    assert abs(_top1(tflite_outputs["fp16"], y) - _top1(onnx_reference, y)) <= 0.001


def test_int8_accuracy_and_agreement(tflite_outputs, onnx_reference, mnist_test):
    y = mnist_test[1]
    assert abs(_top1(onnx_reference, y) - FP32_TEST_TOP1) < 1e-9  # the reference really is the 99.05 % model
    assert _top1(tflite_outputs["int8"], y) >= FP32_TEST_TOP1 - 0.005
    agreement = float((tflite_outputs["int8"].argmax(1) == onnx_reference.argmax(1)).mean())
    assert agreement >= 0.98


def test_int8_file_at_most_three_tenths_of_fp32(tflite_models):
    assert tflite_models["int8"].size_bytes <= 0.3 * tflite_models["fp32"].size_bytes
    assert tflite_models["fp16"].size_bytes <= 0.55 * tflite_models["fp32"].size_bytes


def test_int8_is_full_integer(tflite_models):
    """Every compute op reads int8 (read from the flatbuffer): only QUANTIZE / DEQUANTIZE touch float."""
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromPackedBuf(tflite_models["int8"].path.read_bytes(), 0)
    graph = model.subgraphs[0]
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    ops = [(names[model.operatorCodes[o.opcodeIndex].builtinCode], o) for o in graph.operators]
    for name, op in ops:
        if name not in ("QUANTIZE", "DEQUANTIZE"):
            assert graph.tensors[op.inputs[0]].type == s.TensorType.INT8, name
            assert graph.tensors[op.outputs[0]].type == s.TensorType.INT8, name
    assert [n for n, _ in ops].count("QUANTIZE") == 1 and [n for n, _ in ops].count("DEQUANTIZE") == 1
