"""jetsonkit.artifacts: ONNX by path (external data from any cwd), one table check with one error everywhere."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
calibrators = pytest.importorskip("calibrators")

from jetsonkit.artifacts import load_onnx, ort_session, read_table  # noqa: E402
from jetsonkit.errors import ConfigError, IncompatibleArtifactError, ModelLoadError  # noqa: E402


@pytest.fixture(scope="module")
def external_model(tmp_path_factory, mnist_onnx):
    """The MNIST model saved with its weights as external data (``weights.bin`` beside the .onnx)."""
    folder = tmp_path_factory.mktemp("external")
    model = onnx.load(str(mnist_onnx))
    onnx.save_model(model, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    assert (folder / "weights.bin").stat().st_size > 100_000  # the weights really are outside the .onnx
    return folder / "m.onnx"


def test_external_data_model_calibrates_from_another_cwd(external_model, mnist_train_1k, tmp_path, monkeypatch):
    from jetsonkit.calibrate import calibrate

    monkeypatch.chdir(tmp_path)  # the weights are not in the working directory
    proto = load_onnx(external_model)
    assert any(t.name == "features.0.weight" and t.raw_data for t in proto.graph.initializer)
    table = calibrate(external_model, mnist_train_1k[0][:64], "minmax", batch_size=64)
    assert table.amax("input") == pytest.approx(float(np.abs(mnist_train_1k[0][:64]).max()))
    session = ort_session(external_model)
    assert session.run(None, {"input": mnist_train_1k[0][:2]})[0].shape == (2, 10)


def test_ort_session_extra_outputs(mnist_onnx, mnist_train_1k):
    model = load_onnx(mnist_onnx)
    inner = model.graph.node[0].output[0]
    session = ort_session(mnist_onnx, extra_outputs=[inner])
    names = [o.name for o in session.get_outputs()]
    assert names[0] == "logits" and inner in names


def test_missing_and_empty_models_are_model_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_onnx(tmp_path / "nope.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="no graph nodes"):
        load_onnx(tmp_path / "empty.onnx")


@pytest.fixture(scope="module")
def foreign_table(tmp_path_factory, mnist_onnx):
    """A table for the MNIST tensors that records another model's hash."""
    path = tmp_path_factory.mktemp("foreign") / "calib.json"
    collector = calibrators.HistogramCollector()
    model = load_onnx(mnist_onnx)
    from jetsonkit.quantize.placement import calibration_tensors

    for name in calibration_tensors(model):
        collector.update(name, np.linspace(-2, 2, 101, dtype=np.float32))
    calibrators.CalibrationTable.from_collector(collector, "minmax", model_sha256="e" * 64).save(path)
    return path


def _mismatch(call) -> str:
    with pytest.raises(IncompatibleArtifactError) as info:
        call()
    return str(info.value)


def test_another_models_table_is_one_error_in_every_stage(foreign_table, mnist_onnx, mnist_train_1k, tmp_path):
    """quantize, convert and the TensorRT build refuse it with the same message (convert used to only warn)."""
    from jetsonkit.convert import convert_tflite
    from jetsonkit.engine.int8_cache import load_table_amax
    from jetsonkit.quantize import quantize_qdq
    from jetsonkit.artifacts import model_sha256

    messages = [
        _mismatch(lambda: quantize_qdq(mnist_onnx, foreign_table, tmp_path / "q.onnx")),
        _mismatch(lambda: convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="int8",
                                         data=mnist_train_1k[0][:8], calib=foreign_table)),
        _mismatch(lambda: load_table_amax(foreign_table, model_sha256(mnist_onnx))),
    ]
    for m in messages:
        assert m.startswith(f"calibration table ({foreign_table}) was made for model sha256 eeeeeeeeeeee…")
        assert "--allow-other-model" in m
    assert not (tmp_path / "q.onnx").exists() and not (tmp_path / "m.tflite").exists()


def test_allow_other_model_opts_out(foreign_table, mnist_onnx, tmp_path):
    from jetsonkit.quantize import quantize_qdq

    table = read_table(foreign_table, model=mnist_onnx, allow_other_model=True)
    assert table.model_sha256 == "e" * 64
    result = quantize_qdq(mnist_onnx, foreign_table, tmp_path / "q.onnx", allow_other_model=True)
    assert result.path.exists()


def test_unreadable_table_is_a_config_error_naming_the_file(tmp_path):
    bad = tmp_path / "calib.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"calib\.json: line 1: not valid JSON"):
        read_table(bad)
    with pytest.raises(ConfigError, match="cannot read calibration table"):
        read_table(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="tensor 'x' has amax 'big'"):
        read_table({"x": "big"})
