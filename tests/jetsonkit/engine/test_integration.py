"""The build spec fed by the other areas' real outputs: a calibration table from jetsonkit.calibrate, a Q/DQ graph
from jetsonkit.quantize, a PrecisionPlan file — all on the real MNIST model and data."""

from __future__ import annotations

import json

import pytest

from jetsonkit.engine.engine import build_spec_for
from jetsonkit.engine.options import BuildSettings, parse_profiles
from jetsonkit.errors import IncompatibleArtifactError, InputError, UnsupportedError

PROFILE = parse_profiles(["input:1x1x28x28,32x1x28x28,64x1x28x28"])


@pytest.fixture(scope="module")
def calib(mnist_onnx, mnist_train_1k, tmp_path_factory):
    from jetsonkit.calibrate import calibrate

    path = tmp_path_factory.mktemp("calib") / "calib.json"
    calibrate(mnist_onnx, mnist_train_1k[0][:128], method="entropy", output=path)
    return path


@pytest.fixture(scope="module")
def qdq_onnx(mnist_onnx, calib, tmp_path_factory):
    import calibrators

    from jetsonkit.quantize import quantize_qdq

    path = tmp_path_factory.mktemp("qdq") / "mnist.qdq.onnx"
    quantize_qdq(str(mnist_onnx), calibrators.CalibrationTable.load(calib), path)
    return path


def test_implicit_int8_from_the_real_table(mnist_onnx, calib):
    opts = BuildSettings(precision="int8", int8_mode="calibrator", calibration=str(calib), profiles=PROFILE,
                        calibration_shapes={"input": (32, 1, 28, 28)})
    spec = build_spec_for(mnist_onnx, opts, "10.3")
    assert spec.int8["mode"] == "calibrator" and spec.calibration_profile == 0
    n = int(next(n for n in spec.notes if n.startswith("calibration table")).split()[2])
    assert n >= 4  # at least the inputs of the 4 weighted layers
    with pytest.raises(UnsupportedError, match="removed implicit INT8"):
        build_spec_for(mnist_onnx, opts, "11.4")


def test_table_for_another_model_is_refused(mnist_onnx, calib, tmp_path):
    import onnx

    model = onnx.load(str(mnist_onnx))
    model.doc_string = "another model"
    other = tmp_path / "other.onnx"
    onnx.save(model, other)
    opts = BuildSettings(precision="int8", int8_mode="cache", calibration=str(calib), profiles=PROFILE)
    with pytest.raises(IncompatibleArtifactError, match="made for model sha256"):
        build_spec_for(other, opts, "8.6")


@pytest.mark.parametrize("version, flags", [("8.6", ["INT8"]), ("10.3", ["INT8"]), ("11.4", [])])
def test_qdq_graph_specs_on_every_version(qdq_onnx, version, flags):
    spec = build_spec_for(qdq_onnx, BuildSettings(precision="int8", profiles=PROFILE), version)
    assert spec.int8["mode"] == "qdq" and spec.builder_flags == flags


def test_precision_plan_file(mnist_onnx, qdq_onnx, tmp_path):
    path = tmp_path / "precision-plan.json"
    path.write_text(json.dumps({"default": "int8", "rules": [{"match": "/classifier/*", "precision": "fp32"}]}))
    opts = BuildSettings(precision="int8", precision_plan=str(path), profiles=PROFILE)
    spec10 = build_spec_for(qdq_onnx, opts, "10.3")
    assert spec10.layer_precisions["/classifier/classifier.2/Gemm"] == "fp32"
    assert spec10.layer_precisions["/features/features.0/Conv"] == "int8"
    assert spec10.layer_precision_mode == "builder" and "OBEY_PRECISION_CONSTRAINTS" in spec10.builder_flags
    with pytest.raises(InputError, match="asks INT8 for some layers"):  # an FP32 graph cannot honour int8 entries
        build_spec_for(mnist_onnx, BuildSettings(precision="fp16", precision_plan=str(path), profiles=PROFILE), "10.3")
    spec_cli = build_spec_for(mnist_onnx, BuildSettings(precision_plan={"/Flatten": "fp32"}, profiles=PROFILE), "11.4")
    assert spec_cli.layer_precision_mode == "graph"
