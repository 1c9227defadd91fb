"""Recipe validation: declared config objects, and errors that name the file, the key and the line."""

from __future__ import annotations

import pytest

pytest.importorskip("yaml")

from jetsonkit.errors import ConfigError  # noqa: E402
from jetsonkit.pipeline import bundled_recipe, load_recipe  # noqa: E402
from jetsonkit.pipeline.recipe import QatConfig, Recipe, TargetConfig  # noqa: E402

from .conftest import SMALL_RECIPE, write_recipe  # noqa: E402


def _error(tmp_path, text: str) -> str:
    path = write_recipe(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_bundled_recipe_loads_into_config_objects():
    r = load_recipe(bundled_recipe())
    assert isinstance(r, Recipe) and r.name == "mnist"
    assert r.model.spec == "jetsonkit.examples.mnist:build_model"
    assert r.inputs[0].shape == (1, 1, 28, 28) and r.inputs[0].dynamic_batch
    names = [t.name for t in r.targets]
    assert names == ["cpu", "cpu-int8", "cpu-int8-2to4", "cpu-int8-qat", "pi5-fp32", "pi5-fp16", "pi5-int8",
                     "jetson-orin"]
    orin = r.target("jetson-orin")
    assert orin == TargetConfig(backend="tensorrt", precision="int8", sparsity=True, dla=False, trt_version="10.3",
                                name="jetson-orin")
    assert r.stages.prune.finetune.max_steps and r.stages.quantize.auto_budget == 0.3
    assert r.budgets.max_accuracy_drop == 0.5
    assert r.target("cpu-int8-qat").qat and r.stages.qat.learn_scales and r.stages.qat.max_steps == 60


def test_unknown_key_names_line_and_suggests(tmp_path):
    text = SMALL_RECIPE.replace("calibration: {data:", "calibraton: {data:")
    msg = _error(tmp_path, text)
    line = text.splitlines().index(next(l for l in text.splitlines() if l.startswith("calibraton"))) + 1
    assert f":{line}: key 'calibraton': unknown key" in msg and "did you mean 'calibration'" in msg


def test_nested_unknown_key(tmp_path):
    text = SMALL_RECIPE.replace("max_steps: 4", "max_step: 4")
    msg = _error(tmp_path, text)
    assert "key 'stages.prune.finetune.max_step'" in msg and "did you mean 'max_steps'" in msg


def test_wrong_type_names_key_and_line(tmp_path):
    text = SMALL_RECIPE.replace("max_steps: 4", "max_steps: four")
    msg = _error(tmp_path, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "max_steps: four" in l)
    assert f":{line}: key 'stages.prune.finetune.max_steps': expected an integer, got 'four'" in msg


def test_shape_must_be_integers(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("shape: [1, 1, 28, 28]", "shape: [1, 1, 28, x]"))
    assert "key 'inputs[0].shape[3]'" in msg and "expected an integer" in msg


def test_missing_data_file(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace('"mnist:test:1000"', "holdout.npz"))
    assert "key 'evaluation.data'" in msg and "holdout.npz" in msg and "does not exist" in msg


def test_data_file_relative_to_recipe(tmp_path):
    import numpy as np

    np.savez(tmp_path / "holdout.npz", x=np.zeros((4, 1, 28, 28), np.float32), y=np.zeros(4, np.int64))
    r = load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace('"mnist:test:1000"', "holdout.npz")))
    assert r.evaluation.data == str(tmp_path / "holdout.npz")


def test_bad_mnist_split(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("mnist:test:1000", "mnist:tset:1000"))
    assert "key 'evaluation.data'" in msg and "mnist:<train|val|test>" in msg


def test_unknown_backend_did_you_mean(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("{backend: tflite,", "{backend: tflit,"))
    assert "key 'targets.pi-int8.backend'" in msg and "did you mean 'tflite'" in msg


def test_sparse_target_needs_prune_stage(tmp_path):
    text = SMALL_RECIPE.replace("  prune:\n    finetune: {data: \"mnist:train:2000\", max_steps: 4, batch_size: 32}\n", "")
    msg = _error(tmp_path, text)
    assert "key 'targets.cpu-int8-2to4.sparsity'" in msg and "stages.prune" in msg


def test_missing_required_key(tmp_path):
    text = SMALL_RECIPE.replace("evaluation: {data: \"mnist:test:1000\", metric: top1}\n", "")
    msg = _error(tmp_path, text)
    assert "missing required key 'evaluation'" in msg


def test_yaml_syntax_error_names_line(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("outputs: [logits]", "outputs: [logits"))
    assert "YAML does not parse" in msg


def test_model_needs_exactly_one_source(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("  spec: jetsonkit.examples.mnist:build_model\n", "  weights: null\n"))
    assert "key 'model'" in msg and "exactly one of 'spec'" in msg


def test_dla_needs_tensorrt_reduced_precision(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("cpu: {backend: onnxruntime, precision: fp32}",
                                                "cpu: {backend: onnxruntime, precision: fp32, dla: true}"))
    assert "key 'targets.cpu.dla'" in msg


def test_bad_metric(tmp_path):
    msg = _error(tmp_path, SMALL_RECIPE.replace("metric: top1", "metric: top-5"))
    assert "key 'evaluation.metric'" in msg and "module:function" in msg


def test_one_input_only(tmp_path):
    text = SMALL_RECIPE.replace("  - {name: input, shape: [1, 1, 28, 28]}\n",
                                "  - {name: a, shape: [1, 4]}\n  - {name: b, shape: [1, 4]}\n")
    msg = _error(tmp_path, text)
    assert "key 'inputs'" in msg and "one input" in msg


