"""``compress`` on the real MNIST CNN: every target's artifact, measured the same way; resume; budgets; bad input."""

from __future__ import annotations

import json
import re
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from jetsonkit.errors import CheckFailed, InputError, MissingDependencyError  # noqa: E402
from jetsonkit.pipeline import compress  # noqa: E402
from jetsonkit.pipeline.plots import pareto_front, row_margin  # noqa: E402

from .conftest import SMALL_RECIPE, write_recipe  # noqa: E402


def _rows(result):
    return {r["target"]: r for r in result.rows}


def test_every_target_has_a_row_with_honest_status(compressed):
    rows = _rows(compressed)
    assert list(rows) == ["cpu", "cpu-int8", "cpu-int8-2to4", "pi-int8", "jetson-orin"]
    assert rows["cpu"]["reference"] and rows["cpu"]["status"] == "measured"
    for name in ("cpu-int8", "cpu-int8-2to4", "pi-int8"):
        assert rows[name]["status"] == "measured"
        assert rows[name]["size_ratio"] > 3.5  # int8 weights: about a quarter of the FP32 file
        assert abs(rows[name]["delta_points"]) < 1.5
    assert rows["pi-int8"]["runtime"] == "litert" and rows["cpu-int8"]["runtime"] == "onnxruntime"
    orin = rows["jetson-orin"]
    assert orin["status"] == "not built here" and orin["accuracy"] is None and orin["latency_p99_ms"] is None
    assert orin["artifact"] == "mnist.2to4.qdq.onnx" and (compressed.out_dir / orin["artifact"]).is_file()
    assert orin["finish"].startswith("jetsonkit build mnist.2to4.qdq.onnx") and "--sparsity" in orin["finish"]
    plan = (compressed.out_dir / orin["build_spec_file"]).read_text()
    assert "SPARSE_WEIGHTS" in plan and "INT8" in plan and "finish on the device" in plan


def test_accuracy_matches_an_independent_evaluation(compressed, mnist_test):
    from jetsonkit.evaluate import top1

    x, y = mnist_test[0][:1000], mnist_test[1][:1000]
    rows = _rows(compressed)
    for name, artifact in (("cpu", "mnist.onnx"), ("cpu-int8", "mnist.qdq.onnx")):
        assert rows[name]["accuracy"] == pytest.approx(top1(compressed.out_dir / artifact, x, y), abs=1e-12)
    assert rows["cpu"]["delta_points"] == 0.0 and rows["cpu"]["size_ratio"] == 1.0


def test_one_calibration_per_model_shared_by_its_targets(compressed):
    from jetsonkit.convert import read_metadata

    ran = [s.name for s in compressed.stage_log if s.status == "ran"]
    assert ran.count("calibrate-mnist") == 1 and ran.count("calibrate-mnist.2to4") == 1
    table = json.loads((compressed.out_dir / "mnist.calib.json").read_text())
    meta = read_metadata(compressed.out_dir / "mnist.int8.tflite")
    assert meta["calibration"]["table_model_sha256"] == table["model_sha256"]


def test_report_files_and_pareto_marks(compressed):
    out = compressed.out_dir
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "jetsonkit-report/1" and report["machine"]["cores"]
    html = (out / "report.html").read_text()
    assert html.count("<svg ") >= 3  # two trade-off plots + sensitivity bars, inline
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched from elsewhere
    for svg in (out / "plots").glob("*.svg"):
        assert svg.read_text().lstrip().startswith("<?xml") and "<svg " in svg.read_text()
    assert "| target | artifact | backend |" in (out / "report.md").read_text()
    measured = [r for r in report["rows"] if r["status"] == "measured"]
    front = set(pareto_front([(r["latency_p50_ms"], r["accuracy"]) for r in measured],
                             [row_margin(r) for r in measured]))
    assert [r["pareto_latency"] for r in measured] == [i in front for i in range(len(measured))]
    for r in measured:  # each latency figure with its machine, load and time
        assert r["machine"]["cores"] and len(r["load_avg_1m"]) == 2 and r["measured_at"].endswith("UTC")
    assert report["sensitivity"]["mnist"] and {"layer", "op", "sensitivity", "decision"} <= set(
        report["sensitivity"]["mnist"][0])


def test_rerun_reuses_every_stage(compressed, small_recipe, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(compressed.out_dir, out)
    again = compress(small_recipe, out)
    assert again.stage_log and all(s.status == "reused" for s in again.stage_log)
    # a resumed run shows when the artifacts were made, not now
    assert [s.made for s in again.stage_log] == [s.made for s in compressed.stage_log]
    assert "0 stage(s) ran" in (out / "report.md").read_text()
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in compressed.rows]


def test_interrupted_run_resumes_without_redoing_finished_stages(tmp_path):
    text = SMALL_RECIPE.split("targets:")[0].replace("  prune:\n    finetune: {data: \"mnist:train:2000\", "
                                                     "max_steps: 4, batch_size: 32}\n", "")
    text += "targets:\n  cpu-int8: {backend: onnxruntime, precision: int8}\nbench: {iterations: 5, warmup: 1}\n"
    recipe = write_recipe(tmp_path, text)

    def stop_after_calibration(record):
        if record.name.startswith("calibrate"):
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        compress(recipe, out, on_stage=stop_after_calibration)
    assert (out / "mnist.onnx").is_file() and (out / "mnist.calib.json").is_file()
    assert not (out / "mnist.qdq.onnx").exists() and not (out / "report.json").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    resumed = compress(recipe, out)
    status = {s.name: s.status for s in resumed.stage_log}
    assert status["export"] == "reused" and status["calibrate-mnist"] == "reused"
    assert status["quantize-mnist"] == "ran" and status["measure-mnist.qdq.onnx"] == "ran"


