"""The build path replayed per TensorRT version on a strict fake generated from the real bindings' dump
(tests/trt_fake): every call our code makes must be one that version's Python API accepts — names, overloads,
argument types, enum classes, writable properties, trampoline arity — and follow the order TensorRT needs.
It proves the calls, not what TensorRT does with them (no kernel, no timing, no accuracy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jetsonkit.engine.machine import MachineInfo
from jetsonkit.engine.options import BuildSettings, parse_profiles
from jetsonkit.errors import BackendError
from trt_fake import DUMPS, FakeTrtError, install, load_dump

PROFILE = parse_profiles(["input:1x1x28x28,8x1x28x28,64x1x28x28"])
STATIC = parse_profiles(["input:8x1x28x28,8x1x28x28,8x1x28x28"])
ORIN = MachineInfo("Orin", "8.7", 8 << 30, None, "36.4.0", "6")


@pytest.fixture
def fake(monkeypatch):
    """install(version) -> (trt, world) with the build machine an Orin (JetPack 6), 2 DLA cores."""
    from jetsonkit.engine import engine

    def _install(version: str, **world):
        trt, w = install(monkeypatch, version, **world)
        monkeypatch.setattr(engine, "detect_machine",
                            lambda dla_cores=None: MachineInfo(**{**ORIN.to_dict(), "dla_cores": dla_cores}))
        return trt, w
    return _install


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    """A calibration-table stand-in: the loader is patched, only the file's presence matters to the options."""
    path = tmp_path_factory.mktemp("calib") / "calib.json"
    path.write_text("{}")
    return str(path)


def _matrix(major: int, tmp: Path, calib: str) -> list[tuple[str, BuildSettings]]:
    common = dict(profiles=PROFILE, timing_cache=str(tmp / "tc.bin"), optimization_level=3, workspace=2**30)
    combos = [
        ("fp32+timing+opt", BuildSettings(precision="fp32", **common)),
        ("fp16+sparse", BuildSettings(precision="fp16", sparsity=True, profiles=PROFILE)),
        ("version-compatible", BuildSettings(version_compatible=True, profiles=PROFILE)),
        ("two-profiles", BuildSettings(profiles=parse_profiles(["input:1x1x28x28,4x1x28x28,4x1x28x28",
                                                               "input:5x1x28x28,64x1x28x28,64x1x28x28"]))),
    ]
    if major < 11:
        combos += [
            ("dla-fp16", BuildSettings(precision="fp16", dla_core=1, profiles=STATIC)),
            ("int8-calibrator", BuildSettings(precision="int8", int8_mode="calibrator", calibration=calib,
                                             calibration_shapes={"input": (32, 1, 28, 28)}, profiles=PROFILE)),
            ("int8-cache-best", BuildSettings(precision="best", int8_mode="cache", calibration=calib, profiles=PROFILE)),
            ("int8-dynamic-range", BuildSettings(precision="int8", int8_mode="dynamic-range", calibration=calib,
                                                profiles=PROFILE)),
            ("layer-precisions", BuildSettings(precision="fp32", profiles=PROFILE,
                                              precision_plan={"/features/features.0/Conv": "fp16"})),
        ]
    return combos


@pytest.mark.parametrize("version", list(DUMPS))
def test_build_option_matrix_replays_on_each_version(version, fake, monkeypatch, tmp_path, mnist_onnx, calib):
    """Every build option of the matrix runs through the fake of ``version``; the fake engine records what was set."""
    from jetsonkit.engine import engine

    trt, world = fake(version)
    monkeypatch.setattr(engine, "load_table_amax", lambda path, sha=None: {"input": 2.8, "/features/features.0/Conv_output_0": 4.0})
    major = int(version.split(".")[0])
    for i, (name, options) in enumerate(_matrix(major, tmp_path, calib)):
        out = tmp_path / f"m{i}.engine"
        result = engine.build_engine(mnist_onnx, out, options, force=True)
        spec = json.loads(out.read_bytes()[len(b"FAKE-ENGINE"):])
        assert out.exists() and Path(str(out) + ".json").exists(), name
        assert set(result.spec.builder_flags) <= set(spec["flags"]) | {"GPU_FALLBACK"} or major >= 11, name
        assert len(spec["profiles"]) == len(options.profiles), name
        if options.version_compatible:
            assert "VERSION_COMPATIBLE" in spec["flags"]
        if options.dla_core is not None:
            assert spec["dla_core"] == options.dla_core
    assert (tmp_path / "tc.bin").read_bytes().startswith(b"TIMING:")  # written back after the build


