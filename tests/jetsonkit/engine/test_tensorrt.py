"""Real TensorRT: build FP32 / FP16 / INT8-Q/DQ / 2:4-sparse engines of the MNIST CNN, run them, compare with
ONNX Runtime, check the build report and the sidecar. Skipped where TensorRT is not installed (conftest says why);
scripts/jetson_selftest.sh runs them on a Jetson or in NVIDIA's TensorRT container."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tensorrt  # its skip probe also checks for a GPU

PROFILES = [{"input": ((1, 1, 28, 28), (32, 1, 28, 28), (64, 1, 28, 28))}]


def _options(**kw):
    from jetsonkit.engine.options import BuildSettings, profiles_from_mapping

    return BuildSettings(profiles=profiles_from_mapping(PROFILES), **kw)


def _run_both(engine_path, onnx_path, x):
    import onnxruntime as ort

    from jetsonkit.runtime import Runtime

    ref = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with Runtime.open(engine_path, backend="tensorrt") as runner:
        got = runner.infer({"input": x})["logits"]
    return got, ref


@pytest.fixture(scope="module")
def batch(mnist_test):
    x, y = mnist_test
    return np.ascontiguousarray(x[:64]), y[:64]


@pytest.mark.parametrize("precision, tol, agree", [("fp32", 1e-3, 1.0), ("fp16", 5e-2, 0.98)])
def test_fp32_fp16_engines_match_onnxruntime(precision, tol, agree, mnist_onnx, batch, tmp_path):
    from jetsonkit.engine.engine import build_engine

    result = build_engine(mnist_onnx, tmp_path / f"m_{precision}.engine", _options(precision=precision))
    got, ref = _run_both(result.engine_path, mnist_onnx, batch[0])
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= agree
    assert np.abs(got - ref).max() < tol * max(1.0, np.abs(ref).max())
    assert result.report.engine_bytes > 0 and result.report.layers
    if precision == "fp16":
        assert any(l["precision"] == "fp16" for l in result.report.layers)
    again = build_engine(mnist_onnx, tmp_path / f"m_{precision}.engine", _options(precision=precision))
    assert again.cached


def test_int8_qdq_engine(mnist_onnx, mnist_train_1k, batch, tmp_path):
    from jetsonkit.engine.engine import build_engine
    from jetsonkit.calibrate import calibrate
    from jetsonkit.quantize import quantize_qdq

    table = calibrate(mnist_onnx, mnist_train_1k[0][:256], method="entropy")
    table.save(tmp_path / "calib.json")
    qdq = tmp_path / "mnist.qdq.onnx"
    quantize_qdq(str(mnist_onnx), table, qdq)
    result = build_engine(qdq, tmp_path / "m_int8.engine", _options(precision="int8"))
    got, ref = _run_both(result.engine_path, qdq, batch[0])
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.97
    assert any(l["precision"] == "int8" for l in result.report.layers)


def test_sparse_engine_report(mnist_onnx, batch, tmp_path):
    import onnx
    from onnx import numpy_helper

    from jetsonkit.engine.engine import build_engine

    model = onnx.load(str(mnist_onnx))
    w_name = model.graph.node[3].input[1]
    for init in model.graph.initializer:
        if init.name == w_name:
            w = numpy_helper.to_array(init).copy()
            w.reshape(64, 8, 4, 9)[:, :, 2:, :] = 0
            init.CopyFrom(numpy_helper.from_array(w, w_name))
    path = tmp_path / "sparse.onnx"
    onnx.save(model, path)
    result = build_engine(path, tmp_path / "m_sparse.engine", _options(precision="fp16", sparsity=True))
    report = result.report
    assert report.sparse_expected == ["/features/features.3/Conv"]
    assert report.sparse_eligible, f"TensorRT listed no layer eligible for sparse math:\n{report.to_text()}"
    layer_names = {l["name"] for l in report.layers}
    assert set(report.sparse_picked) <= set(report.sparse_eligible) | layer_names
    got, ref = _run_both(result.engine_path, path, batch[0])
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.98


def test_sidecar_refuses_other_version(mnist_onnx, tmp_path):
    import tensorrt as trt

    from jetsonkit.engine.engine import build_engine
    from jetsonkit.engine.sidecar import check_compatible, read_sidecar
    from jetsonkit.errors import IncompatibleArtifactError

    result = build_engine(mnist_onnx, tmp_path / "m.engine", _options())
    side = read_sidecar(result.engine_path)
    assert side["tensorrt_version"] == trt.__version__ and side["gpu"]["compute_capability"]
    check_compatible(side, trt.__version__, side["gpu"])
    with pytest.raises(IncompatibleArtifactError):
        check_compatible(side, "8.5.2", side["gpu"])