def test_budget_no_artifact_meets_exits_with_the_table(compressed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(compressed.out_dir, out)
    recipe = write_recipe(tmp_path, SMALL_RECIPE + "budgets: {max_latency_p99_ms: 0.000001}\n")
    with pytest.raises(CheckFailed) as exc:
        compress(recipe, out)
    assert "no artifact meets" in str(exc.value) and "p99 latency <= 1e-06 ms" in str(exc.value)
    assert "| cpu-int8 | mnist.qdq.onnx |" in exc.value.details
    assert json.loads((out / "report.json").read_text())["budgets"]["max_latency_p99_ms"] == 1e-6


def test_user_metric_callable(compressed, tmp_path, monkeypatch):
    (tmp_path / "mymetric.py").write_text(
        "import numpy as np\n"
        "def top1(outputs, labels):\n"
        "    return float((outputs.argmax(1) == labels).mean())\n")
    monkeypatch.chdir(tmp_path)  # found in the current folder, as python -m would (the console script drops it)
    out = tmp_path / "out"
    shutil.copytree(compressed.out_dir, out)
    recipe = write_recipe(tmp_path, SMALL_RECIPE.replace("metric: top1", "metric: mymetric:top1"))
    result = compress(recipe, out, targets=["cpu-int8"])
    assert [r["target"] for r in result.rows] == ["", "cpu-int8"]  # the FP32 reference row is added
    assert result.rows[1]["accuracy"] == _rows(compressed)["cpu-int8"]["accuracy"]


def test_metric_that_raises_names_the_artifact(compressed, tmp_path, monkeypatch, capsys):
    (tmp_path / "badmetric.py").write_text("def score(outputs, labels):\n    raise ValueError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    shutil.copytree(compressed.out_dir, out)
    recipe = write_recipe(tmp_path, SMALL_RECIPE.replace("metric: top1", "metric: badmetric:score"))
    with pytest.raises(InputError) as exc:
        compress(recipe, out)
    assert "raised ValueError on artifact mnist.onnx: boom" in str(exc.value)
    from jetsonkit.cli import main

    assert main(["compress", str(recipe), "-o", str(out), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "raise ValueError('boom')" in err
    assert err.strip().splitlines()[-1].startswith("jetsonkit compress: error: ")


def test_missing_backend_names_target_and_install_line(small_recipe, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # as if ai-edge-litert were not installed
    with pytest.raises(MissingDependencyError) as exc:
        compress(small_recipe, tmp_path / "out")
    msg = str(exc.value)
    assert "target 'pi-int8' needs ai_edge_litert" in msg and "pip install" in msg
    assert "key 'targets.pi-int8.backend'" in msg
    assert not (tmp_path / "out").exists()  # refused before any work


def test_unknown_target_selection(small_recipe, tmp_path):
    with pytest.raises(InputError, match="target 'gpu' is not in"):
        compress(small_recipe, tmp_path / "out", targets=["gpu"])


def test_nhwc_tflite_is_fed_the_same_data(compressed):
    """The .tflite takes NHWC (the converter's default, a camera's layout); its accuracy equals the Q/DQ model's
    within a point, so the evaluator fed it the same images, transposed."""
    from jetsonkit.runtime import Runtime

    with Runtime.open(compressed.out_dir / "mnist.int8.tflite") as rt:
        assert tuple(rt.inputs[0].shape)[1:] == (28, 28, 1)
    rows = _rows(compressed)
    assert abs(rows["pi-int8"]["accuracy"] - rows["cpu-int8"]["accuracy"]) < 0.01
    assert np.isfinite(rows["pi-int8"]["latency_p50_ms"])


def test_recipe_with_an_onnx_model(compressed, tmp_path):
    """model.onnx instead of a PyTorch spec: no export stage; calibration and Q/DQ run on the given file."""
    shutil.copy(compressed.out_dir / "mnist.onnx", tmp_path / "given.onnx")
    text = SMALL_RECIPE.replace("  spec: jetsonkit.examples.mnist:build_model", "  onnx: given.onnx")
    text = text.replace("  prune:\n    finetune: {data: \"mnist:train:2000\", max_steps: 4, batch_size: 32}\n", "")
    text = text.split("targets:")[0] + ("targets:\n  cpu-int8: {backend: onnxruntime, precision: int8}\n"
                                        "  cpu-fp16: {backend: onnxruntime, precision: fp16}\n")
    result = compress(write_recipe(tmp_path, text), tmp_path / "out")
    names = [s.name for s in result.stage_log]
    assert "export" not in names and "calibrate-given" in names
    rows = {r["label"]: r for r in result.rows}
    assert rows["fp32 (reference)"]["artifact"] == "given.onnx"
    assert rows["cpu-int8"]["accuracy"] == _rows(compressed)["cpu-int8"]["accuracy"]
    assert rows["cpu-fp16"]["artifact"] == "given.fp16.onnx" and abs(rows["cpu-fp16"]["delta_points"]) <= 0.2
    assert 1.9 < rows["cpu-fp16"]["size_ratio"] < 2.1