def test_parser_must_outlive_the_build(fake, mnist_onnx):
    """Rule: the OnnxParser owns the weights. A parser dropped before build_serialized_network is refused."""
    trt, _ = fake("10.3")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    assert trt.OnnxParser(network, logger).parse_from_file(str(mnist_onnx))  # temporary parser: dies here
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 1, 28, 28), (8, 1, 28, 28), (64, 1, 28, 28))
    config.add_optimization_profile(profile)
    with pytest.raises(FakeTrtError, match="OnnxParser .* destroyed"):
        builder.build_serialized_network(network, config)
    parser = trt.OnnxParser(network, logger)  # kept alive: the build goes through
    assert parser.parse_from_file(str(mnist_onnx)) and builder.build_serialized_network(network, config) is not None


@pytest.mark.parametrize("version", ["8.6", "10.3", "11.4"])
def test_wrong_calls_are_refused_the_way_pybind11_refuses_them(version, fake, mnist_onnx):
    """Rules of the generated API: types, enum classes, keywords, read-only and unknown attributes."""
    trt, _ = fake(version)
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    config = builder.create_builder_config()
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_flag(int(trt.BuilderFlag.FP16 if version != "11.4" else trt.BuilderFlag.SPARSE_WEIGHTS))
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_flag(trt.DataType.FLOAT)  # another enum class
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1.5)  # float for an int
    with pytest.raises(TypeError, match="incompatible function arguments"):
        config.set_memory_pool_limit(pool=trt.MemoryPoolType.WORKSPACE, size=1)  # wrong keyword
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) if version == "8.6" else 0)
    parser = trt.OnnxParser(network, trt.Logger())
    with pytest.raises(TypeError, match="incompatible function arguments"):
        parser.parse_from_file(mnist_onnx)  # a pathlib.Path: pybind11's str caster refuses it
    with pytest.raises(AttributeError, match="can't set attribute"):
        builder.num_DLA_cores = 3
    if version != "8.6":
        with pytest.raises(AttributeError, match="no attribute 'max_workspace_size'"):
            config.max_workspace_size = 1 << 30  # removed in 10.0
    else:
        config.max_workspace_size = 1 << 30
    if version == "11.4":
        assert not hasattr(trt, "IInt8EntropyCalibrator2") and not hasattr(trt.BuilderFlag, "INT8")


def test_trampoline_subclasses_are_checked(fake):
    """Rules: a subclass's methods take the arguments TensorRT passes, and the base __init__ ran before use."""
    from jetsonkit.engine.builder import make_cache_calibrator, make_logger, make_progress_monitor

    trt, _ = fake("10.3")
    trt.Builder(make_logger(trt, []))
    make_progress_monitor(trt), make_cache_calibrator(trt, b"cache")
    with pytest.raises(FakeTrtError, match="log takes 1 argument"):
        type("BadLogger", (trt.ILogger,), {"log": lambda self, msg: None})
    with pytest.raises(FakeTrtError, match="phase_start takes 2"):
        type("BadMonitor", (trt.IProgressMonitor,), {"phase_start": lambda self, a, b: None})
    no_init = type("NoInit", (trt.ILogger,), {"__init__": lambda self: None, "log": lambda self, s, m: None})
    with pytest.raises(TypeError, match="__init__\\(\\) must be called"):
        trt.Builder(no_init())


