"""ONNX Runtime and LiteRT backends for real, on the trained MNIST CNN: the same contract on both."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from jetsonkit.errors import InputSpecError, ModelLoadError, UsageError
from jetsonkit.runtime import InferHandle, Runtime, RuntimeClosedError

from .conftest import nhwc

BACKENDS = ["onnxruntime", "litert"]


@pytest.fixture(params=BACKENDS)
def model(request, mnist_onnx, mnist_tflite):
    """(path, layout function) for each backend: ONNX takes NCHW, the .tflite NHWC."""
    if request.param == "onnxruntime":
        return mnist_onnx, lambda x: x
    return mnist_tflite, nhwc


def test_open_picks_backend_and_reports_metadata(model):
    path, _ = model
    with Runtime.open(path, threads=1) as rt:
        assert rt.backend == ("onnxruntime" if path.suffix == ".onnx" else "litert")
        (inp,), (out,) = rt.inputs, rt.outputs
        assert inp.name == "input" and inp.dtype == np.float32 and inp.is_dynamic
        assert [d for d in inp.shape if isinstance(d, int)] == [1, 28, 28] or inp.shape[1:] == (28, 28, 1)
        assert out.name == "logits" and out.shape[-1] == 10
        assert rt.describe()["inputs"][0]["name"] == "input"


def test_outputs_agree_with_torch(model, mnist_reference):
    path, layout = model
    x, y, ref = mnist_reference
    with Runtime.open(path, threads=2) as rt:
        got = rt.infer(layout(x))["logits"]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-3, rtol=1e-4)
    assert (got.argmax(1) == ref.argmax(1)).all()
    assert (got.argmax(1) == y).mean() > 0.97


def test_batch_sizes_change_between_calls(model, mnist_reference):
    path, layout = model
    x, _, ref = mnist_reference
    with Runtime.open(path) as rt:
        for n in (1, 5, 2):
            np.testing.assert_allclose(rt.infer(layout(x[:n]))["logits"], ref[:n], atol=1e-3)


def test_validation_errors(model):
    path, layout = model
    x = layout(np.zeros((1, 1, 28, 28), np.float32))
    with Runtime.open(path) as rt:
        with pytest.raises(InputSpecError, match="missing 'input'.*unknown 'image'"):
            rt.infer({"image": x})
        with pytest.raises(InputSpecError, match="float64"):
            rt.infer(x.astype(np.float64))
        with pytest.raises(InputSpecError, match="shape"):
            rt.infer(x[:, :, :, :1] if path.suffix == ".onnx" else x[:, :14])
        with pytest.raises(InputSpecError):  # checked before anything is queued
            rt.infer_async({"image": x})


def test_closed_runtime_refuses_calls(model):
    path, layout = model
    rt = Runtime.open(path)
    rt.close()
    rt.close()  # harmless
    assert rt.closed
    with pytest.raises(RuntimeClosedError, match="is closed"):
        rt.infer(layout(np.zeros((1, 1, 28, 28), np.float32)))
    with pytest.raises(RuntimeClosedError):
        rt.infer_async(layout(np.zeros((1, 1, 28, 28), np.float32)))
    with pytest.raises(RuntimeClosedError):
        with rt:
            pass


def test_async_handle_contract(model, mnist_reference):
    path, layout = model
    x, _, ref = mnist_reference
    with Runtime.open(path) as rt:
        handles = [rt.infer_async(layout(x[i:i + 4])) for i in range(0, 32, 4)]
        assert all(isinstance(h, InferHandle) for h in handles)
        first = handles[0].wait(timeout=30)
        assert handles[0].done()
        assert handles[0].wait() is first and handles[0].outputs is first  # waiting twice: idempotent
        got = np.concatenate([h.wait()["logits"] for h in handles])
    np.testing.assert_allclose(got, ref[:32], atol=1e-3)


def test_close_finishes_queued_requests(model, mnist_reference):
    path, layout = model
    x, _, ref = mnist_reference
    rt = Runtime.open(path)
    handles = [rt.infer_async(layout(x[i:i + 1])) for i in range(6)]
    rt.close()
    assert all(h.done() for h in handles)
    np.testing.assert_allclose(np.concatenate([h.wait()["logits"] for h in handles]), ref[:6], atol=1e-3)


def test_threads_hammering_one_runtime_match_sequential(model, mnist_reference):
    path, layout = model
    x, _, _ = mnist_reference
    batches = [layout(x[i:i + 2]) for i in range(0, 64, 2)]
    with Runtime.open(path, threads=1) as rt:
        sequential = [rt.infer(b)["logits"] for b in batches]
        results: dict[int, np.ndarray] = {}
        errors: list[BaseException] = []

        def worker(offset: int) -> None:
            try:
                for i in range(offset, len(batches), 4):
                    results[i] = rt.infer(batches[i])["logits"]
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(results) == len(batches)
    for i, expected in enumerate(sequential):
        np.testing.assert_array_equal(results[i], expected)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupted_model_file_is_a_clear_error(model, tmp_path, damage):
    path, _ = model
    data = path.read_bytes()
    bad = tmp_path / f"bad{path.suffix}"
    bad.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"\x00not a model\xff" * 50, "empty": b""}[damage])
    with pytest.raises(ModelLoadError) as err:
        Runtime.open(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_unknown_option(mnist_onnx, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Runtime.open(tmp_path / "nope.onnx")
    with pytest.raises(UsageError, match="unknown option.*num_thread.*accepted: .*threads"):
        Runtime.open(mnist_onnx, num_thread=2)


def test_onnxruntime_provider_option(mnist_onnx):
    with pytest.raises(UsageError, match="FooExecutionProvider"):
        Runtime.open(mnist_onnx, providers=["FooExecutionProvider"])
    with Runtime.open(mnist_onnx, providers=["CPUExecutionProvider"], optimization="basic") as rt:
        assert rt.session.get_providers() == ["CPUExecutionProvider"]


def test_litert_without_xnnpack_gives_same_outputs(mnist_tflite, mnist_reference):
    x, _, ref = mnist_reference
    with Runtime.open(mnist_tflite, xnnpack=False, threads=1) as rt:
        np.testing.assert_allclose(rt.infer(nhwc(x[:16]))["logits"], ref[:16], atol=1e-3)


def _int8_reference(m, x_float):
    """numpy reference of the int8 dense layer: quantize in, integer matmul, requantize out (TFLite int8 spec)."""
    s_in, z_in = m["in_q"]
    s_out, z_out = m["out_q"]
    q_in = np.clip(np.rint(x_float / s_in) + z_in, -128, 127)
    bias_q = np.round(m["b"] / (s_in * m["w_scale"]))
    acc = (q_in - z_in) @ m["w_q"].astype(np.float64).T + bias_q
    q_out = np.clip(np.rint(acc * s_in * m["w_scale"] / s_out) + z_out, -128, 127)
    return q_in.astype(np.int8), q_out.astype(np.int8), (q_out - z_out) * s_out


def test_litert_int8_io_quantizes_and_dequantizes(int8_tflite):
    m = int8_tflite
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, size=(1, 16)).astype(np.float32)
    q_in, q_out, real_out = _int8_reference(m, x)
    with Runtime.open(m["path"]) as rt:
        (inp,), (out,) = rt.inputs, rt.outputs
        assert inp.dtype == np.float32 and inp.quantization[1] == m["in_q"][1]
        got = rt.infer(x)["output"]
    assert got.dtype == np.float32
    # one output quantization step of slack for rounding in the kernel's fixed-point requantization
    np.testing.assert_allclose(got, real_out, atol=m["out_q"][0] * 1.01)
    with Runtime.open(m["path"], raw=True) as rt:
        assert rt.inputs[0].dtype == np.int8
        raw = rt.infer(q_in)["output"]
    assert raw.dtype == np.int8
    assert np.abs(raw.astype(int) - q_out.astype(int)).max() <= 1


def test_litert_int8_input_saturates(int8_tflite):
    from jetsonkit.runtime.litert_backend import quantize

    q = quantize(np.array([1e6, -1e6, 0.02, 0.06], np.float32), 0.04, -3, np.dtype(np.int8))
    assert q.tolist() == [127, -128, -3, -1]  # 0.02/0.04 = 0.5 rounds half to even -> 0, +zp; 1.5 -> 2


def test_litert_float_io_on_a_converted_int8_model(mnist_onnx, mnist_train_1k, mnist_test, session_tmp):
    """A full-integer (int8 I/O) MNIST .tflite from jetsonkit.convert: callers pass floats and get float logits."""
    convert = pytest.importorskip("jetsonkit.convert", reason="jetsonkit.convert (TFLite area) is not present")
    path = session_tmp / "mnist_int8_io.tflite"
    if not path.exists():
        convert.convert_tflite(mnist_onnx, path, precision="int8", data=mnist_train_1k[0][:200], io="int8")
    x, y = mnist_test[0][:300], mnist_test[1][:300]
    with Runtime.open(path) as rt:
        (inp,), (out,) = rt.inputs, rt.outputs
        assert inp.dtype == np.float32 and inp.quantization is not None and out.quantization is not None
        logits = np.concatenate([rt.infer(nhwc(x[i:i + 1]))[out.name] for i in range(len(x))])
    assert logits.dtype == np.float32
    assert (logits.argmax(1) == y).mean() >= 0.97


def test_stream_argument_is_for_tensorrt_only(mnist_onnx):
    with Runtime.open(mnist_onnx) as rt:
        with pytest.raises(UsageError, match="stream= is for the TensorRT backend"):
            rt.infer_async(np.zeros((1, 1, 28, 28), np.float32), stream=object())


def test_failed_async_request_raises_on_every_wait_and_runtime_recovers(mnist_tflite, mnist_reference):
    """LiteRT's XNNPACK refuses an empty batch at run time: the handle re-raises it; the next call still works."""
    from jetsonkit.errors import BackendError

    x, _, ref = mnist_reference
    with Runtime.open(mnist_tflite) as rt:
        handle = rt.infer_async(np.zeros((0, 28, 28, 1), np.float32))
        for _ in range(2):
            with pytest.raises(BackendError, match="LiteRT failed"):
                handle.wait()
        assert handle.done()
        np.testing.assert_allclose(rt.infer(nhwc(x[:2]))["logits"], ref[:2], atol=1e-3)


