"""The build spec per TensorRT version, on the real MNIST ONNX graph (and Q/DQ / FP16 / 2:4 variants of it)."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.engine.machine import MachineInfo
from jetsonkit.engine.onnx_info import is_2to4_sparse, read_onnx_info
from jetsonkit.engine.options import BuildSettings, parse_profiles
from jetsonkit.engine.spec import default_workspace, make_build_spec
from jetsonkit.errors import ConfigError, InputError, UnsupportedError

PROFILE = parse_profiles(["input:1x1x28x28,8x1x28x28,64x1x28x28"])
STATIC = parse_profiles(["input:8x1x28x28,8x1x28x28,8x1x28x28"])


@pytest.fixture(scope="module")
def info(mnist_onnx):
    return read_onnx_info(mnist_onnx)


@pytest.fixture(scope="module")
def variants(mnist_onnx, tmp_path_factory):
    """Real graphs derived from the MNIST export: one with Q/DQ on the first conv, one FP16 (Casts), one 2:4 sparse."""
    import onnx
    from onnx import helper, numpy_helper

    out = tmp_path_factory.mktemp("variants")
    model = onnx.load(str(mnist_onnx))
    conv = model.graph.node[0]
    q = helper.make_node("QuantizeLinear", [conv.input[0], "s", "z"], ["xq"], name="q0")
    dq = helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xdq"], name="dq0")
    qdq = onnx.ModelProto()
    qdq.CopyFrom(model)
    qdq.graph.initializer.extend([numpy_helper.from_array(np.float32(0.02), "s"), numpy_helper.from_array(np.int8(0), "z")])
    qdq.graph.node[0].input[0] = "xdq"
    qdq.graph.node.insert(0, dq)
    qdq.graph.node.insert(0, q)
    onnx.save(qdq, out / "qdq.onnx")
    fp16 = onnx.ModelProto()
    fp16.CopyFrom(model)
    fp16.graph.node.insert(0, helper.make_node("Cast", [conv.input[0]], ["x16"], name="cast16", to=onnx.TensorProto.FLOAT16))
    onnx.save(fp16, out / "fp16.onnx")
    sparse = onnx.ModelProto()
    sparse.CopyFrom(model)
    w_name = sparse.graph.node[3].input[1]  # second conv, [64, 32, 3, 3]
    for init in sparse.graph.initializer:
        if init.name == w_name:
            w = numpy_helper.to_array(init).copy()
            w.reshape(64, 8, 4, 9)[:, :, 2:, :] = 0  # zero 2 of every 4 input channels
            init.CopyFrom(numpy_helper.from_array(w, w_name))
    onnx.save(sparse, out / "sparse.onnx")
    return {k: read_onnx_info(out / f"{k}.onnx") for k in ("qdq", "fp16", "sparse")}


def spec(info, version, **kw):
    kw.setdefault("profiles", PROFILE)
    return make_build_spec(info, BuildSettings(**kw), version)


def test_onnx_facts(info, variants):
    assert info.inputs == {"input": ("batch", 1, 28, 28)} and info.dynamic_inputs() == {"input": ("batch", 1, 28, 28)}
    assert not info.has_qdq and not info.has_fp16 and len(info.weighted_nodes) == 4 and info.sparse_nodes == []
    assert variants["qdq"].has_qdq and variants["fp16"].has_fp16
    assert variants["sparse"].sparse_nodes == ["/features/features.3/Conv"]


def test_2to4_pattern():
    w = np.ones((8, 16), np.float32)
    assert not is_2to4_sparse(w, 1)
    w.reshape(8, 4, 4)[:, :, :2] = 0
    assert is_2to4_sparse(w, 1) and not is_2to4_sparse(w, 0)
    assert not is_2to4_sparse(np.zeros((8, 6)), 1)  # not divisible by 4


@pytest.mark.parametrize("version, net, flags", [("8.6", ["EXPLICIT_BATCH"], ["FP16"]), ("10.3", [], ["FP16"]),
                                                 ("10.16", [], ["FP16"])])
def test_fp16_is_a_flag_up_to_10(info, version, net, flags):
    p = spec(info, version, precision="fp16")
    assert p.network_flags == net and p.builder_flags == flags
    assert ("deprecated since TensorRT 10.12" in " ".join(p.notes)) == (version == "10.16")


def test_fp16_on_11_comes_from_the_graph(info, variants):
    converted = spec(info, "11.4", precision="fp16")
    assert converted.builder_flags == [] and converted.graph_transform == "to_fp16"
    p = spec(variants["fp16"], "11.4", precision="fp16")
    assert p.builder_flags == [] and p.network_flags == [] and p.graph_transform is None
    assert spec(info, "10.3", precision="fp16").graph_transform is None
    with pytest.raises(UnsupportedError, match="11.4 takes FP16 only from the graph"):
        spec(variants["qdq"], "11.4", precision="fp16")


def test_fp16_graph_for_11_runs_and_agrees(mnist_onnx, mnist_test, tmp_path):
    """The converted graph TensorRT 11 would parse: FP16 types, FP32 I/O, the plan's fp32 layer kept, same answers."""
    import onnx
    import onnxruntime as ort

    from jetsonkit.engine.engine import prepare_graph

    keep = "/classifier/classifier.2/Gemm"
    info = read_onnx_info(mnist_onnx)
    p = make_build_spec(info, BuildSettings(precision="fp16", profiles=PROFILE), "11.4", layer_precisions={keep: "fp32"})
    path = prepare_graph(str(mnist_onnx), p, tmp_path)
    assert path != str(mnist_onnx) and read_onnx_info(path).has_fp16
    model = onnx.load(path)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    x = mnist_test[0][:500]
    ref = ort.InferenceSession(str(mnist_onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    assert got.dtype == np.float32 and np.mean(got.argmax(1) == ref.argmax(1)) >= 0.99
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()


def test_int8_qdq_everywhere(variants):
    assert spec(variants["qdq"], "8.6", precision="int8").builder_flags == ["INT8"]
    assert spec(variants["qdq"], "10.3", precision="int8").int8["mode"] == "qdq"
    p11 = spec(variants["qdq"], "11.4", precision="int8")
    assert p11.builder_flags == [] and p11.int8["mode"] == "qdq"


def test_int8_without_qdq_or_table_is_an_error(info):
    with pytest.raises(InputError, match="no Q/DQ nodes"):
        spec(info, "10.3", precision="int8")
    with pytest.raises(InputError, match="needs a calibration table"):
        spec(info, "10.3", precision="int8", int8_mode="calibrator")


def test_implicit_int8_up_to_10_and_removed_in_11(info, variants):
    p = spec(info, "8.6", precision="int8", int8_mode="calibrator", calibration="c.json",
             calibration_shapes={"input": (32, 1, 28, 28)})
    assert p.builder_flags == ["INT8"] and p.calibration_profile == 0 and p.int8["mode"] == "calibrator"
    p10 = spec(info, "10.3", precision="int8", int8_mode="dynamic-range", calibration="c.json")
    assert any("deprecated since TensorRT 10.1" in n for n in p10.notes)
    with pytest.raises(UnsupportedError, match="11.4 removed implicit INT8.*jetsonkit quantize"):
        spec(info, "11.4", precision="int8", int8_mode="cache", calibration="c.json")
    with pytest.raises(InputError, match="cannot be mixed"):
        spec(variants["qdq"], "10.3", precision="int8", int8_mode="calibrator", calibration="c.json")


def test_layer_precisions_builder_vs_graph(info, variants):
    wanted = {"/features/features.0/Conv": "fp16", "/classifier/classifier.2/Gemm": "fp32"}
    p = make_build_spec(info, BuildSettings(profiles=PROFILE), "10.3", layer_precisions=wanted)
    assert p.layer_precision_mode == "builder" and p.builder_flags == ["OBEY_PRECISION_CONSTRAINTS", "FP16"]
    p11 = make_build_spec(info, BuildSettings(profiles=PROFILE), "11.4", layer_precisions=wanted)
    assert p11.layer_precision_mode == "graph" and p11.builder_flags == [] and p11.layer_precisions == wanted
    with pytest.raises(ConfigError, match="not in"):
        make_build_spec(info, BuildSettings(profiles=PROFILE), "10.3", layer_precisions={"/nope": "fp16"})
    with pytest.raises(ConfigError, match="precision 'int4'"):
        make_build_spec(info, BuildSettings(profiles=PROFILE), "10.3", layer_precisions={"/Flatten": "int4"})
    with pytest.raises(InputError, match="no Q/DQ and no calibration"):
        make_build_spec(info, BuildSettings(profiles=PROFILE), "10.3", layer_precisions={"/features/features.0/Conv": "int8"})


def test_sparsity(info, variants):
    p = spec(variants["sparse"], "10.3", precision="fp16", sparsity=True)
    assert "SPARSE_WEIGHTS" in p.builder_flags and p.sparse_eligible == ["/features/features.3/Conv"]
    dense = spec(info, "10.3", sparsity=True)
    assert any("2:4 pattern" in n for n in dense.notes) and any("FP16 and INT8 only" in n for n in dense.notes)


def test_profiles_checked(info):
    with pytest.raises(ConfigError, match="no optimization profile"):
        make_build_spec(info, BuildSettings(), "10.3")
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        parse_profiles(["input:8x1x28x28,4x1x28x28,64x1x28x28"])
    with pytest.raises(ConfigError, match="fixed at 28"):
        spec(info, "10.3", profiles=parse_profiles(["input:1x1x28x28,1x1x32x32,1x1x32x32"]))
    with pytest.raises(ConfigError, match="does not have"):
        spec(info, "10.3", profiles=parse_profiles(["image:1x1x28x28,1x1x28x28,1x1x28x28"]))
    with pytest.raises(ConfigError, match="covers the calibration shape"):
        spec(info, "10.3", precision="int8", int8_mode="calibrator", calibration="c.json",
             calibration_shapes={"input": (128, 1, 28, 28)})
    two = spec(info, "10.3", profiles=parse_profiles(["input:1x1x28x28,1x1x28x28,1x1x28x28",
                                                       "input:8x1x28x28,32x1x28x28,64x1x28x28"]))
    assert len(two.profiles) == 2 and two.profiles[1]["input"]["max"] == [64, 1, 28, 28]


def test_dla(info):
    with pytest.raises(InputError, match="FP16 and INT8 layers only"):
        spec(info, "10.3", dla_core=0)
    nodla = MachineInfo(gpu_name="NVIDIA GeForce RTX 4090", compute_capability="8.9", dla_cores=0)
    with pytest.raises(InputError, match="DLA needs static shapes.*--profile input:S,S,S"):
        make_build_spec(info, BuildSettings(precision="fp16", dla_core=0, profiles=PROFILE), "10.3")
    with pytest.raises(InputError, match="has no DLA"):
        make_build_spec(info, BuildSettings(precision="fp16", dla_core=0, profiles=STATIC), "10.3", machine=nodla)
    orin = MachineInfo(gpu_name="Orin", compute_capability="8.7", dla_cores=2, l4t_release="36.4.0", total_memory=8 * 2**30)
    with pytest.raises(InputError, match="has 2"):
        make_build_spec(info, BuildSettings(precision="fp16", dla_core=2, profiles=STATIC), "10.3", machine=orin)
    p = make_build_spec(info, BuildSettings(precision="fp16", dla_core=1, profiles=STATIC), "10.3", machine=orin)
    assert p.dla == {"core": 1, "gpu_fallback": True} and "GPU_FALLBACK" in p.builder_flags
    assert p.memory_pools == {"WORKSPACE": 2**30}


def test_dla_rules_by_graph_and_version(info):
    """INT8 from Q/DQ nodes counts at --precision fp32; TensorRT 11 has DLA from 11.4.1 only (FP16 from the graph)."""
    from dataclasses import replace

    qdq = replace(info, has_qdq=True)
    assert make_build_spec(qdq, BuildSettings(dla_core=0, profiles=STATIC), "10.3").dla["core"] == 0
    with pytest.raises(UnsupportedError, match="TensorRT 11.4.0 has no DLA"):
        make_build_spec(replace(info, has_fp16=True), BuildSettings(dla_core=0, profiles=STATIC), "11.4.0")
    assert make_build_spec(replace(info, has_fp16=True), BuildSettings(dla_core=0, profiles=STATIC), "11.4.1").dla
    with pytest.raises(InputError, match="FP16 and INT8 layers only"):
        make_build_spec(info, BuildSettings(dla_core=0, profiles=STATIC), "11.4.1")


def test_hardware_compat_is_refused_on_jetson(info):
    orin = MachineInfo(gpu_name="Orin", compute_capability="8.7", l4t_release="36.4.0")
    with pytest.raises(UnsupportedError, match="not supported on Jetson"):
        make_build_spec(info, BuildSettings(hardware_compatibility="ampere+", profiles=PROFILE), "10.3", machine=orin)


def test_best_is_int8_plus_fp16(info):
    from dataclasses import replace

    p = make_build_spec(replace(info, has_qdq=True), BuildSettings(precision="best", profiles=PROFILE), "10.3")
    assert {"INT8", "FP16"} <= set(p.builder_flags) and p.int8["mode"] == "qdq"
    p8 = make_build_spec(replace(info, has_qdq=True), BuildSettings(precision="int8", profiles=PROFILE), "10.3")
    assert "FP16" not in p8.builder_flags and any("--precision best" in n for n in p8.notes)


def test_workspace_and_version_gated_options(info):
    assert default_workspace(MachineInfo(l4t_release="36.4.0", total_memory=2 * 2**30)) == 2**29
    assert default_workspace(MachineInfo(gpu_name="H100", compute_capability="9.0")) is None
    assert default_workspace(None) == 2**30
    p = spec(info, "8.6", workspace=256 * 2**20, version_compatible=True, hardware_compatibility="ampere+", optimization_level=5)
    assert p.memory_pools == {"WORKSPACE": 256 * 2**20} and "VERSION_COMPATIBLE" in p.builder_flags
    assert p.hardware_compatibility_level == "AMPERE_PLUS" and p.optimization_level == 5
    for kw in (dict(version_compatible=True), dict(optimization_level=1), dict(hardware_compatibility="ampere+")):
        with pytest.raises(UnsupportedError, match="8.6 or later, not 8.5"):
            spec(info, "8.5", **kw)
