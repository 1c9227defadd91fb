"""The TensorRT runner's whole path (open, profile selection, bind, infer, infer_async, close) replayed per
TensorRT version on the strict fake generated from the real bindings (tests/trt_fake), with a fake pycuda.driver.
The fake engine computes with ONNX Runtime, so outputs are checked against the ONNX model. It proves the calls and
their order, not TensorRT's kernels or speed (those need a device: test_tensorrt_engine.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jetsonkit.engine.machine import MachineInfo
from jetsonkit.engine.options import BuildSettings, parse_profiles
from trt_fake import DUMPS, FakeTrtError, install

PROFILES = parse_profiles(["input:1x1x28x28,4x1x28x28,4x1x28x28", "input:5x1x28x28,32x1x28x28,64x1x28x28"])


@pytest.fixture
def fake(monkeypatch):
    from jetsonkit.engine import engine

    def _install(version: str, **world):
        trt, w = install(monkeypatch, version, **world)
        monkeypatch.setattr(engine, "detect_machine", lambda dla_cores=None: MachineInfo(
            "Orin", "8.7", 8 << 30, dla_cores, "36.4.0", "6"))
        return trt, w
    return _install


def _ort(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _build(tmp_path, onnx_path, name="m.engine", **options):
    from jetsonkit.engine.engine import build_engine

    return build_engine(onnx_path, tmp_path / name, BuildSettings(**{"profiles": PROFILES, **options})).engine_path


@pytest.mark.parametrize("version", list(DUMPS))
def test_runtime_path_on_each_version(version, fake, tmp_path, mnist_onnx, mnist_reference):
    """open -> profile selection -> bind -> infer / infer_async / threads -> close, on every version; close frees
    every device / pinned buffer and detaches the primary context (defect 8)."""
    from jetsonkit.runtime import Runtime

    trt, world = fake(version)
    engine = _build(tmp_path, mnist_onnx)
    x = mnist_reference[0][:64]
    ref = _ort(mnist_onnx, x)
    with Runtime.open(engine, backend="tensorrt", contexts=2) as rt:
        assert rt.inputs[0].max_shape == (64, 1, 28, 28)
        for n in (1, 4, 5, 64):  # profile 0, then profile 1
            np.testing.assert_allclose(rt.infer(x[:n])["logits"], ref[:n], rtol=1e-5, atol=1e-5)
        handles = [rt.infer_async(x[i:i + 3]) for i in range(0, 30, 3)]
        np.testing.assert_allclose(np.concatenate([h.wait()["logits"] for h in handles]), ref[:30], rtol=1e-5,
                                   atol=1e-5)
    assert world.memory == {} and world.primary_retained == 0


def test_callers_stream_is_ordered_with_the_contexts_other_work(fake, tmp_path, mnist_onnx, mnist_reference):
    """Defect 4: requests on the caller's stream and on the pipeline's streams share one execution context; each
    enqueue waits for the previous one's event (the fake refuses a context in flight on two streams)."""
    from jetsonkit.runtime import Runtime

    fake("10.3")
    import pycuda.driver as cuda

    x = mnist_reference[0][:8]
    with Runtime.open(_build(tmp_path, mnist_onnx), backend="tensorrt", depth=3) as rt:
        stream = cuda.Stream()
        a = rt.infer_async(x[:2])
        b = rt.infer_async(x[2:4], stream=stream)
        c = rt.infer_async(x[4:6])
        out = np.concatenate([h.wait()["logits"] for h in (a, b, c)])
    np.testing.assert_allclose(out, _ort(mnist_onnx, x[:6]), rtol=1e-5, atol=1e-5)


