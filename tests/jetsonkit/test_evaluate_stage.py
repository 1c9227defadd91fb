"""The evaluate stage's one contract: EvaluateSettings gives `evaluate`'s flags, defaults and checks; run_evaluate is
the one call; image folders are decoded as calibration decodes them (the same flags, or the spec in the model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.calibrate import calibrate
from jetsonkit.cli import build_parser, main
from jetsonkit.evaluate_stage import EvaluateSettings, load_eval_data, run_evaluate
from jetsonkit.settings import from_args

pytest.importorskip("PIL")

FLAGS = ["--mean", "0.5,0.4,0.3", "--std", "0.2,0.25,0.3", "--resize", "center_crop"]


def _model(path, channels: int = 3, size: int = 16, classes: int = 3):
    """Conv -> global average pool -> flatten: an input range calibration measures and 3-class logits."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(classes, channels, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]), helper.make_node("Flatten", ["p"], ["logits"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", classes])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def folder(tmp_path):
    """Three classes of RGB images of several sizes (class sub-folders: labels the ImageNet way)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for k, name in enumerate(("cat", "dog", "fox")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(4):
            h, w = 20 + 3 * i, 24 + 5 * k
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "imgs" / name / f"{i}.PNG")
    return tmp_path / "imgs"


def _input_stats(table) -> dict:
    return table.tensors["input"].stats


def test_an_image_folder_evaluates_with_the_pre_processing_calibrate_uses(tmp_path, folder, capsys):
    from jetsonkit.cli.args import image_preprocess

    model = _model(tmp_path / "m.onnx")
    assert main(["calibrate", str(model), "--data", str(folder), "-o", str(tmp_path / "c.json"), *FLAGS]) == 0
    capsys.readouterr()
    import calibrators

    stats = _input_stats(calibrators.CalibrationTable.load(tmp_path / "c.json"))
    spec = image_preprocess(build_parser().parse_args(["evaluate", str(model), *FLAGS]), str(model))
    x, y = load_eval_data(str(model), str(folder), spec)
    assert x.shape == (12, 3, 16, 16) and sorted(np.bincount(y)) == [4, 4, 4]
    assert (float(x.min()), float(x.max())) == (stats["min"], stats["max"])
    assert float(x.mean(dtype=np.float64)) == pytest.approx(stats["mean"], rel=1e-5)
    plain, _ = load_eval_data(str(model), str(folder))  # without the flags: other pixels (the test can fail)
    assert float(plain.max()) != stats["max"]
    assert main(["evaluate", str(model), "--data", str(folder), "--reference", str(model), "--json", *FLAGS]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 12 and out["agreement"]["top1_agreement"] == 1.0 and 0 <= out["top1"] <= 1


def test_the_spec_stored_in_the_model_decodes_for_both(tmp_path, folder):
    import onnx

    from jetsonkit.preprocess import PreprocessSpec
    from jetsonkit.preprocess.metadata import set_onnx

    path = tmp_path / "stored.onnx"
    stored = PreprocessSpec(size=(16, 16), resize="letterbox", mean=(0.3,), std=(0.2,))
    onnx.save(set_onnx(onnx.load(str(_model(path))), stored), str(path))
    stats = _input_stats(calibrate(path, str(folder), max_memory=None))
    x, _ = load_eval_data(str(path), str(folder))
    assert (float(x.min()), float(x.max())) == (stats["min"], stats["max"])


def test_cli_defaults_are_the_settings_defaults():
    assert from_args(EvaluateSettings, build_parser().parse_args(["evaluate", "m.onnx"])) == EvaluateSettings()
    args = build_parser().parse_args(["evaluate", "m.onnx", "--task", "detect", "--conf", "0.25", "--imgsz", "64"])
    assert from_args(EvaluateSettings, args) == EvaluateSettings(task="detect", conf=0.25, imgsz=64)


@pytest.mark.parametrize("flags, message", [
    (["--min-top1", "99"], "--min-top1 99 is not a fraction in [0, 1] (e.g. 0.99 for 99 %)"),
    (["--min-map", "0.5"], "--min-map is a gate of task detect, and the task is classify"),
    (["--task", "detect", "--max-drop", "1"], "--max-drop is a gate of task classify, and the task is detect"),
    (["--task", "detect", "--conf", "1.5"], "--conf must be in [0, 1), got 1.5"),
    (["--task", "detect", "--iou", "0"], "--iou must be > 0, got 0.0"),
    (["--imgsz", "0"], "--imgsz must be >= 1, got 0"),
    (["--max-drop", "1"], "--max-drop needs --reference"),
])
def test_a_bad_value_names_the_flag(flags, message, capsys, mnist_onnx):
    assert main(["evaluate", str(mnist_onnx), "--data", "mnist:test:10", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_run_evaluate_gates(mnist_onnx):
    result = run_evaluate(mnist_onnx, "mnist:test:200", EvaluateSettings(min_top1=0.999))
    assert result.data["samples"] == 200 and result.failures == [f"top-1 {result.data['top1']:.4f} < 0.999"]
    assert "FAILED: top-1" in result.text() and result.as_dict()["failures"] == result.failures
    assert run_evaluate(mnist_onnx, "mnist:test:200", EvaluateSettings(min_top1=0.5)).failures == []


def test_the_library_names_the_field(mnist_onnx):
    from jetsonkit.settings import SettingError

    with pytest.raises(SettingError, match=r"conf must be in \[0, 1\), got 2") as exc:
        run_evaluate(mnist_onnx, "mnist:test:10", EvaluateSettings(task="detect", conf=2.0))
    assert exc.value.key == "conf"


def test_a_tflite_evaluates_an_image_folder_with_the_spec_it_carries(tmp_path, folder, capsys):
    """convert stores the ONNX model's pre-processing spec and input in the .tflite's metadata: evaluating it on an
    image folder needs no image flags (it used to stop at "needs an input size") and feeds what the ONNX model gets."""
    import onnx

    from jetsonkit.convert import convert_tflite
    from jetsonkit.preprocess import PreprocessSpec
    from jetsonkit.preprocess.metadata import set_onnx

    path = tmp_path / "m.onnx"
    onnx.save(set_onnx(onnx.load(str(_model(path))), PreprocessSpec(resize="letterbox", mean=(0.3,), std=(0.2,))),
              str(path))
    convert_tflite(path, tmp_path / "m.tflite", precision="fp32")
    x_onnx, y_onnx = load_eval_data(str(path), str(folder))
    x_tfl, y_tfl = load_eval_data(str(tmp_path / "m.tflite"), str(folder))
    assert x_tfl.shape == (12, 3, 16, 16) and np.array_equal(x_tfl, x_onnx) and np.array_equal(y_tfl, y_onnx)
    assert main(["evaluate", str(tmp_path / "m.tflite"), "--data", str(folder), "--reference", str(path),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 12 and out["agreement"]["top1_agreement"] == 1.0
    assert any("NCHW data transposed to NHWC" in n for n in out["notes"])