@pytest.fixture(scope="module")
def two_input_onnx(tmp_path_factory):
    """A real two-input ONNX graph: out = a * b + 1 (a float32 [N, 4], b float32 [1, 4])."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Mul", ["a", "b"], ["ab"]), helper.make_node("Add", ["ab", "one"], ["out"])]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 4])],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path_factory.mktemp("two") / "two_inputs.onnx"
    onnx.save(model, path)
    return path


def test_two_input_model(two_input_onnx):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.full((1, 4), 2.0, np.float32)
    with Runtime.open(two_input_onnx) as rt:
        assert [i.name for i in rt.inputs] == ["a", "b"] and rt.inputs[0].shape == ("n", 4)
        np.testing.assert_array_equal(rt.infer({"b": b, "a": a})["out"], a * b + 1)  # any key order
        np.testing.assert_array_equal(rt.infer_async({"a": a, "b": b}).wait()["out"], a * b + 1)
        with pytest.raises(InputSpecError, match="2 inputs"):
            rt.infer(a)
        with pytest.raises(InputSpecError, match="missing 'b'"):
            rt.infer({"a": a})
        with pytest.raises(InputSpecError, match="axis 0 must be 1"):
            rt.infer({"a": a, "b": np.ones((2, 4), np.float32)})


@pytest.mark.parametrize("which,threads", [("onnx", -1), ("onnx", "2"), ("tflite", 0), ("tflite", -1),
                                           ("tflite", "2")])
def test_bad_thread_counts_are_usage_errors(which, threads, mnist_onnx, mnist_tflite):
    path = mnist_onnx if which == "onnx" else mnist_tflite  # ONNX Runtime takes 0 (= its default), LiteRT >= 1
    with pytest.raises(UsageError, match="threads"):
        Runtime.open(path, threads=threads)
