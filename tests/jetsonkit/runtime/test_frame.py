"""The frame path on every CPU backend: one PreprocessSpec, the model's own layout, the letterbox geometry."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from jetsonkit.errors import ConfigError, InputSpecError, UsageError
from jetsonkit.preprocess import PreprocessSpec
from jetsonkit.preprocess import metadata as pmeta
from jetsonkit.runtime import Runtime

pytest.importorskip("onnxruntime")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SPEC = PreprocessSpec(resize="letterbox", pad=114, color="rgb", mean=MEAN, std=STD)


def small_net(path, size=(16, 16), spec=SPEC, dynamic=False):
    """x [1, 3, H, W] -> Conv 3x3 (4) -> Relu -> Conv 3x3 stride 2 (4) -> Relu -> GlobalAveragePool -> Flatten ->
    Gemm (3) -> y [1, 3]; the spec stored in the metadata."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    inits = {"w1": rng.normal(size=(4, 3, 3, 3)), "b1": rng.normal(size=4) * 0.1, "w2": rng.normal(size=(4, 4, 3, 3)),
             "b2": rng.normal(size=4) * 0.1, "w3": rng.normal(size=(3, 4)), "b3": rng.normal(size=3) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]), helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], transB=1)]
    dims = ["n", 3, "h", "w"] if dynamic else [1, 3, *size]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n" if dynamic else 1, 3])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if spec is not None:
        pmeta.set_onnx(model, spec)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same network as NCHW .onnx and, through jetsonkit convert, NHWC .tflite."""
    pytest.importorskip("ai_edge_litert")
    from jetsonkit.convert import convert_tflite

    folder = tmp_path_factory.mktemp("frame")
    onnx_path = small_net(folder / "net.onnx")
    tflite_path = folder / "net.tflite"
    convert_tflite(onnx_path, tflite_path)
    return onnx_path, tflite_path


def frame(h=30, w=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_nhwc_tflite_and_nchw_onnx_give_the_same_results_on_one_bgr_frame(pair):
    onnx_path, tflite_path = pair
    bgr = frame()
    with Runtime.open(onnx_path, preprocess="auto") as a, Runtime.open(tflite_path, preprocess="auto") as b:
        assert a.preprocess.layout == "NCHW" and b.preprocess.layout == "NHWC"  # read off each model's input
        assert a.inputs[0].shape == (1, 3, 16, 16) and b.inputs[0].shape[1:] == (16, 16, 3)
        xa, _ = a.frame_tensor(bgr)
        xb, _ = b.frame_tensor(bgr)
        assert xa.transpose(0, 2, 3, 1).tobytes() == xb.tobytes()  # the same pixels, the other way round
        (ya, ga), (yb, gb) = a.infer_frame(bgr), b.infer_frame(bgr)
    assert ga == gb and ga.dst == (0, 3, 16, 10)  # 50x30 letterboxed into 16x16: 16 wide, round(9.6) = 10 high
    np.testing.assert_allclose(ya["y"], yb[next(iter(yb))], rtol=1e-4, atol=1e-5)
    # and the frame really is used: another frame gives other outputs
    assert not np.allclose(ya["y"], Runtime.open(onnx_path, preprocess="auto").infer_frame(frame(seed=1))[0]["y"])


def test_frame_format_rgb_equals_bgr_reversed(pair):
    bgr = frame()
    with Runtime.open(pair[0], preprocess=SPEC, frame_format="rgb") as rt:
        y_rgb, _ = rt.infer_frame(np.ascontiguousarray(bgr[..., ::-1]))
        y_bgr, _ = rt.infer_frame(bgr, fmt="bgr")
    np.testing.assert_array_equal(y_rgb["y"], y_bgr["y"])


def test_geometry_maps_boxes_back_to_the_frame(pair):
    with Runtime.open(pair[0], preprocess="auto") as rt:
        _, geo = rt.infer_frame(frame(40, 20))  # 20 wide, 40 high: 8 wide x 16 high, x offset 4
    assert geo.dst == (4, 0, 8, 16)
    np.testing.assert_allclose(geo.boxes_to_frame([[4, 0, 12, 16], [8, 8, 10, 12]]), [[0, 0, 20, 40], [10, 20, 15, 30]])


def test_layout_mismatch_hint_says_transpose(pair):
    with Runtime.open(pair[1]) as rt:
        nchw = np.zeros((1, 3, 16, 16), np.float32)
        with pytest.raises(InputSpecError, match="transpose it, x.transpose\\(0, 2, 3, 1\\)"):
            rt.infer(nchw)
    with Runtime.open(pair[0]) as rt, pytest.raises(InputSpecError, match="transpose"):
        rt.infer(np.zeros((1, 16, 16, 3), np.float32))


def test_dynamic_model_takes_the_spec_size_or_is_refused(tmp_path):
    path = small_net(tmp_path / "dyn.onnx", dynamic=True, spec=None)
    with Runtime.open(path, preprocess=SPEC.with_size(24, 32)) as rt:
        out, geo = rt.infer_frame(frame())
        assert out["y"].shape == (1, 3) and rt.frame_tensor(frame())[0].shape == (1, 3, 24, 32)
    with pytest.raises(InputSpecError, match="dynamic height / width.*no size"):
        Runtime.open(path, preprocess=SPEC)
    with pytest.raises(ConfigError, match="stores no pre-processing spec"):
        Runtime.open(path, preprocess="auto")


def test_spec_contradicting_the_model_is_refused(pair):
    with pytest.raises(InputSpecError, match="size \\[20, 20\\] does not fit"):
        Runtime.open(pair[0], preprocess=SPEC.with_size(20, 20))
    with pytest.raises(InputSpecError, match="1 channels|makes 1"):
        Runtime.open(pair[0], preprocess=PreprocessSpec(color="gray"))
    with Runtime.open(pair[0]) as rt, pytest.raises(UsageError, match="needs a pre-processing spec"):
        rt.infer_frame(frame())


def test_folder_calibration_bytes_equal_the_runtime_frame_path(pair, tmp_path):
    """Calibration of an image folder through the stored spec == what infer_frame feeds, byte for byte."""
    from PIL import Image

    from jetsonkit.data import DataSpec, InputInfo

    frames = [frame(30 + 7 * i, 50 - 5 * i, seed=i) for i in range(3)]  # RGB pixels
    (tmp_path / "imgs").mkdir()
    for i, rgb in enumerate(frames):
        Image.fromarray(rgb).save(tmp_path / "imgs" / f"{i}.png")
    stored = pmeta.from_onnx(pair[0])
    inputs = [InputInfo("x", (1, 3, 16, 16), np.dtype(np.float32))]
    calib = np.concatenate([b["x"] for b in DataSpec.parse(tmp_path / "imgs", preprocess=stored).batches(inputs, batch_size=1)])
    with Runtime.open(pair[0], preprocess="auto") as rt:
        runtime = np.concatenate([rt.frame_tensor(np.ascontiguousarray(f[..., ::-1]))[0] for f in frames])
    assert calib.tobytes() == runtime.tobytes()


@pytest.mark.parametrize("which", [0, 1])
def test_done_callback_on_every_cpu_backend(pair, which):
    bgr = frame()
    with Runtime.open(pair[which], preprocess="auto") as rt:
        expected, _ = rt.infer_frame(bgr)
        fired, seen = threading.Event(), []

        def done(handle):
            seen.append((handle.wait(), handle.geometry, threading.current_thread().name))
            fired.set()

        handle = rt.infer_frame_async(bgr)
        handle.add_done_callback(done)
        assert fired.wait(10)
        (out, geo, _thread), = seen
        assert geo == handle.geometry and all(np.array_equal(out[k], expected[k]) for k in expected)
        late = []
        handle.add_done_callback(lambda h: late.append(threading.current_thread().name))  # already done: at once
        assert late == [threading.current_thread().name]


def test_a_failing_callback_is_logged_not_raised(pair, caplog):
    with Runtime.open(pair[0], preprocess="auto") as rt:
        handle = rt.infer_frame_async(frame())
        handle.wait()
        with caplog.at_level(logging.ERROR, logger="jetsonkit.runtime.handle"):
            handle.add_done_callback(lambda h: 1 / 0)
        assert handle.wait()["y"].shape == (1, 3)
    assert "ZeroDivisionError" in caplog.text
