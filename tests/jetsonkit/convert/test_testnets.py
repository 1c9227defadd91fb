"""The converter on the shared conv + BatchNorm + residual test net (Add, global pooling, BN folding)."""

from __future__ import annotations

import numpy as np

from .conftest import nhwc, run_tflite


def test_conv_residual_net_fp32_and_int8(session_tmp):
    import onnxruntime as ort
    import torch

    from jetsonkit.convert import convert_tflite
    from support import testnets

    model, example = testnets.build("conv_residual_net")
    path = session_tmp / "resnet_small.onnx"
    torch.onnx.export(model, (example,), str(path), input_names=["input"], output_names=["logits"], opset_version=17,
                      dynamo=False, dynamic_axes={"input": {0: "batch"}})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, *example.shape[1:])).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    r32 = convert_tflite(path, session_tmp / "res.fp32.tflite")
    assert "ADD" in r32.ops and "MEAN" in r32.ops
    np.testing.assert_allclose(run_tflite(r32.path, nhwc(x)), ref, atol=1e-4)
    calib = rng.standard_normal((128, *example.shape[1:])).astype(np.float32)
    r8 = convert_tflite(path, session_tmp / "res.int8.tflite", precision="int8", data=calib)
    out = run_tflite(r8.path, nhwc(x))
    cos = (out * ref).sum(1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.mean() > 0.98


def test_layout_changes_keep_onnx_element_order(tmp_path):
    """Conv -> Reshape (4-D) -> Flatten as the output: the NHWC <-> NCHW transposes must restore ONNX order."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from jetsonkit.convert import convert_tflite

    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((3, 2, 1, 1)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, 3, 4, 3], np.int64), "shape")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Reshape", ["c", "shape"], ["r"], name="reshape"),
             helper.make_node("Flatten", ["r"], ["y"], name="flatten", axis=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 36])], [w, shape])
    path = tmp_path / "layout.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    r = convert_tflite(path, tmp_path / "layout.tflite")
    assert r.ops.get("TRANSPOSE") == 1  # once to ONNX order before the first reshape; the rest stays in it
    np.testing.assert_allclose(run_tflite(r.path, nhwc(x)), ref, atol=1e-5)


def test_flatten_before_fully_connected_needs_no_transpose(tflite_models):
    assert "TRANSPOSE" not in tflite_models["fp32"].ops and "TRANSPOSE" not in tflite_models["int8"].ops
