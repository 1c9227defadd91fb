"""Evaluation helpers and the ``evaluate`` / ``quantize`` CLI on real models and data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.cli import main
from jetsonkit.errors import DataError
from jetsonkit.data import load_xy
from jetsonkit.evaluate import agreement, agreement_of_outputs, predict, top1


def test_top1_and_agreement_on_real_data(mnist_onnx, mnist_test):
    x, y = mnist_test[0][:1000], mnist_test[1][:1000]
    acc = top1(mnist_onnx, x, y)
    assert 0.97 < acc < 1.0
    same = agreement(mnist_onnx, mnist_onnx, x)
    assert same.top1_agreement == 1.0 and same.max_abs_error == 0.0 and same.cosine == pytest.approx(1.0)
    noisy = predict(mnist_onnx, x + np.float32(0.8) * np.random.default_rng(0).standard_normal(x.shape, np.float32))
    worse = agreement_of_outputs(noisy, predict(mnist_onnx, x))
    assert worse.top1_agreement < 1.0 and worse.cosine < 1.0 and worse.max_abs_error > 0.1


def test_agreement_numbers_by_hand():
    ref = np.array([[1.0, 0.0], [0.0, 2.0]])
    cand = np.array([[1.0, 0.5], [0.0, -2.0]])
    a = agreement_of_outputs(cand, ref)
    assert a.top1_agreement == 0.5 and a.max_abs_error == 4.0
    assert a.cosine == pytest.approx((1 / np.sqrt(1.25) - 1) / 2)


def test_callable_and_runner_models(mnist_test):
    x, y = mnist_test[0][:20], mnist_test[1][:20]
    onehot = np.eye(10, dtype=np.float32)[y]

    class Runner:
        def infer(self, batch):
            return {"out": onehot[: len(batch)]}

    assert top1(lambda b: onehot, x, y) == 1.0
    assert top1(Runner(), x, y) == 1.0


def test_bad_data(tmp_path, mnist_onnx):
    with pytest.raises(DataError, match="empty"):
        top1(mnist_onnx, np.zeros((0, 1, 28, 28), np.float32), np.zeros(0))
    with pytest.raises(DataError, match="NaN"):
        predict(mnist_onnx, np.full((2, 1, 28, 28), np.nan, np.float32))
    with pytest.raises(DataError, match="3 samples but 2 labels"):
        top1(mnist_onnx, np.zeros((3, 1, 28, 28), np.float32), np.zeros(2))
    with pytest.raises(DataError, match="unknown MNIST split 'tset'"):
        load_xy("mnist:tset")
    with pytest.raises(DataError, match="nope.npy' does not exist"):
        load_xy(str(tmp_path / "nope.npy"))
    np.savez(tmp_path / "d.npz", images=np.zeros(2), labels=np.zeros(2))
    with pytest.raises(DataError, match=r"has arrays \['images', 'labels'\], no input data named x"):
        load_xy(str(tmp_path / "d.npz"))
    np.savez(tmp_path / "y.npz", y=np.zeros(2))
    with pytest.raises(DataError, match=r"holds only 'y' \(labels\)"):
        load_xy(str(tmp_path / "y.npz"))
    x, y = load_xy("mnist:val:7")
    assert x.shape == (7, 1, 28, 28) and y.shape == (7,)


def test_cli_quantize_then_evaluate(mnist_onnx, mnist_entropy_table, tmp_path, capsys):
    calib, out, plan = tmp_path / "calib.json", tmp_path / "m.qdq.onnx", tmp_path / "plan.yaml"
    mnist_entropy_table.save(calib)
    plan.write_text("rules:\n  - match: '/classifier/classifier.2/*'\n    precision: fp16\n")
    rc = main(["quantize", str(mnist_onnx), "--calib", str(calib), "-o", str(out), "--plan", str(plan), "--explain"])
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "/classifier/classifier.2/Gemm  Gemm               fp16" in text and "kept out of INT8" in text
    rc = main(["evaluate", str(out), "--data", "mnist:test:500", "--reference", str(mnist_onnx), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["samples"] == 500 and data["top1"] > 0.97
    assert data["agreement"]["top1_agreement"] > 0.98
    rc = main(["evaluate", str(out), "--data", "mnist:test:200", "--min-top1", "0.999"])
    assert rc == 1 and "FAILED" in capsys.readouterr().out


def test_cli_errors_are_one_line(mnist_onnx, mnist_ranges, tmp_path, capsys):
    bad_plan = tmp_path / "p.yaml"
    bad_plan.write_text("rules:\n  - op: Gemm\n    precision: int4\n")
    calib = tmp_path / "c.json"
    calib.write_text("{}")
    out = tmp_path / "o.onnx"
    assert main(["quantize", str(mnist_onnx), "--calib", str(calib), "-o", str(out)]) == 2
    assert main(["quantize", str(mnist_onnx), "--explain", "--plan", str(bad_plan)]) == 2
    assert main(["quantize", str(mnist_onnx)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("jetsonkit quantize: error:") for line in err)
    assert "int4" in err[1] and "p.yaml" in err[1]
    assert not out.exists()


@pytest.fixture(scope="module")
def nhwc_tflite(mnist_onnx, mnist_train_1k, session_tmp):
    """int8 .tflite (default NHWC input, stated in its metadata), calibrated on 1,000 real training images."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed: pip install 'jetsonkit[tflite]'")
    from jetsonkit.convert import convert_tflite

    return convert_tflite(mnist_onnx, session_tmp / "eval.int8.tflite", precision="int8", data=mnist_train_1k[0]).path