def test_context_on_two_streams_without_an_edge_is_refused(fake, tmp_path, mnist_onnx):
    """The rule the test above relies on, fed a deliberately wrong sequence."""
    trt, world = fake("10.3")
    import pycuda.driver as cuda

    engine = trt.Runtime(trt.Logger()).deserialize_cuda_engine(Path(_build(tmp_path, mnist_onnx)).read_bytes())
    ctx = engine.create_execution_context()
    buf = {n: world.alloc(64 * 784 * 4) for n in ("input", "logits")}
    for name, addr in buf.items():
        ctx.set_tensor_address(name, addr)
    s1, s2 = cuda.Stream(), cuda.Stream()
    assert not ctx.execute_async_v3(s1.handle) and "no shape" in world.log[-1]  # dynamic input without a shape
    assert ctx.set_input_shape("input", (2, 1, 28, 28))
    assert ctx.execute_async_v3(s1.handle)
    with pytest.raises(FakeTrtError, match="may still run"):
        ctx.execute_async_v3(s2.handle)
    event = cuda.Event().record(s1)
    s2.wait_for_event(event)
    assert ctx.execute_async_v3(s2.handle)


def _graph(path: Path, nodes, inputs, outputs, inits=()):
    import onnx
    from onnx import helper

    onnx.save(helper.make_model(helper.make_graph(nodes, path.stem, inputs, outputs, list(inits)),
                                opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_output_shapes_come_from_the_engine(fake, tmp_path):
    """Defect 5: outputs with dynamic H / W take the shape the engine computes (context.get_tensor_shape)."""
    from onnx import TensorProto, helper

    from jetsonkit.runtime import Runtime

    fake("10.16")
    pool = _graph(tmp_path / "pool.onnx", [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])])
    engine = _build(tmp_path, pool, profiles=parse_profiles(["x:1x1x8x8,1x1x16x16,1x1x32x48"]))
    with Runtime.open(engine, backend="tensorrt") as rt:
        for h, w in ((8, 8), (32, 48), (10, 14)):
            x = np.random.default_rng(h).standard_normal((1, 1, h, w)).astype(np.float32)
            np.testing.assert_array_equal(rt.infer(x)["y"], x.reshape(1, 1, h // 2, 2, w // 2, 2).max(axis=(3, 5)))


@pytest.mark.parametrize("version", ["10.3", "11.4"])
def test_data_dependent_outputs_use_an_output_allocator(version, fake, tmp_path):
    """Defect 5: a NonZero output's shape is known only after the run: the output allocator gets it and grows the
    buffer when TensorRT needs more; 8.x refuses such engines by name."""
    from onnx import TensorProto, helper

    from jetsonkit.runtime import Runtime

    fake(version)
    nz = _graph(tmp_path / "nz.onnx", [helper.make_node("NonZero", ["x"], ["i"]),
                                       helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])])
    engine = _build(tmp_path, nz, profiles=[])
    with Runtime.open(engine, backend="tensorrt") as rt:
        for k in (3, 64, 0, 17):
            x = np.zeros(64, np.float32)
            x[:k] = 1.0
            np.testing.assert_array_equal(rt.infer(x)["y"], np.arange(k, dtype=np.float32)[None])


def test_data_dependent_outputs_need_trt10(fake, tmp_path):
    from onnx import TensorProto, helper

    from jetsonkit.errors import UnsupportedError
    from jetsonkit.runtime import Runtime

    _, world = fake("8.6")
    nz = _graph(tmp_path / "nz.onnx", [helper.make_node("NonZero", ["x"], ["i"]),
                                       helper.make_node("Cast", ["i"], ["y"], to=TensorProto.FLOAT)],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "n"])])
    with pytest.raises(UnsupportedError, match="data-dependent shapes.*TensorRT 10") as err:
        Runtime.open(_build(tmp_path, nz, profiles=[]), backend="tensorrt")
    assert "--nms efficient-nms" in err.value.hint  # the static-output route for NMS on 8.x
    assert world.memory == {} and world.primary_retained == 0  # a failed open leaks nothing either


