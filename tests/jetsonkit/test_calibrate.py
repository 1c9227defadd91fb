"""jetsonkit.calibrate over real models in ONNX Runtime: tensors, data sources, errors, and INT8 accuracy."""

from __future__ import annotations

import numpy as np
import pytest

import calibrators
from jetsonkit.artifacts import read_table
from jetsonkit.calibrate import ADVISED_SAMPLES, calibrate, collect, format_ranges, range_rows
from jetsonkit.errors import DataError, IncompatibleArtifactError, InputSpecError, UsageError


@pytest.fixture(scope="module")
def mnist_collected(mnist_onnx, mnist_train_1k):
    """Histograms of the MNIST CNN's Q/DQ tensors over 1,000 real training images (collected once)."""
    x, _ = mnist_train_1k
    return collect(mnist_onnx, x, batch_size=250)


def test_collects_exactly_the_placement_tensors(mnist_onnx, mnist_collected):
    import onnx

    from jetsonkit.quantize.placement import calibration_tensors

    collector, sha = mnist_collected
    assert collector.names == calibration_tensors(onnx.load(str(mnist_onnx)))
    assert all(collector[n].samples == 1000 for n in collector.names)
    assert sha == calibrators.CalibrationTable.from_collector(collector, "minmax", model_sha256=sha).model_sha256


def test_minmax_equals_the_true_activation_max(mnist_onnx, mnist_collected, mnist_train_1k):
    """The streamed histogram's max is the max over all 1,000 images of the real activations."""
    import onnx
    import onnxruntime as ort

    collector, _ = mnist_collected
    model = onnx.load(str(mnist_onnx))
    name = collector.names[-1]
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    act = sess.run([name], {"input": mnist_train_1k[0]})[0]
    assert calibrators.compute_amax(collector[name], "minmax") == pytest.approx(float(np.abs(act).max()), rel=1e-6)


def test_int8_accuracy_table_on_real_mnist(mnist_onnx, mnist_collected, mnist_test, tmp_path):
    """Simulated INT8 (Q/DQ from jetsonkit.quantize) on the 10k test split, ranges from 1,000 train images."""
    from jetsonkit.evaluate import top1
    from jetsonkit.quantize import quantize_qdq

    collector, sha = mnist_collected
    x, y = mnist_test
    fp32 = top1(mnist_onnx, x, y)
    assert fp32 == pytest.approx(0.9905, abs=5e-4)
    acc = {}
    for method in calibrators.METHODS:
        table = calibrators.CalibrationTable.from_collector(collector, method, model_sha256=sha)
        quantize_qdq(mnist_onnx, table, tmp_path / f"{method}.onnx")
        acc[method] = top1(tmp_path / f"{method}.onnx", x, y)
    print({m: round(100 * a, 2) for m, a in acc.items()})
    assert fp32 - acc["entropy"] <= 0.003 and fp32 - acc["percentile"] <= 0.003
    assert all(fp32 - a <= 0.01 for a in acc.values())


