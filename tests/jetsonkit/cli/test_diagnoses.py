"""Diagnoses that used to mislead: user input reported as an internal error, options checked after the work, NaN
in the data blamed on the model or measured silently, a zero limit reported as empty data."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

from jetsonkit.cli import main


def _run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


def _onnx(path, n_inputs):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = helper.make_tensor_value_info("o", TensorProto.FLOAT, None)
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 1, 28, 28]) for n in "ab"[:n_inputs]]
    if n_inputs == 2:
        nodes, inits = [helper.make_node("Add", ["a", "b"], ["s"]), helper.make_node("Flatten", ["s"], ["o"])], []
    else:
        nodes, inits = [helper.make_node("Identity", ["c"], ["o"])], [numpy_helper.from_array(np.ones((1, 10),
                                                                                                np.float32), "c")]
    graph = helper.make_graph(nodes, "g", ins, [out], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("n_inputs, fragment", [(2, "this model has 2 (a, b)"), (0, "this model has 0 (none)")])
def test_evaluate_a_model_without_exactly_one_input_is_exit_2(capsys, tmp_path, n_inputs, fragment):
    model = _onnx(tmp_path / "m.onnx", n_inputs)
    code, _, err = _run(capsys, ["evaluate", model, "--data", "mnist:test:10"])
    assert code == 2 and f"{model}: evaluation feeds one input tensor, {fragment}" in err, err


def test_nan_in_evaluation_data_one_rule_for_evaluate_and_compress(capsys, tmp_path, mnist_onnx):
    from jetsonkit.examples import mnist

    x, y = mnist.load_split("test", limit=20)
    x = x.copy()
    x[3, 0, 5, 5] = np.nan
    data = tmp_path / "eval.npz"
    np.savez(data, x=x, y=y)
    want = "holds NaN or Inf in 1 of 20 samples (first: sample 3)"
    code, _, err = _run(capsys, ["evaluate", mnist_onnx, "--data", data])
    assert code == 2 and want in err, err
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        model: {{onnx: {mnist_onnx}}}
        inputs: [{{name: input, shape: [1, 1, 28, 28]}}]
        outputs: [logits]
        calibration: {{data: "mnist:train:50"}}
        evaluation: {{data: {data}}}
        targets: {{cpu: {{backend: onnxruntime}}}}
        """))
    code, _, err = _run(capsys, ["compress", recipe, "-o", tmp_path / "out"])
    assert code == 2 and want in err, err
    assert sorted(os.listdir(tmp_path / "out")) == []  # stopped before any stage


def test_trt_version_is_checked_before_any_work_or_output(capsys, tmp_path, mnist_onnx):
    table, cache = tmp_path / "c.json", tmp_path / "c.cache"
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", table, "--trt-cache",
                                 cache, "--trt-version", "11.4.1"])
    assert code == 2 and "--trt-version: TensorRT 11.4.1 has no calibration cache" in err
    assert "calibrating" not in err and list(tmp_path.iterdir()) == []
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", table,
                                 "--trt-version", "10.3"])
    assert code == 2 and "--trt-version applies to the TensorRT cache only" in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra, fragment", [
    (["--max-samples", "0"], "--max-samples must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (["--std", "0"], "has a zero: dividing by it gives inf"),
])
def test_calibrate_option_values_are_checked_up_front(capsys, tmp_path, mnist_onnx, extra, fragment):
    code, out, err = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", tmp_path / "c.json",
                                   *extra])
    assert code == 2 and fragment in err and "is empty" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_json_error_for_a_bad_option_is_one_object(capsys, tmp_path, mnist_onnx):
    code, out, _ = _run(capsys, ["calibrate", mnist_onnx, "--data", "mnist:train:8", "-o", tmp_path / "c.json",
                                 "--max-samples", "0", "--json"])
    assert code == 2 and json.loads(out)["type"] == "UsageError"