def test_deserialising_needs_plugins_and_host_code(fake, tmp_path, mnist_onnx):
    """Rules: an engine with plugin layers loads only after init_libnvinfer_plugins; a version-compatible one only
    with engine_host_code_allowed. jetsonkit's load_engine does both (defects 1, 2)."""
    from jetsonkit.engine.loading import load_engine

    trt, world = fake("10.3")
    spec = {"onnx": str(mnist_onnx), "inputs": [], "outputs": [], "layers": [], "data_dependent": False,
            "plugins": ["EfficientNMS_TRT"], "profiles": [], "flags": ["VERSION_COMPATIBLE"], "dla_core": None}
    data = b"FAKE-ENGINE" + json.dumps(spec).encode()
    runtime = trt.Runtime(trt.Logger())
    assert runtime.deserialize_cuda_engine(data) is None and "init_libnvinfer_plugins" in world.log[-1]
    trt.init_libnvinfer_plugins(None, "")
    assert runtime.deserialize_cuda_engine(data) is None and "engine_host_code_allowed" in world.log[-1]
    world.plugins_initialised = False
    engine = load_engine(trt, trt.Runtime(trt.Logger()), data, version_compatible=True, dla_core=1)
    assert engine is not None and engine._spec["runtime_dla_core"] == 1


def _plugin_onnx(path: Path) -> Path:
    """A graph with a TensorRT plugin op (EfficientNMS_TRT): the parser keeps it as a plugin layer."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("EfficientNMS_TRT", ["boxes", "scores"], ["num", "out_boxes"], name="nms",
                            domain="trt.plugins")
    graph = helper.make_graph([node], "nms", [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 100, 4]),
                                              helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 100, 2])],
                              [helper.make_tensor_value_info("num", TensorProto.INT32, [1, 1]),
                               helper.make_tensor_value_info("out_boxes", TensorProto.FLOAT, [1, 10, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("trt.plugins", 1)]),
              path)
    return path


@pytest.mark.parametrize("version", ["8.6", "10.16"])
def test_build_inspects_plugin_and_version_compatible_engines(version, fake, tmp_path, mnist_onnx):
    """Defects 1-3: the post-build inspection loads plugin / version-compatible engines; when an engine does not
    deserialise, BackendError and no file is written."""
    from jetsonkit.engine import engine

    fake(version)
    result = engine.build_engine(_plugin_onnx(tmp_path / "nms.onnx"), tmp_path / "nms.engine", BuildSettings(),
                                 force=True)
    assert [l["name"] for l in result.report.layers] == ["nms"]
    engine.build_engine(mnist_onnx, tmp_path / "vc.engine", BuildSettings(version_compatible=True, profiles=PROFILE))


def test_engine_that_does_not_deserialise_writes_nothing(fake, monkeypatch, tmp_path, mnist_onnx):
    from jetsonkit.engine import engine

    fake("10.3")
    monkeypatch.setattr(engine, "load_engine", lambda *a, **k: None)
    with pytest.raises(BackendError, match="cannot deserialise for inspection"):
        engine.build_engine(mnist_onnx, tmp_path / "m.engine", BuildSettings(profiles=PROFILE))
    assert not list(tmp_path.glob("m.engine*"))


def test_mismatched_timing_cache_is_reported_and_replaced(fake, tmp_path, mnist_onnx, capsys):
    """Defect 13: set_timing_cache returns False for another device's cache; the build says so and writes a new one."""
    from jetsonkit.engine import engine

    fake("10.3")
    cache = tmp_path / "tc.bin"
    cache.write_bytes(b"OTHER-DEVICE cache")
    engine.build_engine(mnist_onnx, tmp_path / "m.engine", BuildSettings(profiles=PROFILE, timing_cache=str(cache)))
    assert "made on another GPU or TensorRT version" in capsys.readouterr().err
    assert cache.read_bytes().startswith(b"TIMING:")


def test_implicit_int8_warns_with_the_count_of_unranged_tensors(fake, monkeypatch, tmp_path, mnist_onnx, calib, capsys):
    """Defect 9: a table with ranges for 2 tensors leaves the others out of INT8: the build says how many."""
    from jetsonkit.engine import engine

    fake("10.3")
    monkeypatch.setattr(engine, "load_table_amax", lambda path, sha=None: {"input": 2.8, "/features/features.0/Conv_output_0": 4.0})
    engine.build_engine(mnist_onnx, tmp_path / "m.engine", BuildSettings(precision="int8", int8_mode="calibrator",
                                                                        calibration=calib, profiles=PROFILE))
    err = capsys.readouterr().err
    assert "implicit INT8 (calibrator): " in err and " network tensors have no range" in err
    n, total = (int(x) for x in err.split("implicit INT8 (calibrator): ")[1].split(" network")[0].split(" of "))
    assert total >= 11 and n == total - 2