def test_fake_quantize_matches_onnx_quantize_linear(rng):
    """calibrators.fake_quantize is the arithmetic ONNX Runtime's QuantizeLinear/DequantizeLinear applies."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    amax = 2.5
    scale = calibrators.int8_scale(amax)
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
        [helper.make_tensor("s", TensorProto.FLOAT, [], [float(scale)]),
         helper.make_tensor("z", TensorProto.INT8, [], [0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.concatenate([rng.normal(0, 2, 5000), (np.arange(-140, 140) + 0.5) * scale]).astype(np.float32)
    ort_y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(calibrators.fake_quantize(x, amax), ort_y)


def test_calibrate_writes_table_and_trt_cache(mnist_onnx, mnist_train_1k, tmp_path):
    x = mnist_train_1k[0][:600]
    table = calibrate(mnist_onnx, x, "percentile", output=tmp_path / "c.json", trt_cache=tmp_path / "c.cache",
                      trt_version="8.6.1", batch_size=200, percentile=99.9)
    loaded = read_table(tmp_path / "c.json", model=mnist_onnx)
    assert loaded.amaxes() == table.amaxes() and loaded.options == {"percentile": 99.9}
    assert loaded.producer.startswith("jetsonkit ")
    cache = calibrators.read_trt_cache(tmp_path / "c.cache", expect_version=8601)
    for name, amax in table.amaxes().items():
        assert cache["amax"][name] == pytest.approx(amax, rel=1e-6)


def test_range_rows_show_what_each_range_keeps(mnist_onnx, mnist_collected):
    collector, sha = mnist_collected
    entropy = calibrators.CalibrationTable.from_collector(collector, "entropy", model_sha256=sha)
    rows = range_rows(entropy)
    assert [r["tensor"] for r in rows] == list(entropy.tensors)
    for r in rows:
        h = collector[r["tensor"]]
        assert r["absmax"] == h.absmax and r["amax"] == entropy.amax(r["tensor"])
        assert r["kept"] == pytest.approx(r["amax"] / h.absmax) and 0 < r["kept"] <= 1
        assert r["zero_fraction"] == pytest.approx(h.zeros / h.count)
    assert any(r["kept"] < 0.95 for r in rows), "entropy clips some activation on MNIST"
    assert all(r["kept"] == 1.0 for r in range_rows(calibrators.CalibrationTable.from_collector(collector, "minmax")))
    lines = format_ranges(rows)
    assert len(lines) == len(rows) + 1 and lines[0].split() == ["tensor", "amax", "max", "|x|", "kept", "zeros"]
    assert lines[1].split()[0] == rows[0]["tensor"] and f"{rows[0]['amax']:.5g}" in lines[1]


def test_table_for_another_model_is_refused(mnist_onnx, mnist_train_1k, tmp_path):
    calibrate(mnist_onnx, mnist_train_1k[0][:32], "minmax", output=tmp_path / "c.json", batch_size=32)
    other = tmp_path / "other.onnx"
    other.write_bytes(mnist_onnx.read_bytes() + b"\0")
    with pytest.raises(IncompatibleArtifactError, match="recalibrate"):
        read_table(tmp_path / "c.json", model=other)


def test_fewer_samples_than_advised_warns_with_count(mnist_onnx, mnist_train_1k, capsys):
    calibrate(mnist_onnx, mnist_train_1k[0][:40], "minmax", batch_size=40)
    err = capsys.readouterr().err
    assert f"calibrating with 40 samples; at least {ADVISED_SAMPLES} are advised" in err


def test_empty_data_is_an_error(mnist_onnx):
    with pytest.raises(DataError, match="empty"):
        calibrate(mnist_onnx, np.zeros((0, 1, 28, 28), np.float32))
    with pytest.raises(DataError, match="empty"):
        calibrate(mnist_onnx, iter([]))


def test_wrong_shape_and_dtype_name_both(mnist_onnx):
    with pytest.raises(DataError, match=r"'input'.*shape 4x1x32x32 .*shape \?x1x28x28"):
        calibrate(mnist_onnx, np.zeros((4, 1, 32, 32), np.float32))
    with pytest.raises(DataError, match=r"'input'.*dtype uint8 .*dtype float32"):
        calibrate(mnist_onnx, np.zeros((4, 1, 28, 28), np.uint8))


def test_nan_in_data_names_the_data_sample_and_input(mnist_onnx, mnist_train_1k):
    x = mnist_train_1k[0][:64].copy()
    x[40, 0, 3, 3] = np.nan
    with pytest.raises(DataError, match=r"^data 'array' holds NaN or Inf \(sample 40, input 'input'\) "
                                        r"\(clean the data \(the model is not at fault\)\)$"):
        calibrate(mnist_onnx, x, batch_size=32)


def test_unknown_method(mnist_onnx):
    with pytest.raises(UsageError, match="unknown calibration method 'kl'"):
        calibrate(mnist_onnx, np.zeros((1, 1, 28, 28), np.float32), "kl")


def test_iterables_callables_and_max_samples(mnist_onnx, mnist_train_1k):
    x = mnist_train_1k[0][:96]
    from_array = calibrate(mnist_onnx, x, "minmax", batch_size=32).amaxes()
    samples = calibrate(mnist_onnx, (img for img in x), "minmax")  # one sample at a time, no batch axis
    batches = calibrate(mnist_onnx, lambda: [x[:50], x[50:]], "minmax")
    capped = calibrate(mnist_onnx, x, "minmax", max_samples=10, batch_size=8)
    assert samples.amaxes() == pytest.approx(from_array) and batches.amaxes() == pytest.approx(from_array)
    assert samples.samples == 96 and capped.samples == 10


def test_npy_npz_and_mnist_spec(mnist_onnx, mnist_train_1k, tmp_path):
    x = mnist_train_1k[0][:64]
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", input=x)
    a = calibrate(mnist_onnx, tmp_path / "x.npy", "minmax").amaxes()
    b = calibrate(mnist_onnx, str(tmp_path / "x.npz"), "minmax").amaxes()
    c = calibrate(mnist_onnx, "mnist:train:64", "minmax").amaxes()
    assert a == pytest.approx(b) and a == pytest.approx(c)
    with pytest.raises(DataError, match="does not exist"):
        calibrate(mnist_onnx, tmp_path / "missing.npy")


def _dynamic_conv_onnx(path, channels=3):
    import onnx
    from onnx import TensorProto, helper

    w = np.random.default_rng(1).normal(size=(4, channels, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w"], ["y"], pads=[1, 1, 1, 1])], "dyn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [onnx.numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_image_folder_with_calibration_shape(tmp_path):
    from PIL import Image

    from jetsonkit.preprocess import PreprocessSpec

    model = _dynamic_conv_onnx(tmp_path / "dyn.onnx")
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(folder / "sub" / f"{i}.png")
    with pytest.raises(DataError, match="dynamic height/width"):
        calibrate(model, folder, "minmax")
    opts = PreprocessSpec(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    table = calibrate(model, folder, "minmax", shape="image:1x3x16x16", preprocess=opts, batch_size=2)
    assert table.samples == 5
    assert table.amax("image") <= (1 - 0.5) / 0.25 + 1e-6  # pixels in [0, 1], normalised
    with pytest.raises(InputSpecError, match="does not fit input 'image'"):
        calibrate(model, folder, "minmax", shape="image:1x1x16x16")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no images"):
        calibrate(model, empty, "minmax", shape="image:1x3x8x8")
