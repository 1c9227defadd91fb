"""Layout (NHWC for cameras, NCHW on request), int8 I/O, metadata and calibration-table reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import nhwc, run_tflite


def test_nchw_input_matches_nhwc_model(mnist_onnx, mnist_test, tflite_outputs, session_tmp):
    from jetsonkit.convert import convert_tflite

    r = convert_tflite(mnist_onnx, session_tmp / "nchw.tflite", input_layout="nchw")
    assert r.metadata["inputs"][0]["shape"] == [1, 1, 28, 28] and r.metadata["input_layout"] == "NCHW"
    x = mnist_test[0][:500]
    np.testing.assert_allclose(run_tflite(r.path, x), tflite_outputs["fp32"][:500], atol=1e-5)


def test_metadata_embedded_and_sidecar(tflite_models, mnist_onnx):
    from jetsonkit._io import sha256_file
    from jetsonkit.convert import read_metadata

    r = tflite_models["int8"]
    meta = read_metadata(r.path)
    assert meta == json.loads(r.sidecar.read_text())
    assert meta["input_layout"] == "NHWC" and meta["precision"] == "int8" and meta["io"] == "float"
    assert meta["inputs"][0] == {"name": "input", "shape": [1, 28, 28, 1], "dtype": "float32", "layout": "NHWC",
                                 "quantization": None}
    assert meta["source_sha256"] == sha256_file(mnist_onnx)


def test_int8_io(mnist_onnx, mnist_train_1k, mnist_test, session_tmp):
    from jetsonkit.convert import convert_tflite
    from jetsonkit.convert.quant import QParams, quantize_tensor

    r = convert_tflite(mnist_onnx, session_tmp / "io8.tflite", precision="int8", data=mnist_train_1k[0], io="int8")
    qin, qout = r.metadata["inputs"][0]["quantization"], r.metadata["outputs"][0]["quantization"]
    assert r.metadata["inputs"][0]["dtype"] == "int8" and r.metadata["outputs"][0]["dtype"] == "int8"
    x, y = mnist_test[0][:2000], mnist_test[1][:2000]
    xq = quantize_tensor(nhwc(x), QParams.per_tensor(qin["scale"], qin["zero_point"]))
    out = run_tflite(r.path, xq)
    assert out.dtype == np.int8
    logits = (out.astype(np.float32) - qout["zero_point"]) * qout["scale"]
    assert float((logits.argmax(1) == y).mean()) >= 0.985
    assert "QUANTIZE" not in r.ops and "DEQUANTIZE" not in r.ops


def test_calibration_table_ranges_are_imposed(mnist_onnx, mnist_train_1k, session_tmp):
    """A table from calibrators (what `jetsonkit calibrate` writes) sets the int8 scales, not our own observation."""
    calibrators = pytest.importorskip("calibrators")
    from jetsonkit.convert import convert_tflite

    collector = calibrators.HistogramCollector()
    collector.update("input", mnist_train_1k[0])
    table = calibrators.CalibrationTable.from_collector(collector, "minmax")
    table.tensors["input"].amax = 3.5  # a value no observation would give
    path = table.save(session_tmp / "calib.json")
    r = convert_tflite(mnist_onnx, session_tmp / "table.tflite", precision="int8", data=mnist_train_1k[0][:200],
                       calib=path, io="int8")
    assert r.metadata["inputs"][0]["quantization"]["scale"] == pytest.approx(3.5 / 127, rel=1e-6)
    assert r.ranges_source.get("table") == 1 and sum(r.ranges_source.values()) == 8


@pytest.mark.parametrize("io", ["float", "int8"])
def test_nchw_int8_loads_in_litert_and_matches_nhwc(mnist_onnx, mnist_train_1k, mnist_test, session_tmp, io):
    """The NCHW->NHWC TRANSPOSE of an int8 model carries the input's scale / zero point, so LiteRT (XNNPACK)
    loads the model; its predictions on real MNIST equal those of the NHWC int8 model from the same data."""
    from ai_edge_litert.interpreter import Interpreter

    from jetsonkit.convert import convert_tflite
    from jetsonkit.convert.quant import QParams, quantize_tensor

    calib = mnist_train_1k[0][:300]
    r_nchw = convert_tflite(mnist_onnx, session_tmp / f"nchw.int8.{io}.tflite", precision="int8", data=calib,
                            io=io, input_layout="nchw")
    r_nhwc = convert_tflite(mnist_onnx, session_tmp / f"nhwc.int8.{io}.tflite", precision="int8", data=calib,
                            io=io)
    it = Interpreter(model_path=str(r_nchw.path))
    it.allocate_tensors()
    for t in it.get_tensor_details():
        if t["dtype"] == np.int8:
            assert t["quantization_parameters"]["scales"].size, f"int8 tensor {t['name']!r} has no quantization"
    x, y = mnist_test[0][:2000], mnist_test[1][:2000]
    if io == "int8":
        q = r_nchw.metadata["inputs"][0]["quantization"]
        assert q == r_nhwc.metadata["inputs"][0]["quantization"]
        qp = QParams.per_tensor(q["scale"], q["zero_point"])
        out_nchw, out_nhwc = run_tflite(r_nchw.path, quantize_tensor(x, qp)), run_tflite(r_nhwc.path,
                                                                                         quantize_tensor(nhwc(x), qp))
    else:
        out_nchw, out_nhwc = run_tflite(r_nchw.path, x), run_tflite(r_nhwc.path, nhwc(x))
    assert r_nchw.ops.get("TRANSPOSE") == 1
    np.testing.assert_array_equal(out_nchw.argmax(1), out_nhwc.argmax(1))
    assert float((out_nchw.argmax(1) == y).mean()) >= 0.985


def test_entropy_table_keeps_int8_near_fp32(mnist_onnx, mnist_train_1k, mnist_test, onnx_reference, session_tmp):
    """`jetsonkit calibrate --method entropy` then `jetsonkit convert --calib`: int8 top-1 on the 10k test split
    within 0.5 point of the fp32 ONNX model (measured: 99.05 % for both, 99.98 % agreement)."""
    pytest.importorskip("calibrators")
    from jetsonkit.calibrate import calibrate
    from jetsonkit.convert import convert_tflite

    table = calibrate(mnist_onnx, "mnist:train:1000", "entropy")
    path = table.save(session_tmp / "entropy.json")
    r = convert_tflite(mnist_onnx, session_tmp / "entropy.int8.tflite", precision="int8", data="mnist:train:1000",
                       calib=path)
    assert r.ranges_source["table"] == 4
    x, y = mnist_test
    out = run_tflite(r.path, nhwc(x))
    fp32 = float((onnx_reference.argmax(1) == y).mean())
    assert float((out.argmax(1) == y).mean()) >= fp32 - 0.005
    assert float((out.argmax(1) == onnx_reference.argmax(1)).mean()) >= 0.995
