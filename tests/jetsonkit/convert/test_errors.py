"""Bad input gives one clear error, and nothing is left half-written."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import DataError, InputError, UnsupportedError, UsageError


def _hardmax_model(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="squash")], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_unsupported_op_is_named(tmp_path):
    from jetsonkit.convert import convert_tflite

    with pytest.raises(UnsupportedError, match=r"ONNX op Hardmax \(node 'squash'\)") as err:
        convert_tflite(_hardmax_model(tmp_path / "t.onnx"), tmp_path / "t.tflite")
    assert "\n" not in str(err.value) and "supported ops:" in str(err.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "t.onnx"]  # no .tflite, no temp file


def test_wrong_calibration_shape_names_the_input(mnist_onnx, tmp_path):
    from jetsonkit.convert import convert_tflite

    with pytest.raises(DataError, match="'input'.*shape"):
        convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="int8", data=np.zeros((4, 28, 28), np.float32))
    with pytest.raises(DataError, match="NaN"):
        convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="int8",
                       data=np.full((2, 1, 28, 28), np.nan, np.float32))
    assert not list(tmp_path.iterdir())


def test_option_errors(mnist_onnx, tmp_path):
    from jetsonkit.convert import convert_tflite

    with pytest.raises(UsageError, match="needs calibration data"):
        convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="int8")
    with pytest.raises(UsageError, match="int8"):
        convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="fp16", io="int8")
    with pytest.raises(InputError, match="not found"):
        convert_tflite(tmp_path / "missing.onnx", tmp_path / "m.tflite")


def test_cli_exit_codes(mnist_onnx, tmp_path, capsys):
    from jetsonkit.cli import main

    out = tmp_path / "m.tflite"
    assert main(["convert", str(mnist_onnx), "--precision", "int8", "-o", str(out)]) == 2
    assert main(["convert", str(mnist_onnx), "--precision", "int8", "--data", str(tmp_path / "no.npy"),
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no.npy" in err and not out.exists()
    assert main(["--json", "convert", str(mnist_onnx), "-o", str(out)]) == 0
    assert '"precision": "fp32"' in capsys.readouterr().out and out.exists()


def test_table_for_another_model_is_refused(mnist_onnx, mnist_train_1k, tmp_path):
    calibrators = pytest.importorskip("calibrators")
    from jetsonkit.convert import convert_tflite
    from jetsonkit.errors import IncompatibleArtifactError

    collector = calibrators.HistogramCollector()
    collector.update("some_other_tensor", np.ones((2, 3), np.float32))
    path = calibrators.CalibrationTable.from_collector(collector, "minmax").save(tmp_path / "other.json")
    with pytest.raises(IncompatibleArtifactError, match="names none of this model's tensors"):
        convert_tflite(mnist_onnx, tmp_path / "m.tflite", precision="int8", data=mnist_train_1k[0][:10], calib=path)
    assert not (tmp_path / "m.tflite").exists()


def test_int8_conversion_works_offline(mnist_onnx, mnist_train_1k, tmp_path):
    """The whole int8 conversion in a network namespace with no interfaces up (unshare -n): nothing is fetched."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs unshare and root / user namespaces)")
    data = tmp_path / "calib.npy"
    np.save(data, mnist_train_1k[0][:200])
    out = tmp_path / "offline.tflite"
    proc = subprocess.run(["unshare", "-n", sys.executable, "-m", "jetsonkit", "convert", str(mnist_onnx),
                           "--precision", "int8", "--data", str(data), "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 100_000


def test_cli_data_accepts_what_calibrate_accepts(mnist_onnx, mnist_train_1k, tmp_path, capsys):
    """--data goes through jetsonkit.data (DataSpec): mnist:<split>[:limit], .npy and .npz all convert (exit 0)."""
    from jetsonkit.cli import main
    from jetsonkit.convert import read_metadata

    np.save(tmp_path / "calib.npy", mnist_train_1k[0][:300])
    np.savez(tmp_path / "calib.npz", input=mnist_train_1k[0][:300])
    for k, data in enumerate(("mnist:train:300", str(tmp_path / "calib.npy"), str(tmp_path / "calib.npz"))):
        out = tmp_path / f"d{k}.tflite"
        assert main(["convert", str(mnist_onnx), "--precision", "int8", "--data", data, "-o", str(out)]) == 0, \
            capsys.readouterr().err
        assert read_metadata(out)["precision"] == "int8"
    assert main(["convert", str(mnist_onnx), "--precision", "int8", "--data", "mnist:val", "--limit", "200",
                 "-o", str(tmp_path / "v.tflite")]) == 0


def test_python_api_data_spec_and_limit(mnist_onnx, session_tmp):
    """convert_tflite(data="mnist:train:1000", limit=...) uses the first `limit` samples: same model as the array."""
    from jetsonkit.convert import convert_tflite
    from jetsonkit.examples import mnist

    a = convert_tflite(mnist_onnx, session_tmp / "spec.tflite", precision="int8", data="mnist:train:1000", limit=250)
    b = convert_tflite(mnist_onnx, session_tmp / "arr.tflite", precision="int8",
                       data=mnist.load_split("train", limit=250)[0])
    assert a.path.read_bytes() == b.path.read_bytes()


@pytest.mark.parametrize("data", ["mnist:train:abc", "mnist:bogus", "mnist:train:0", "mnist:train:-5",
                                  "mnist:train:10:20", "missing.npy", "bad.npy", "ints.npy", "flat.npy",
                                  "multi.npz", "notes.txt", "empty_dir"])
def test_cli_bad_data_is_one_line_exit_2(mnist_onnx, tmp_path, capsys, data):
    from jetsonkit.cli import main

    (tmp_path / "bad.npy").write_text("not numpy")
    np.save(tmp_path / "ints.npy", np.zeros((4, 1, 28, 28), np.int64))
    np.save(tmp_path / "flat.npy", np.zeros((4, 784), np.float32))
    np.savez(tmp_path / "multi.npz", a=np.zeros((4, 1, 28, 28), np.float32), b=np.zeros(3, np.float32))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty_dir").mkdir()
    arg = data if data.startswith("mnist:") else str(tmp_path / data)
    out = tmp_path / "m.tflite"
    assert main(["convert", str(mnist_onnx), "--precision", "int8", "--data", arg, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0] and "internal error" not in err[0], err
    assert not out.exists()


def test_cli_bad_limit(mnist_onnx, tmp_path, capsys):
    from jetsonkit.cli import main

    assert main(["convert", str(mnist_onnx), "--precision", "int8", "--data", "mnist:train", "--limit", "0",
                 "-o", str(tmp_path / "m.tflite")]) == 2
    assert "limit" in capsys.readouterr().err


@pytest.mark.parametrize("extra, fragment", [
    (["--precision", "fp32", "--data", "mnist:train:50"], "--data calibrate(s) --precision int8 and would do nothing"),
    (["--precision", "fp16", "--limit", "5"], "--limit calibrate(s) --precision int8 and would do nothing"),
    (["--method", "entropy"], "--method calibrate(s) --precision int8 and would do nothing for --precision fp32"),
    (["--input", "input:1x1x28x28"], "--input / --weights describe a PyTorch spec"),
    (["--precision", "int8", "--data", "mnist:train:50", "--calib", "NOT_JSON"], "not valid JSON"),
])
def test_cli_refuses_ignored_options_and_bad_tables(mnist_onnx, tmp_path, capsys, extra, fragment):
    """--data with fp32 used to be dropped silently; a calib.json that is not JSON was an internal error (exit 3)."""
    from jetsonkit.cli import main

    not_json = tmp_path / "calib.json"
    not_json.write_text("hello\n")
    out = tmp_path / "m.tflite"
    extra = [str(not_json) if a == "NOT_JSON" else a for a in extra]
    assert main(["convert", str(mnist_onnx), *extra, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and fragment in lines[0] and "internal error" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.json"]


def _shape_model(path):
    """x.view(x.size(0), -1) the way torch exports it with a dynamic batch: Shape -> Gather -> Concat -> Reshape."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
             numpy_helper.from_array(rng.standard_normal((64, 5)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["c"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "zero"], ["n"], name="batch", axis=0),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"], name="unsqueeze"),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="target", axis=0),
             helper.make_node("Reshape", ["c", "target"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "fc"], ["y"], name="fc")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])
    graph = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_cli_int8_with_shape_nodes_and_unsupported_op(tmp_path, capsys):
    """int8 with a Shape sub-graph used to exit 3 (an int64 tensor calibrated as float); an unknown op exits 2."""
    import onnxruntime as ort

    from jetsonkit.cli import main

    from .lowering_check import run_litert

    model = _shape_model(tmp_path / "shape.onnx")
    x = np.random.default_rng(1).standard_normal((64, 3, 4, 4)).astype(np.float32)
    np.save(tmp_path / "calib.npy", x)
    out = tmp_path / "shape.int8.tflite"
    assert main(["convert", str(model), "--precision", "int8", "--data", str(tmp_path / "calib.npy"),
                 "-o", str(out)]) == 0, capsys.readouterr().err
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run_litert(out, x)[0]
    assert got.shape == ref.shape and np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99
    capsys.readouterr()
    assert main(["convert", str(_hardmax_model(tmp_path / "h.onnx")), "-o", str(tmp_path / "h.tflite")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "Hardmax" in err[0] and "'squash'" in err[0] and "replace it" in err[0]
    assert not (tmp_path / "h.tflite").exists()


def test_dynamic_height_width_converts_at_the_given_size(tmp_path, capsys):
    """A detector exported with dynamic H / W: refused with the fix named, converted with --input-shape."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from jetsonkit.cli import main

    from .lowering_check import run_litert

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="nearest", nearest_mode="floor",
                              coordinate_transformation_mode="asymmetric")]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, scales])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    out = tmp_path / "dyn.tflite"
    assert main(["convert", str(path), "-o", str(out)]) == 2
    assert "--input-shape" in capsys.readouterr().err and not out.exists()
    assert main(["convert", str(path), "--input-shape", "1x3x12x16", "-o", str(out)]) == 0
    x = np.random.default_rng(1).standard_normal((2, 3, 12, 16)).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(run_litert(out, x)[0], ref, atol=1e-4)
    assert main(["convert", str(path), "--input-shape", "1x3x0x16", "-o", str(out)]) == 2