def test_version_compatible_and_dla_engines_open(fake, tmp_path, mnist_onnx):
    """Defects 2, 11: the runtime allows host code for a version-compatible engine and sets the DLA core recorded
    in the sidecar before deserialising."""
    from jetsonkit.runtime import Runtime

    fake("10.3")
    with Runtime.open(_build(tmp_path, mnist_onnx, "vc.engine", version_compatible=True), backend="tensorrt"):
        pass
    static = parse_profiles(["input:4x1x28x28,4x1x28x28,4x1x28x28"])
    with Runtime.open(_build(tmp_path, mnist_onnx, "dla.engine", precision="fp16", dla_core=1, profiles=static),
                      backend="tensorrt") as rt:
        assert rt.engine._spec["runtime_dla_core"] == 1


def test_stream_from_another_context_is_refused(fake, monkeypatch, tmp_path, mnist_onnx, mnist_reference):
    """Defect 16: a stream of a non-primary context (pycuda.autoinit) is refused with the fix."""
    from jetsonkit.errors import UsageError
    from jetsonkit.runtime import Runtime, cuda_stream

    fake("10.3")
    import pycuda.driver as cuda

    with Runtime.open(_build(tmp_path, mnist_onnx), backend="tensorrt") as rt:
        monkeypatch.setattr(cuda_stream, "stream_context", lambda stream: 0xBAD)
        with pytest.raises(UsageError, match="autoprimaryctx"):
            rt.infer_async(mnist_reference[0][:1], stream=cuda.Stream())
        monkeypatch.setattr(cuda_stream, "stream_context", lambda stream: int(rt.device.context.handle))
        rt.infer_async(mnist_reference[0][:1], stream=cuda.Stream()).wait()


class _Driver:
    """cuda-python's driver API as far as GraphCache uses it; ``fail`` makes capture fail."""

    class CUstreamCaptureMode:
        CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1

    def __init__(self, fail=False):
        self.fail, self.destroyed, self.launched = fail, [], 0

    def CUstream(self, handle):
        return handle

    def cuStreamBeginCapture(self, handle, mode):
        return (0,)

    def cuStreamEndCapture(self, handle):
        return (1, None) if self.fail else (0, "graph")

    def cuGraphInstantiateWithFlags(self, graph, flags):
        return 0, "exec"

    def cuGraphLaunch(self, graph_exec, stream):
        self.launched += 1
        return (0,)

    def cuGraphExecDestroy(self, graph_exec):
        self.destroyed.append(graph_exec)

    def cuGraphDestroy(self, graph):
        self.destroyed.append(graph)


def test_graph_cache_falls_back_and_destroys(capsys):
    """Defects 6, 7: without cuda-python or when capture fails, requests run without graphs (one note);
    close() destroys every graph and graph exec."""
    from jetsonkit.runtime.cuda_stream import GraphCache

    import types

    runs, st = [], types.SimpleNamespace(handle=7)
    plain = GraphCache(cuda=None, driver=None)
    plain._driver, plain.disabled = None, "CUDA graphs need cuda-python (test)"
    assert [plain.run((0,), st, lambda s: runs.append(s) or {"y": (1,)}) for _ in range(2)] == [{"y": (1,)}] * 2
    failing = GraphCache(cuda=None, driver=_Driver(fail=True))
    assert failing.run((0,), st, lambda s: {"y": (2,)}) == {"y": (2,)} and failing.disabled
    err = capsys.readouterr().err
    assert err.count("warning:") == 2 and "graph capture failed" in err  # one note per cache, not per request
    drv = _Driver()
    good = GraphCache(cuda=None, driver=drv)
    assert good.run((0,), st, lambda s: {"y": (3,)}) == {"y": (3,)}
    good.run((0,), st, lambda s: pytest.fail("replayed, not re-enqueued"))
    good.close()
    assert drv.launched == 2 and drv.destroyed == ["exec", "graph"] and len(good) == 0