def test_an_empty_onnx_file_is_not_reported_as_having_no_tensors(capsys, tmp_path):
    empty = tmp_path / "m.onnx"
    empty.write_bytes(b"")
    code, _, err = _run(capsys, ["calibrate", empty, "--data", "mnist:train:8", "-o", tmp_path / "c.json"])
    assert code == 2 and "no graph nodes" in err and "needs calibration" not in err, err


def test_an_npz_holding_only_labels_is_refused(capsys, tmp_path, mnist_onnx):
    data = tmp_path / "d.npz"
    np.savez(data, y=np.zeros((8, 1, 28, 28), np.float32))
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", data, "-o", tmp_path / "c.json"])
    assert code == 2 and "holds only 'y' (labels)" in err, err


def test_a_fixed_batch_model_is_fed_batches_of_its_size(capsys, tmp_path):
    model = tmp_path / "b1.onnx"
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model)
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).normal(size=(8, 1, 8, 8)).astype(np.float32))
    code, _, err = _run(capsys, ["calibrate", model, "--data", data, "-o", tmp_path / "c.json"])
    assert code == 0 and "calibrating: batch 8/8" in err and "--shape" not in err, err  # no hint needed: it just works


def test_colour_conversion_of_an_image_folder_is_said_once(capsys, tmp_path, mnist_onnx):
    Image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28, 3), 40 * i, np.uint8), "RGB").save(folder / f"{i}.png")
    code, _, err = _run(capsys, ["calibrate", mnist_onnx, "--data", folder, "-o", tmp_path / "c.json",
                                 "--batch-size", "1"])
    assert code == 0, err
    assert err.count("are RGB; converted to gray (1 channel) as the input takes them") == 1, err


def test_external_data_models_load_by_path_from_any_folder(capsys, tmp_path, mnist_onnx, monkeypatch):
    import onnx

    folder = tmp_path / "model"
    folder.mkdir()
    model = onnx.load(str(mnist_onnx))
    onnx.save_model(model, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.weights", size_threshold=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = _run(capsys, ["calibrate", folder / "m.onnx", "--data", "mnist:train:32", "-o", "c.json"])
    assert code == 0, err
    pytest.importorskip("ai_edge_litert")
    code, _, err = _run(capsys, ["convert", folder / "m.onnx", "--precision", "int8", "--calib", "c.json",
                                 "--data", "mnist:train:32", "-o", "m.tflite"])
    assert code == 0, err


def _dead_branch_model(path):
    """x -> Conv -> (* 0) -> Conv: the second Conv's input is all zeros for any data (a dead branch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(np.zeros((1,), np.float32), "zero"),
             numpy_helper.from_array(rng.normal(size=(2, 4, 3, 3)).astype(np.float32), "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]), helper.make_node("Mul", ["a", "zero"], ["z"]),
             helper.make_node("Conv", ["z", "w2"], ["y"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 8, 8])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_degenerate_ranges_one_rule(capsys, tmp_path):
    """calibrate records amax 0 and says what follows; convert --precision int8 refuses it (no float fallback in a
    full-integer model) instead of writing a model that saturates; constant data is refused outright."""
    model = _dead_branch_model(tmp_path / "dead.onnx")
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(1).normal(size=(16, 1, 8, 8)).astype(np.float32))
    table = tmp_path / "c.json"
    code, _, err = _run(capsys, ["calibrate", model, "--data", data, "-o", table, "--method", "minmax"])
    assert code == 0 and "calibration range of 'z': all-zero" in err, err
    pytest.importorskip("ai_edge_litert")
    code, _, err = _run(capsys, ["convert", model, "--precision", "int8", "--calib", table, "--data", data,
                                 "-o", tmp_path / "m.tflite"])
    assert code == 2 and "tensor 'z' has a degenerate range" in err and not (tmp_path / "m.tflite").exists(), err
    const = tmp_path / "const.npy"
    np.save(const, np.full((16, 1, 8, 8), 0.5, np.float32))
    code, _, err = _run(capsys, ["calibrate", model, "--data", const, "-o", tmp_path / "k.json"])
    assert code == 2 and "is constant (every value is 0.5)" in err and not (tmp_path / "k.json").exists(), err
