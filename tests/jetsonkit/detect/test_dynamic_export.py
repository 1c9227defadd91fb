"""A YOLO-style export with dynamic height / width through calibrate -> quantize -> TFLite int8 -> evaluate, no plan."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_dynamic_hw_detector_through_int8_and_tflite(held_back, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from jetsonkit.calibrate import calibrate
    from jetsonkit.convert import convert_tflite
    from jetsonkit.detect.evaluate import calibration_batch, evaluate_detection, load_detection_data
    from jetsonkit.examples import detector
    from jetsonkit.export import export_onnx
    from jetsonkit.quantize import quantize_qdq

    onnx_path = tmp_path / "dyn.onnx"
    export_onnx(detector.build_model(), detector.example_input(), onnx_path, input_names=["images"],
                output_names=["output0"], dynamic={"images": {0: "batch", 2: "height", 3: "width"}}, parity=False)
    calib = calibration_batch(load_detection_data("mnist_det:train:128"), (96, 96))
    calibrate(onnx_path, calib, "entropy", output=tmp_path / "calib.json", batch_size=32)
    quantize_qdq(onnx_path, tmp_path / "calib.json", tmp_path / "dyn.qdq.onnx")
    convert_tflite(onnx_path, tmp_path / "dyn.int8.tflite", precision="int8", data=calib,
                   calib=str(tmp_path / "calib.json"), input_shape=(1, 3, 96, 96))
    for artifact in ("dyn.qdq.onnx", "dyn.int8.tflite"):
        res = evaluate_detection(tmp_path / artifact, held_back, reference=onnx_path, imgsz=96)
        assert res["agreement"]["agreement"] >= 0.9, artifact  # the IoU >= 0.8 on >= 90 % of boxes
        assert res["map50_drop_points"] <= 2.0, artifact