def test_our_trampoline_subclasses_on_the_real_bindings(real_trt):
    """Our logger / progress monitor / calibrator / output allocator subclass the *real* pybind11 trampolines
    (real module in a subprocess) and answer the calls TensorRT makes."""
    code = """
import tensorrt_bindings as trt
from jetsonkit.engine.builder import make_cache_calibrator, make_logger, make_progress_monitor
from jetsonkit.runtime.tensorrt_backend import make_output_allocator
major = int(trt.__version__.split(".")[0])
lines = []
logger = make_logger(trt, lines)
logger.log(trt.ILogger.Severity.INFO, "hello")
assert isinstance(logger, trt.ILogger) and lines == ["hello"]
assert trt.init_libnvinfer_plugins(logger, "") is False  # the real caster takes our logger (the stub returns 0)
if major >= 10:
    mon = make_progress_monitor(trt)
    mon.phase_start("Build", None, 3)
    assert isinstance(mon, trt.IProgressMonitor) and mon.step_complete("Build", 1) is True
    alloc = make_output_allocator(trt, None)
    alloc.notify_shape("y", trt.Dims([1, 5]))
    assert isinstance(alloc, trt.IOutputAllocator) and alloc.shapes == {"y": (1, 5)}
if major < 11:
    cal = make_cache_calibrator(trt, b"TRT-cache")
    assert isinstance(cal, trt.IInt8EntropyCalibrator2) and cal.read_calibration_cache() == b"TRT-cache"
    assert cal.get_batch_size() == 1 and cal.get_algorithm() == trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2
print("ok", trt.__version__)
"""
    for version in DUMPS:
        assert real_trt(version, code).startswith("ok")


@pytest.fixture(scope="module")
def detector_nms(tmp_path_factory):
    """The shipped YOLO-style detector exported once, plus the ONNX NonMaxSuppression tail."""
    pytest.importorskip("torch")
    from jetsonkit.detect.onnx_nms import add_nms_tail
    from jetsonkit.examples import detector
    from jetsonkit.export import export_onnx

    tmp = tmp_path_factory.mktemp("det")
    export_onnx(detector.build_model(), detector.example_input(), tmp / "det.onnx", input_names=[detector.INPUT_NAME],
                output_names=[detector.OUTPUT_NAME], dynamic=True, parity=False)
    return add_nms_tail(tmp / "det.onnx", tmp / "nms.onnx", iou=0.7, score=0.25)


