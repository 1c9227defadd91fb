"""Sensitivity ranking and the automatic mixed-precision search on a model that really breaks under INT8."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import InputError
from jetsonkit.evaluate import top1
from jetsonkit.quantize.plan import PrecisionPlan
from jetsonkit.quantize.qdq import quantize_qdq
from jetsonkit.quantize.sensitivity import layer_sensitivity, search_mixed_precision

from .conftest import activation_ranges


@pytest.fixture(scope="module")
def sensitive_ranges(sensitive_table):
    return sensitive_table  # entropy ranges from jetsonkit.calibrate


def test_minmax_ranges_break_it_too(sensitive_onnx, mnist_train_1k, mnist_test):
    x, y = mnist_test[0][:2000], mnist_test[1][:2000]
    int8 = top1(quantize_qdq(sensitive_onnx, activation_ranges(sensitive_onnx, mnist_train_1k[0])).model, x, y)
    assert top1(sensitive_onnx, x, y) - int8 > 0.01


def test_full_int8_loses_more_than_a_point(sensitive_onnx, sensitive_ranges, mnist_test):
    x, y = mnist_test
    fp32 = top1(sensitive_onnx, x, y)
    int8 = top1(quantize_qdq(sensitive_onnx, sensitive_ranges).model, x, y)
    assert fp32 > 0.96
    assert fp32 - int8 > 0.01, f"full INT8 {int8:.4f} vs FP32 {fp32:.4f}"


def test_search_recovers_with_at_most_two_layers(sensitive_onnx, sensitive_ranges, mnist_test, tmp_path):
    x, y = mnist_test
    report = search_mixed_precision(sensitive_onnx, sensitive_ranges, x, y, budget=0.3, mode="all_but_one")
    assert report.met and 1 <= len(report.kept) <= 2
    assert report.full_int8 > 1.0 and report.final <= 0.3
    assert report.kept[0] == "/fc2/Gemm"  # the layer fed by the outlier channels
    plan_path, table_path = tmp_path / "plan.yaml", tmp_path / "table.txt"
    report.save(plan_path, table_path)
    plan = PrecisionPlan.load(plan_path)  # the written, editable plan reproduces the figure independently
    acc = top1(quantize_qdq(sensitive_onnx, sensitive_ranges, plan=plan).model, x, y)
    assert 100 * (top1(sensitive_onnx, x, y) - acc) <= 0.3
    table = table_path.read_text()
    assert "/fc2/Gemm" in table and "budget 0.3 points: met" in table
    assert report.cost_in_fp32_passes > 1


@pytest.mark.parametrize("mode", ["one_at_a_time", "all_but_one"])
def test_ranking_puts_the_outlier_layer_first(sensitive_onnx, sensitive_ranges, mnist_test, mode):
    scores = layer_sensitivity(sensitive_onnx, sensitive_ranges, mnist_test[0][:256], mode=mode)
    assert [s.layer for s in scores][0] == "/fc2/Gemm"
    assert scores[0].sensitivity > 10 * max(abs(s.sensitivity) for s in scores[1:])


def test_label_free_budget_on_output_error(sensitive_onnx, sensitive_ranges, mnist_test):
    x = mnist_test[0][:1000]
    report = search_mixed_precision(sensitive_onnx, sensitive_ranges, x, budget=0.05, batch=128)
    assert report.metric == "relative_output_error" and report.met
    assert report.full_int8 > 0.5 and report.final <= 0.05 and report.kept == ["/fc2/Gemm"]


def test_unmet_budget_is_reported_not_hidden(sensitive_onnx, sensitive_ranges, mnist_test):
    x = mnist_test[0][:500]
    report = search_mixed_precision(sensitive_onnx, sensitive_ranges, x, budget=0.0, max_kept=1)
    assert not report.met and len(report.kept) == 1 and "NOT met" in report.table()


def test_bad_arguments(sensitive_onnx, sensitive_ranges):
    x = np.zeros((4, 1, 28, 28), np.float32)
    with pytest.raises(InputError, match="sensitivity mode 'both'"):
        layer_sensitivity(sensitive_onnx, sensitive_ranges, x, mode="both")
    with pytest.raises(InputError, match="keep_precision 'int8'"):
        search_mixed_precision(sensitive_onnx, sensitive_ranges, x, budget=1, keep_precision="int8")
    with pytest.raises(InputError, match="4 samples but 3 labels"):
        search_mixed_precision(sensitive_onnx, sensitive_ranges, x, np.zeros(3), budget=1)


def test_cli_auto_budget_writes_plan_and_model(sensitive_onnx, sensitive_table, tmp_path, capsys):
    from jetsonkit.cli import main

    calib, out = tmp_path / "calib.json", tmp_path / "s.qdq.onnx"
    sensitive_table.save(calib)
    rc = main(["quantize", str(sensitive_onnx), "--calib", str(calib), "-o", str(out), "--auto-budget", "0.3",
               "--data", "mnist:test:3000"])
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file(), text
    plan = PrecisionPlan.load(f"{out}.plan.yaml")
    assert [r.match for r in plan.rules] == ["/fc2/Gemm"]
    assert "kept out of INT8: /fc2/Gemm" in text
    x, y = load_mnist_test(3000)
    assert 100 * (top1(sensitive_onnx, x, y) - top1(out, x, y)) <= 0.3


def load_mnist_test(n):
    from jetsonkit.examples import mnist

    return mnist.load_split("test", limit=n)


def test_table_of_another_model_is_refused(mnist_onnx, sensitive_table):
    from jetsonkit.errors import IncompatibleArtifactError

    with pytest.raises(IncompatibleArtifactError, match="another|sha256"):
        search_mixed_precision(mnist_onnx, sensitive_table, np.zeros((2, 1, 28, 28), np.float32), budget=1)


def test_prefix_search_is_logarithmic_and_prunes():
    from jetsonkit.quantize.sensitivity import LayerScore, _greedy

    scores = [LayerScore(f"l{i}", "Conv", 100 - i) for i in range(100)]
    calls = []

    def measure(kept):  # error falls by 1 per kept layer among the first 40, from 50
        calls.append(len(kept))
        return 50 - sum(int(n[1:]) < 40 for n in kept)

    kept, history = _greedy(scores, measure, budget=12, keep="fp32", max_kept=None)
    assert kept == [f"l{i}" for i in range(38)] and history[-1] == (38, 12)
    assert len(calls) <= 16  # 1, 2, 4, ..., 64, then bisection: not 100 evaluations

    calls.clear()
    useful = {"l0", "l3"}
    kept, _ = _greedy(scores, lambda k: 0 if useful <= set(k) else 1, budget=0, keep="fp32", max_kept=None)
    assert kept == ["l0", "l3"]  # l1, l2 pruned back into INT8