# ---- stages.qat and qat: true targets ------------------------------------------------------------------------

_QAT = '  qat: {data: "mnist:train:2000", max_steps: 10, learn_scales: true}\ntargets:\n'
_QAT_TARGET = "  cpu-int8-qat: {backend: onnxruntime, precision: int8, qat: true}\nbench:"


def _with_qat(stage: str = _QAT, target: str = _QAT_TARGET) -> str:
    return SMALL_RECIPE.replace("targets:\n", stage, 1).replace("bench:", target, 1)


def test_qat_stage_and_target_load(tmp_path):
    r = load_recipe(write_recipe(tmp_path, _with_qat()))
    assert r.stages.qat.data == "mnist:train:2000" and r.stages.qat.max_steps == 10 and r.stages.qat.learn_scales
    assert r.stages.qat.lr == 1e-4 and r.stages.qat.batchnorm == "fold"
    assert r.target("cpu-int8-qat").qat and not r.target("cpu-int8").qat
    assert load_recipe(bundled_recipe()).target("cpu-int8-qat").qat


def test_qat_unknown_key_and_wrong_type_name_the_line(tmp_path):
    text = _with_qat(_QAT.replace("max_steps: 10", "max_step: 10"))
    msg = _error(tmp_path, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "max_step: 10" in l)
    assert f":{line}: key 'stages.qat.max_step': unknown key" in msg and "did you mean 'max_steps'" in msg
    msg = _error(tmp_path, _with_qat(_QAT.replace("learn_scales: true", "learn_scales: yes please")))
    assert "key 'stages.qat.learn_scales': expected true or false" in msg


def test_qat_settings_are_checked(tmp_path):
    assert "key 'stages.qat.epochs': epochs must be >= 1" in _error(
        tmp_path, _with_qat(_QAT.replace("max_steps: 10", "epochs: 0")))
    assert "key 'stages.qat.lr': lr must be > 0" in _error(tmp_path, _with_qat(_QAT.replace("max_steps: 10", "lr: 0")))
    msg = _error(tmp_path, _with_qat(_QAT.replace("mnist:train:2000", "mnist:trian:2000")))
    assert "key 'stages.qat.data'" in msg and "mnist:<train|val|test>" in msg
    msg = _error(tmp_path, _with_qat(_QAT.replace('"mnist:train:2000"', "qat.npz")))
    assert "key 'stages.qat.data'" in msg and "does not exist" in msg
    msg = _error(tmp_path, _with_qat(_QAT.replace("max_steps: 10", "batchnorm: fuse")))
    assert "key 'stages.qat.batchnorm'" in msg and "fold, freeze" in msg


def test_qat_target_needs_int8_on_onnxruntime_or_tensorrt(tmp_path):
    for target in ("  x: {backend: tflite, precision: int8, qat: true}\nbench:",
                   "  x: {backend: onnxruntime, precision: fp16, qat: true}\nbench:",
                   "  x: {backend: tensorrt, precision: fp32, qat: true}\nbench:"):
        msg = _error(tmp_path, _with_qat(target=target))
        assert "key 'targets.x.qat': qat: true needs precision int8 with backend onnxruntime or tensorrt" in msg
    ok = _with_qat(target="  x: {backend: tensorrt, precision: int8, qat: true}\nbench:")
    assert load_recipe(write_recipe(tmp_path, ok)).target("x").qat


def test_qat_target_needs_the_qat_stage(tmp_path):
    msg = _error(tmp_path, _with_qat(stage="targets:\n"))
    line = next(i for i, l in enumerate(_with_qat(stage="targets:\n").splitlines(), 1) if "cpu-int8-qat" in l)
    assert f":{line}: key 'targets.cpu-int8-qat.qat': a QAT target needs stages.qat" in msg


def test_qat_needs_the_pytorch_model(tmp_path):
    (tmp_path / "given.onnx").write_bytes(b"")
    onnx_model = _with_qat().replace("  spec: jetsonkit.examples.mnist:build_model", "  onnx: given.onnx")
    onnx_model = onnx_model.replace("  prune:\n    finetune: {data: \"mnist:train:2000\", max_steps: 4, "
                                    "batch_size: 32}\n", "").replace("sparsity: true}", "}")
    msg = _error(tmp_path, onnx_model)
    assert "key 'stages.qat'" in msg and "needs the PyTorch model" in msg
    msg = _error(tmp_path, onnx_model.replace(_QAT, "targets:\n"))
    assert "key 'targets.cpu-int8-qat.qat'" in msg and "needs the PyTorch model" in msg


def test_every_qat_section_option_reaches_qat_settings():
    """compress hands stages.qat (all but its data) to run_qat as QatSettings: no option may be dropped."""
    from dataclasses import fields

    from jetsonkit.qat.stage import QatSettings

    assert {f.name for f in fields(QatConfig)} - {"data"} <= {f.name for f in fields(QatSettings)}


def test_percentile_with_another_method_is_refused_with_the_line(tmp_path):
    """compress used to drop calibration.percentile silently when the method was not percentile."""
    text = SMALL_RECIPE.replace("method: entropy}", "method: entropy, percentile: 99.9}")
    msg = _error(tmp_path, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "percentile: 99.9" in l)
    assert f":{line}: key 'calibration.percentile': option 'percentile' does not apply to calibration method " \
           "'entropy'" in msg
    r = load_recipe(write_recipe(tmp_path, text.replace("method: entropy", "method: percentile")))
    assert r.calibration.percentile == 99.9
    assert "not one of entropy, percentile, mse, minmax" in _error(tmp_path, text.replace("entropy", "kl"))
