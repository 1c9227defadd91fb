"""Detection through the pipeline: a recipe with metric map50 on mnist_det data, compress -> report -> check."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest

from jetsonkit.cli import main

RECIPE = """\
name: det
model: {{onnx: {onnx}}}
inputs:
  - {{name: images, shape: [1, 3, 96, 96]}}
outputs: [output0]
calibration: {{data: "mnist_det:train:32", method: entropy}}
evaluation: {{data: "mnist_det:test:60", metric: map50}}
targets:
  cpu: {{backend: onnxruntime, precision: fp32}}
  cpu-int8: {{backend: onnxruntime, precision: int8}}
budgets: {{max_map_drop: 100}}
bench: {{iterations: 3, warmup: 1}}
"""


def _recipe(folder, onnx, extra: str = "", **replace) -> str:
    text = RECIPE.format(onnx=onnx) + textwrap.dedent(extra)
    for old, new in replace.items():
        text = text.replace(old, new)
    path = folder / "recipe.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def det_compressed(detector_onnx, tmp_path_factory):
    from jetsonkit.pipeline import compress

    folder = tmp_path_factory.mktemp("det_recipe")
    return compress(_recipe(folder, detector_onnx), folder / "out")


@pytest.mark.slow
def test_compress_measures_map_and_box_agreement_for_every_artifact(det_compressed, held_back, detector_onnx):
    from jetsonkit.detect.evaluate import evaluate_detection, load_detection_data

    report = det_compressed.report
    assert report["task"] == "detect" and report["metric"] == "map50"
    rows = {r["target"]: r for r in report["rows"]}
    ref, int8 = rows["cpu"], rows["cpu-int8"]
    # the reference row is the evaluate --task detect figure on the same 60 frames (same letterbox, NMS, COCOeval)
    direct = evaluate_detection(detector_onnx, load_detection_data("mnist_det:test:60"))
    assert ref["map50"] == pytest.approx(direct["map50"], abs=1e-9)
    assert ref["map50_95"] == pytest.approx(direct["map"], abs=1e-9)
    assert ref["accuracy"] == ref["map50"] and ref["box_agreement"] == 1.0 and ref["map_delta_points"] == 0.0
    assert 0.5 < ref["map50"] <= 1.0 and ref["map50_95"] < ref["map50"]
    for r in (ref, int8):
        assert 0 < r["map50_half_width"] < 0.2 and r["accuracy_margin"] == r["map50_half_width"]
    assert int8["map_delta_points"] == pytest.approx(100 * (int8["map50"] - ref["map50"]))
    assert 0.8 <= int8["box_agreement"] < 1.0 + 1e-12 and int8["agreement_boxes"] > 60
    md = (det_compressed.out_dir / "report.md").read_text()
    html = (det_compressed.out_dir / "report.html").read_text()
    for text in (md, html):
        assert "mAP@0.5 %" in text and "mAP@.5:.95 %" in text and "boxes as FP32 %" in text
        assert f"{100 * int8['map50']:.2f}" in text and "bootstrap" in text
    saved = json.loads((det_compressed.out_dir / "report.json").read_text())
    assert saved["rows"][1]["map50_95"] == int8["map50_95"]


@pytest.mark.slow
def test_check_gates_on_the_map_drop(det_compressed, capsys):
    rows = {r["target"]: r for r in det_compressed.report["rows"]}
    drop = -rows["cpu-int8"]["map_delta_points"]
    out = str(det_compressed.out_dir)
    assert main(["check", out, "--max-map-drop", "100"]) == 0
    if drop > 0:  # a gate just below the measured drop fails, naming the row
        assert main(["check", out, "--max-map-drop", f"{drop / 2:.6f}", "--target", "cpu-int8"]) == 1
        assert "mAP drop" in capsys.readouterr().err
    assert main(["report", out]) == 0


def test_max_map_drop_gates_rows_and_needs_map_figures():
    from jetsonkit.pipeline.gates import Budget, gate_rows

    def row(target, delta):
        return {"target": target, "artifact": f"{target}.onnx", "status": "measured", "delta_points": delta,
                "map_delta_points": delta, "latency_p99_ms": 1.0, "size_ratio": 1.0}

    verdicts = {v.target: v for v in gate_rows([row("a", -0.4), row("b", -1.5), row("c", math.nan)],
                                               Budget(max_map_drop=1.0))}
    assert verdicts["a"].ok and not verdicts["b"].ok and "mAP drop 1.50 > 1 points" in verdicts["b"].failures[0]
    assert not verdicts["c"].ok and "not measured" in verdicts["c"].failures[0]
    classify = {"target": "x", "artifact": "x.onnx", "status": "measured", "delta_points": 0.0}
    (v,) = gate_rows([classify], Budget(max_map_drop=1.0))
    assert not v.ok and "not a detection report" in v.failures[0]
    assert "mAP drop <= 1 points" in Budget(max_map_drop=1.0).describe()


@pytest.mark.parametrize("change, key, message", [
    ({'"mnist_det:test:60"': '"mnist:test:100"'}, "evaluation.data", "needs detection data"),
    ({"metric: map50": "metric: top1"}, "evaluation.metric", "metric top1 does not apply"),
    ({'"mnist_det:test:60"': '"mnist_det:val:60"'}, "evaluation.data", "mnist_det:<train|test>"),
    ({"max_map_drop: 100": "max_map_drop: -1"}, "budgets.max_map_drop", "must be >= 0 points"),
])
def test_detection_recipe_errors_name_the_key(tmp_path, change, key, message):
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(ConfigError) as err:
        load_recipe(_recipe(tmp_path, onnx, **change))
    assert f"key '{key}'" in str(err.value) and message in str(err.value)


def test_max_map_drop_on_a_classification_recipe_is_refused(tmp_path):
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    text = _recipe(tmp_path, onnx, **{'"mnist_det:test:60"': '"mnist:test:100"', "metric: map50": "metric: top1"})
    with pytest.raises(ConfigError, match="max_map_drop gates an mAP metric"):
        load_recipe(text)


def test_a_detection_recipe_letterboxes_by_default(tmp_path):
    from jetsonkit.pipeline import load_recipe

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    r = load_recipe(_recipe(tmp_path, onnx))
    assert r.preprocess.resize == "letterbox" and r.preprocess.color == "rgb" and r.preprocess.pad == 114


def test_mnist_det_data_spec_feeds_letterboxed_frames():
    from jetsonkit.data import DataSpec, InputInfo
    from jetsonkit.examples import mnist_det
    from jetsonkit.preprocess import PreprocessSpec

    spec = DataSpec.parse("mnist_det:test:4", preprocess=PreprocessSpec(size=(64, 128), resize="letterbox"))
    assert spec.kind == "mnist_det" and not spec.labelled() and spec.files() == []
    x, y = spec.load_xy([InputInfo("images", (None, 3, 64, 128), np.dtype(np.float32))])
    frames = mnist_det.generate("test", 4, seed=0).images
    assert x.shape == (4, 3, 64, 128) and y is None
    # a 96x96 frame letterboxed into 64x128: scaled to 64x64, centred, 114 grey on both sides
    assert np.allclose(x[:, :, :, :32], 114 / 255) and np.allclose(x[:, :, :, 96:], 114 / 255)
    assert abs(float(x[:, :, :, 32:96].mean()) - float(frames.mean()) / 255) < 0.02
    frames_again, gt = spec.frames()
    assert len(frames_again) == 4 and len(gt["images"]) == 4 and np.array_equal(frames_again[0], frames[0])


def test_detection_training_targets_follow_the_letterbox(tmp_path):
    """Boxes land in the input where the frame's pixels land: a 96x96 frame letterboxed into 64x128 is scaled by
    2/3 and shifted 32 px right."""
    from jetsonkit.examples import mnist_det
    from jetsonkit.pipeline import load_recipe
    from jetsonkit.pipeline.detection import training_targets
    from jetsonkit.pipeline.steps import data_inputs

    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    recipe = load_recipe(_recipe(tmp_path, onnx, **{"[1, 3, 96, 96]": "[1, 3, 64, 128]"}))
    t = training_targets(recipe, "mnist_det:train:5", data_inputs(recipe))
    frames = mnist_det.generate("train", 5, seed=0)
    assert t.x.shape == (5, 3, 64, 128) and t.size == (64, 128) and t.num_classes == 10
    for b, c, fb, fc in zip(t.boxes, t.labels, frames.boxes, frames.labels):
        assert np.array_equal(c, fc)
        assert np.allclose(b, fb * (2 / 3) + np.array([32, 0, 32, 0]), atol=0.02)  # COCO boxes are rounded to 0.01
    boxes, labels = t.padded()
    assert boxes.shape[:2] == labels.shape and (labels == -1).sum() == labels.size - sum(len(c) for c in t.labels)


def test_detector_finetune_loss_reads_padded_targets():
    """The fine-tune hook's loss on a padded (boxes, labels) batch is the detector's loss on the unpadded boxes."""
    torch = pytest.importorskip("torch")
    from jetsonkit.examples import detector, detector_loss, mnist_det

    data = mnist_det.generate("train", 6, seed=3)
    most = max(len(b) for b in data.boxes) + 2  # extra padding must not count
    boxes = np.zeros((6, most, 4), np.float32)
    labels = np.full((6, most), -1, np.int64)
    for i, (b, c) in enumerate(zip(data.boxes, data.labels)):
        boxes[i, :len(b)], labels[i, :len(c)] = b, c
    model = detector.make_detector().train()
    maps = model(torch.from_numpy(data.nchw()))
    hook = detector_loss.finetune_loss(maps, (torch.from_numpy(boxes), torch.from_numpy(labels)))
    tb, tl = detector_loss.build_targets(data.boxes, data.labels, mnist_det.SIZE)
    direct = detector_loss.detection_loss(maps, torch.from_numpy(tb), torch.from_numpy(tl), mnist_det.NUM_CLASSES)[0]
    assert torch.isfinite(hook) and float(hook.detach()) == pytest.approx(float(direct.detach()), rel=1e-6)
    hook.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())


def test_detection_finetune_needs_a_detection_loss(tmp_path):
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    extra = """\
    stages:
      prune:
        finetune: {data: "mnist_det:train:64", max_steps: 2}
    """
    text = _recipe(tmp_path, tmp_path / "m.onnx", extra, **{"model: {onnx: " + str(tmp_path / "m.onnx") + "}":
                                                            "model: {spec: 'jetsonkit.examples.detector:build_model'}"})
    with pytest.raises(ConfigError) as err:
        load_recipe(text)
    assert "key 'stages.prune.finetune.data'" in str(err.value) and "needs a detection loss" in str(err.value)
    assert "detector_loss:finetune_loss" in err.value.hint


def test_bundled_detection_recipe_names_every_target():
    from jetsonkit.pipeline import bundled_recipe, load_recipe

    r = load_recipe(bundled_recipe("detect"))
    assert r.evaluation.metric == "map50" and r.evaluation.data.startswith("mnist_det:test:")
    assert r.preprocess.resize == "letterbox" and r.budgets.max_map_drop is not None
    assert r.stages.prune.finetune.loss == "jetsonkit.examples.detector_loss:finetune_loss"
    kinds = {(t.backend, t.precision, t.sparsity) for t in r.targets}
    assert {("onnxruntime", "fp32", False), ("onnxruntime", "int8", False), ("onnxruntime", "int8", True),
            ("tflite", "fp32", False), ("tflite", "fp16", False), ("tflite", "int8", False),
            ("tensorrt", "int8", True)} <= kinds
    assert load_recipe(bundled_recipe()).evaluation.metric == "top1"  # the classifier's recipe is unchanged