def test_cli_evaluates_nhwc_tflite_on_nchw_data(nhwc_tflite, mnist_onnx, capsys):
    """`jetsonkit evaluate model.tflite --data mnist:test:500` works like it does for the .onnx, and says that the
    NCHW data was transposed (the layout comes from the .tflite's jetsonkit metadata)."""
    from jetsonkit.convert import read_metadata

    assert read_metadata(nhwc_tflite)["inputs"][0]["layout"] == "NHWC"
    rc = main(["--json", "evaluate", str(nhwc_tflite), "--data", "mnist:test:500", "--reference", str(mnist_onnx)])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["samples"] == 500 and data["top1"] >= 0.98
    assert abs(data["top1"] - data["reference_top1"]) <= 0.005 and data["agreement"]["top1_agreement"] >= 0.99
    assert len(data["notes"]) == 1 and "NCHW data transposed to NHWC" in data["notes"][0]
    assert main(["evaluate", str(nhwc_tflite), "--data", "mnist:test:100"]) == 0
    assert "note: NCHW data transposed to NHWC" in capsys.readouterr().out


def test_tflite_layout_fit_in_python(nhwc_tflite, mnist_onnx, mnist_test):
    from jetsonkit.evaluate import fit_input_layout

    x, y = mnist_test[0][:300], mnist_test[1][:300]
    nchw_out = predict(nhwc_tflite, x)  # transposed automatically
    nhwc_x, note = fit_input_layout(nhwc_tflite, x)
    assert nhwc_x.shape == (300, 28, 28, 1) and "NHWC" in note
    assert fit_input_layout(nhwc_tflite, nhwc_x) == (nhwc_x, None)  # NHWC data is taken as it is
    np.testing.assert_array_equal(predict(nhwc_tflite, nhwc_x), nchw_out)
    assert fit_input_layout(mnist_onnx, x)[1] is None  # an .onnx is never touched
    assert top1(nhwc_tflite, x, y) >= 0.98