def test_one_version_list_the_dumps():
    """A TensorRT version is known because its dump is committed: the dump script's wheel table, the dump files,
    KNOWN_VERSIONS and the fake's DUMPS agree (adding a version = a WHEELS line + running the script)."""
    from trt_fake.real import dump_script

    from jetsonkit.engine.versions import KNOWN_VERSIONS, parse_version

    wheels = dump_script().WHEELS
    assert set(KNOWN_VERSIONS) == set(wheels) == set(DUMPS) and len(KNOWN_VERSIONS) >= 4
    assert list(KNOWN_VERSIONS) == sorted(KNOWN_VERSIONS, key=parse_version)
    for name, version in DUMPS.items():
        assert wheels[name].endswith("==" + version) and load_dump(name)["wheel"] == wheels[name]


def test_real_bindings_match_the_committed_dump(tmp_path_factory):
    """Regenerate the dumps from the real wheels (PyPI) and compare with the committed JSON."""
    import subprocess
    import sys

    if sys.version_info[:2] != (3, 11):
        pytest.skip("the TensorRT binding wheels used here are CPython 3.11 builds")
    wheels = Path(__import__("os").environ.get("JETSONKIT_TRT_WHEELS", tmp_path_factory.getbasetemp() / "trt-wheels"))
    script = Path(__file__).resolve().parents[3] / "scripts" / "trt_api_dump.py"
    wheels.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, str(script), "--wheel-dir", str(wheels), "--check"], capture_output=True,
                          text=True, timeout=300)
    unreachable = ("pip", "No matching distribution", "ERROR:", "no C compiler", "ConnectionError")
    if proc.returncode and any(m in proc.stderr for m in unreachable) and "DIFFERS" not in proc.stdout:
        pytest.skip(f"binding wheels not reachable here: {proc.stderr.strip().splitlines()[-1:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_level_trt_name_in_our_sources_exists():
    """Static scan of ``trt.X`` in the engine and runtime code: X is a class, function or constant of some dump
    (paths the replay does not reach, e.g. error branches, are covered this way)."""
    import re


    known = set()
    for version in DUMPS:
        dump = load_dump(version)
        known |= set(dump["classes"]) | set(dump["functions"]) | set(dump["python_functions"]) | {"__version__", "nptype"}
    root = Path(__file__).resolve().parents[3] / "jetsonkit"
    unknown = {(p.name, n) for p in [*(root / "engine").glob("*.py"), *(root / "runtime").glob("*.py")]
               for n in re.findall(r"\btrt\.([A-Za-z_]\w*)", p.read_text()) if n not in known}
    assert not unknown, f"TensorRT names in no binding module: {sorted(unknown)}"


@pytest.mark.parametrize("version", ["8.6", "10.16", "11.4"])
def test_hardware_compatible_build_on_a_discrete_gpu(version, fake, monkeypatch, tmp_path, mnist_onnx):
    """Hardware compatibility (AMPERE_PLUS) replays on a discrete-GPU build machine; on a Jetson it is refused."""
    from jetsonkit.engine import engine
    from jetsonkit.errors import UnsupportedError

    fake(version)
    options = BuildSettings(hardware_compatibility="ampere+", version_compatible=True, profiles=PROFILE)
    with pytest.raises(UnsupportedError, match="not supported on Jetson"):
        engine.build_engine(mnist_onnx, tmp_path / "j.engine", options)
    monkeypatch.setattr(engine, "detect_machine", lambda dla_cores=None: MachineInfo("NVIDIA H100", "9.0", 80 << 30, 0))
    out = tmp_path / "hw.engine"
    engine.build_engine(mnist_onnx, out, options)
    assert json.loads(out.read_bytes()[len(b"FAKE-ENGINE"):])["hardware"] == "AMPERE_PLUS"