@pytest.mark.parametrize("version", ["10.3", "11.4"])
def test_detector_with_nms_tail_through_the_runtime(version, fake, tmp_path, detector_nms):
    """The detection engine case (defect 5): the YOLO-style detector with the ONNX NonMaxSuppression tail has a
    data-dependent output ([K, 3] int64 selected indices). Built and run through the fake of ``version``, both
    outputs match ONNX Runtime on batches whose K differs."""
    import onnxruntime as ort

    from jetsonkit.detect.onnx_nms import SELECTED
    from jetsonkit.examples import detector
    from jetsonkit.runtime import Runtime

    fake(version)
    shape = "x".join(map(str, detector.example_input().shape[1:]))
    engine = _build(tmp_path, detector_nms, "det.engine",
                    profiles=parse_profiles([f"{detector.INPUT_NAME}:1x{shape},4x{shape},4x{shape}"]))
    sess = ort.InferenceSession(str(detector_nms), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    counts = []
    with Runtime.open(engine, backend="tensorrt") as rt:
        for n in (4, 2, 4):
            x = rng.random((n, *detector.example_input().shape[1:]), dtype=np.float32)
            got = rt.infer(x)
            want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {detector.INPUT_NAME: x})))
            np.testing.assert_allclose(got[detector.OUTPUT_NAME], want[detector.OUTPUT_NAME], rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(got[SELECTED], want[SELECTED])
            counts.append(len(got[SELECTED]))
    assert got[SELECTED].dtype == np.int64 and len(set(counts)) > 1, counts


@pytest.mark.parametrize("version,layer", [("8.6", "EfficientNMS_TRT"), ("10.3", "INMSLayer"),
                                           ("10.16", "INMSLayer"), ("11.4", "INMSLayer")])
def test_nms_choice_per_version_is_built_recorded_and_run(version, layer, fake, tmp_path, detector_nms):
    """nms='auto': INMSLayer where jetsonkit reads data-dependent outputs (10+), the EfficientNMS_TRT plugin on 8.6
    (static outputs; the 8.6 bindings have no IOutputAllocator). The choice and its reason are in the sidecar, the
    engine holds that layer, and the detections through Runtime equal the numpy NMS of the decoded output."""
    from jetsonkit.detect.onnx_nms import SELECTED, detections_from_efficient_nms, detections_from_indices
    from jetsonkit.detect.postprocess import class_nms, decode_one
    from jetsonkit.engine.engine import build_engine
    from jetsonkit.engine.sidecar import read_sidecar
    from jetsonkit.examples import detector
    from jetsonkit.runtime import Runtime

    fake(version)
    shape = "x".join(map(str, detector.example_input().shape[1:]))
    profiles = parse_profiles([f"{detector.INPUT_NAME}:1x{shape},2x{shape},2x{shape}"])
    result = build_engine(detector_nms, tmp_path / "det.engine", BuildSettings(profiles=profiles))
    nms = read_sidecar(result.engine_path)["build_spec"]["nms"]
    assert nms["layer"] == layer and nms["requested"] == "auto" and nms["reason"]
    assert layer in result.spec.to_text()
    x = np.random.default_rng(1).random((2, *detector.example_input().shape[1:]), dtype=np.float32)
    with Runtime.open(result.engine_path, backend="tensorrt") as rt:
        layers = {entry["op"] for entry in rt.engine._spec["layers"]}
        assert (layer == "EfficientNMS_TRT") == ("EfficientNMS_TRT" in layers) != ("NonMaxSuppression" in layers)
        out = rt.infer(x)
    if layer == "INMSLayer":
        got = detections_from_indices(out[detector.OUTPUT_NAME], out[SELECTED])
    else:
        assert SELECTED not in out and out["num_detections"].shape == (2, 1)
        assert out["detection_boxes"].shape == (2, 300, 4)  # static: padded to the cap
        got = detections_from_efficient_nms(out["num_detections"], out["detection_boxes"], out["detection_scores"],
                                            out["detection_classes"])
    for o, g in zip(out[detector.OUTPUT_NAME], got):
        assert g.same_as(class_nms(decode_one(o, conf=0.25), iou=0.7)) and len(g) > 0


def test_nms_choice_can_be_forced_and_is_refused_where_unreadable(fake, tmp_path, detector_nms):
    from jetsonkit.engine.engine import build_engine
    from jetsonkit.errors import UnsupportedError
    from jetsonkit.examples import detector
    from jetsonkit.settings import SettingError

    shape = "x".join(map(str, detector.example_input().shape[1:]))
    profiles = parse_profiles([f"{detector.INPUT_NAME}:1x{shape},1x{shape},1x{shape}"])
    fake("10.16")
    forced = build_engine(detector_nms, tmp_path / "eff.engine", BuildSettings(profiles=profiles, nms="efficient-nms"))
    assert forced.spec.nms["layer"] == "EfficientNMS_TRT" and "deprecated since TensorRT 10.12" in forced.spec.nms["reason"]
    fake("8.6")
    with pytest.raises(UnsupportedError, match="IOutputAllocator from TensorRT 10 on, not 8.6"):
        build_engine(detector_nms, tmp_path / "inms.engine", BuildSettings(profiles=profiles, nms="inms"))
    assert not (tmp_path / "inms.engine").exists()
    with pytest.raises(SettingError, match="'batched' is not one of auto, inms, efficient-nms"):
        BuildSettings(nms="batched")  # the CLI says --nms (settings.from_args), a recipe its file:line