def test_tflite_data_fitting_neither_layout_is_explicit(nhwc_tflite, tmp_path, capsys):
    with pytest.raises(DataError, match=r"fits neither the NHWC input .*\[N, 28, 28, 1\] nor NCHW \[N, 1, 28, 28\]"):
        predict(nhwc_tflite, np.zeros((2, 1, 32, 32), np.float32))
    np.savez(tmp_path / "big.npz", x=np.zeros((2, 3, 28, 28), np.float32), y=np.zeros(2, np.int64))
    assert main(["evaluate", str(nhwc_tflite), "--data", str(tmp_path / "big.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fits neither" in err[0]


def _npy(path, array):
    with open(path, "wb") as f:  # an .npy under an .npz name
        np.save(f, array)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make, fragment", [
    (lambda p: _npz(p, x=np.zeros((4, 3, 32, 32), np.float32), y=np.zeros(4, np.int64)),
     "data shape [4, 3, 32, 32] does not fit input 'input'"),
    (lambda p: _npz(p, x=np.zeros((4, 1, 28, 28), np.uint8), y=np.zeros(4, np.int64)),
     "data dtype uint8 does not fit input 'input'"),
    (lambda p: _npz(p, x=np.zeros((4, 1, 28, 28), np.float32), y=np.zeros(3, np.int64)),
     "y has shape [3] but x has 4 samples"),
    (lambda p: _npz(p, x=np.zeros((4, 1, 28, 28), np.float32), y=np.full(4, 0.5, np.float32)),
     "y is float32 and not integer class labels"),
    (lambda p: p.write_text("x,y\n1,2\n"), "is not a readable .npz file"),
    (lambda p: _npy(p, np.zeros((4, 1, 28, 28), np.float32)), "holds one array (an .npy)"),
])
def test_evaluate_bad_data_is_one_line_exit_2(mnist_onnx, tmp_path, capsys, make, fragment):
    """Each of these was an internal error (exit 3, one with a five-line ONNX Runtime message) or a silent pass."""
    data = tmp_path / "d.npz"
    make(data)
    assert main(["evaluate", str(mnist_onnx), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "internal error" not in err


@pytest.mark.parametrize("extra, fragment", [
    (["--min-top1", "99"], "--min-top1 99 is not a fraction in [0, 1] (e.g. 0.99 for 99 %)"),
    (["--min-top1", "0.5", "--data", "UNLABELLED"], "--min-top1 / --max-drop need labels"),
    (["--data", "UNLABELLED"], "has no labels and no --reference is given: nothing to measure"),
])
def test_evaluate_gates_that_could_not_work(mnist_onnx, tmp_path, capsys, extra, fragment):
    unlabelled = _npz(tmp_path / "x.npz", x=np.zeros((4, 1, 28, 28), np.float32))
    extra = [str(unlabelled) if a == "UNLABELLED" else a for a in extra]
    assert main(["evaluate", str(mnist_onnx), "--data", "mnist:test:10", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


@pytest.mark.parametrize("extra, fragment", [
    (["--calib", "c.json", "-o", "OUT", "--mode", "one_at_a_time"],
     "--mode is the sensitivity search's: it needs auto_budget"),
    (["--fp16", "-o", "OUT", "--explain"], "--fp16 --explain shows the layers a --plan keeps in fp32"),
    (["--explain", "--weights", "qdq"], "--requantize and --weights shape the Q/DQ model written with --calib"),
    (["--explain", "--requantize"], "--requantize and --weights shape the Q/DQ model written with --calib"),
    (["--calib", "c.json", "-o", "OUT", "--auto-budget", "0.3", "--data", "mnist:val:50", "--plan-out", "p.toml"],
     "would be a precision plan (YAML, or JSON) named .toml"),  # YAML was written under a .toml name
])
def test_quantize_options_that_would_do_nothing(mnist_onnx, tmp_path, capsys, extra, fragment):
    extra = [str(tmp_path / "o.onnx") if a == "OUT" else a for a in extra]
    assert main(["quantize", str(mnist_onnx), *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err
    assert list(tmp_path.iterdir()) == []
