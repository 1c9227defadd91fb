"""``qat: true`` targets: QAT from the shared calibration table, its own artifact, measured like every other one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from jetsonkit.pipeline import compress  # noqa: E402

from .conftest import SMALL_RECIPE, write_recipe  # noqa: E402

QAT_RECIPE = SMALL_RECIPE.split("targets:")[0] + """\
  qat: {data: "mnist:train:2000", lr: 3.0e-4, scale_lr: 1.0e-2, batch_size: 64, max_steps: 15, learn_scales: true}
targets:
  cpu: {backend: onnxruntime, precision: fp32}
  cpu-int8: {backend: onnxruntime, precision: int8}
  cpu-int8-qat: {backend: onnxruntime, precision: int8, qat: true}
  cpu-int8-2to4-qat: {backend: onnxruntime, precision: int8, sparsity: true, qat: true}
  jetson-orin-qat: {backend: tensorrt, precision: int8, sparsity: true, qat: true}
bench: {iterations: 5, warmup: 1}
"""


def _two_four(w: np.ndarray) -> bool:
    """Every group of 4 input channels of every output channel holds at most 2 non-zeros."""
    w = w.reshape(w.shape[0], w.shape[1], -1).transpose(0, 2, 1)  # (out, spatial, in)
    return w.shape[-1] % 4 == 0 and bool(((w.reshape(*w.shape[:-1], -1, 4) != 0).sum(-1) <= 2).all())


@pytest.fixture(scope="module")
def qat_run(compressed, tmp_path_factory):
    """The QAT targets run into a copy of the shared compress output: export, prune and calibration are reused."""
    folder = tmp_path_factory.mktemp("qat")
    out = folder / "out"
    shutil.copytree(compressed.out_dir, out)
    return compress(write_recipe(folder, QAT_RECIPE), out), folder


def test_qat_row_is_measured_and_within_a_third_of_a_point(qat_run, mnist_test):
    from jetsonkit.evaluate import top1

    result, _ = qat_run
    rows = {r["target"]: r for r in result.rows}
    qat = rows["cpu-int8-qat"]
    assert qat["status"] == "measured" and qat["artifact"] == "mnist.qat.onnx" and qat["qat"]
    assert abs(qat["delta_points"]) <= 0.3 and qat["size_ratio"] > 3.5 and np.isfinite(qat["latency_p50_ms"])
    x, y = mnist_test[0][:1000], mnist_test[1][:1000]
    assert qat["accuracy"] == pytest.approx(top1(result.out_dir / "mnist.qat.onnx", x, y), abs=1e-12)
    assert not rows["cpu-int8"]["qat"] and rows["cpu-int8"]["artifact"] == "mnist.qdq.onnx"
    assert "| cpu-int8-qat | mnist.qat.onnx | onnxruntime | int8 QAT |" in (result.out_dir / "report.md").read_text()


def test_qat_uses_the_shared_tables_and_is_a_stage(qat_run):
    result, _ = qat_run
    status = {s.name: s.status for s in result.stage_log}
    for name in ("export", "prune", "calibrate-mnist", "calibrate-mnist.2to4", "quantize-mnist"):
        assert status[name] == "reused"
    assert status["qat-mnist"] == "ran" and status["qat-mnist.2to4"] == "ran"
    dense = result.report["stage_results"]["qat:mnist"]
    assert dense["calibration_table"] == "mnist.calib.json" and dense["weights"] is None
    assert dense["prepare"]["learn_scales"] and dense["train"]["steps"] == 15
    manifest = json.loads((result.out_dir / "stages" / "qat-mnist.json").read_text())
    assert list(manifest["outputs"]) == ["mnist.qat.onnx"]


def test_sparse_qat_keeps_the_2to4_masks(qat_run):
    import onnx
    from onnx import numpy_helper

    result, _ = qat_run
    sparse = result.report["stage_results"]["qat:mnist.2to4"]
    assert sparse["calibration_table"] == "mnist.2to4.calib.json" and sparse["weights"] == "mnist.2to4.pt"
    pruned = result.report["stage_results"]["prune"]["pruned_layers"]
    assert pruned and sorted(sparse["export"]["sparse_layers"]) == sorted(pruned)
    model = onnx.load(str(result.out_dir / "mnist.2to4.qat.onnx"))
    codes = [numpy_helper.to_array(t) for t in model.graph.initializer
             if t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2]
    assert sum(_two_four(w) for w in codes) == len(pruned)
    rows = {r["target"]: r for r in result.rows}
    assert rows["cpu-int8-2to4-qat"]["status"] == "measured" and rows["cpu-int8-2to4-qat"]["sparsity"] == "2:4"
    assert abs(rows["cpu-int8-2to4-qat"]["delta_points"]) < 1.5
    orin = rows["jetson-orin-qat"]
    assert orin["status"] == "not built here" and orin["artifact"] == "mnist.2to4.qat.onnx" and orin["qat"]
    assert orin["finish"].startswith("jetsonkit build mnist.2to4.qat.onnx") and "--sparsity" in orin["finish"]


def test_qat_rerun_reuses_and_changed_settings_rerun(qat_run):
    result, folder = qat_run
    again = compress(folder / "recipe.yaml", result.out_dir)
    assert again.stage_log and all(s.status == "reused" for s in again.stage_log)
    assert [r["accuracy"] for r in again.rows] == [r["accuracy"] for r in result.rows]
    out = folder / "changed"
    shutil.copytree(result.out_dir, out)
    changed = write_recipe(folder, QAT_RECIPE.replace("max_steps: 15", "max_steps: 2"), "changed.yaml")
    status = {s.name: s.status for s in compress(changed, out, targets=["cpu-int8-qat"]).stage_log}
    assert status["qat-mnist"] == "ran" and status["calibrate-mnist"] == "reused"
