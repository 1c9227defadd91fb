"""API-surface proof without TensorRT: every TensorRT name our build path touches for a version exists in that
version's Python bindings (name lists extracted from the real wheels by scripts/trt_api_names.py), and names that
version removed are never touched on its path. The code runs against a recording stand-in (tests only our plumbing).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from jetsonkit.engine.options import BuildOptions, InputRange
from trt_recorder import Recorder, qualified, used_names

API_DIR = Path(__file__).resolve().parents[3] / "jetsonkit" / "engine" / "trt_api"
VERSIONS = {"8.6": "8.6.1", "10.3": "10.3.0", "10.16": "10.16.1.11", "11.4": "11.4.0.106"}

# Removed or deprecated-and-avoided names per major (FACTS.md: 10.x removed max_workspace_size / execute_async_v2 /
# EXPLICIT_BATCH's need; 11.0 removed implicit INT8 and the precision flags / ILayer.precision).
FORBIDDEN = {
    10: {"max_workspace_size", "execute_async_v2", "EXPLICIT_BATCH", "build_engine"},
    11: {"max_workspace_size", "execute_async_v2", "EXPLICIT_BATCH", "build_engine", "int8_calibrator",
         "IInt8EntropyCalibrator2", "set_calibration_profile", "set_dynamic_range", "precision",
         "BuilderFlag.FP16", "BuilderFlag.INT8", "BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
         "BuilderFlag.PREFER_PRECISION_CONSTRAINTS"},
}


def load_names(version: str) -> list[str]:
    lines = (API_DIR / f"{version}.txt").read_text().splitlines()
    return [l for l in lines if l and not l.startswith("#")]


def present(name: str, names: list[str], exact: set[str]) -> bool:
    """In the list, or the tail of a listed string (linkers merge a string into a longer one that ends with it)."""
    return name in exact or any(n.endswith(name) for n in names)


def _options_for(major: int, tmp: Path) -> list[tuple[BuildOptions, dict]]:
    (tmp / "calib.json").write_text("{}")  # read through a patched loader: only its presence matters here
    prof = [{"input": InputRange("input", (1, 1, 28, 28), (8, 1, 28, 28), (64, 1, 28, 28))}]
    common = dict(profiles=prof, timing_cache=str(tmp / "tc.bin"), optimization_level=3, version_compatible=True,
                  workspace=2**30)
    combos = [
        (BuildOptions(precision="fp32", **common), {}),
        (BuildOptions(precision="fp32", sparsity=True, hardware_compatibility="ampere+", profiles=prof), {}),
        (BuildOptions(precision="fp16", dla_core=1, profiles=prof), {}),
    ]
    if major < 11:
        combos += [
            (BuildOptions(precision="int8", int8_mode="calibrator", calibration=str(tmp / "calib.json"),
                          calibration_shapes={"input": (32, 1, 28, 28)}, profiles=prof), {}),
            (BuildOptions(precision="int8", int8_mode="dynamic-range", calibration=str(tmp / "calib.json"), profiles=prof), {}),
            (BuildOptions(precision="fp32", profiles=prof), {"conv1": "fp16", "fc2": "fp32"}),
        ]
    return combos


def _run_build_path(monkeypatch, tmp_path, onnx_path, version: str, options: BuildOptions, precisions: dict) -> set:
    from jetsonkit.engine import engine

    log: set = set()
    inspector = '{"Layers": [], "Bindings": []}'
    values = {"__version__": version, "num_DLA_cores": 2, "num_layers": 1, "num_inputs": 1, "num_outputs": 1,
              "num_errors": 0, "name": "conv1", "get_engine_information": lambda *a: inspector}
    monkeypatch.setitem(sys.modules, "tensorrt", Recorder(log, "trt", values))
    monkeypatch.setattr(engine, "load_table_amax", lambda path, sha=None: {"input": 2.8, "conv1": 4.0})
    monkeypatch.setattr(engine, "resolve_layer_precisions", lambda plan, path: dict(precisions))
    monkeypatch.setattr(engine, "read_onnx_info", lambda p: _info_with_nodes(onnx_path))
    engine.build_engine(onnx_path, tmp_path / f"m{len(list(tmp_path.iterdir()))}.engine", options, force=True)
    return log


_INFO = {}


def _info_with_nodes(onnx_path):
    """The real MNIST graph's facts, plus the node names the stand-in network reports and FP16 graph types
    (so TensorRT 11's strongly typed FP16 path is planned too)."""
    from jetsonkit.engine.onnx_info import read_onnx_info

    if onnx_path not in _INFO:
        info = read_onnx_info(onnx_path)
        info.node_ops.update({"conv1": "Conv", "fc2": "Gemm"})
        info.has_fp16 = True
        _INFO[onnx_path] = info
    return _INFO[onnx_path]


@pytest.mark.parametrize("list_name", list(VERSIONS))
def test_build_path_uses_only_names_of_that_version(list_name, monkeypatch, tmp_path, mnist_onnx):
    names = load_names(list_name)
    exact = set(names)
    major = int(list_name.split(".")[0])
    touched: set = set()
    for options, precisions in _options_for(major, tmp_path):
        touched |= _run_build_path(monkeypatch, tmp_path, mnist_onnx, VERSIONS[list_name], options, precisions)
    used = {n for n in used_names(touched) if not n.startswith("__")}
    assert {"set_flag", "set_memory_pool_limit", "build_serialized_network", "create_engine_inspector"} <= used
    missing = sorted(n for n in used if not present(n, names, exact))
    assert not missing, f"TensorRT {list_name} bindings lack {missing}"
    forbidden = FORBIDDEN.get(major, set())
    hit = sorted((used | qualified(touched)) & forbidden)
    assert not hit, f"the TensorRT {list_name} path touches removed/avoided names {hit}"
    assert ("progress_monitor" in used) == (major >= 10)  # IProgressMonitor: 10.0+
    if major < 11:  # the legacy INT8 path really ran on this version
        assert {"int8_calibrator", "set_dynamic_range", "precision", "set_calibration_profile"} <= used
        assert "BuilderFlag.INT8" in qualified(touched) and "BuilderFlag.OBEY_PRECISION_CONSTRAINTS" in qualified(touched)


def test_removed_names_are_really_absent_from_the_11_wheel():
    """Evidence from the real wheels that the 11.x rules above are right (exact and as a suffix)."""
    names11, names10 = load_names("11.4"), load_names("10.16")
    for gone in ("int8_calibrator", "IInt8EntropyCalibrator2", "set_calibration_profile", "read_calibration_cache",
                 "EXPLICIT_BATCH", "platform_has_fast_fp16"):
        assert not present(gone, names11, set(names11)), gone
        assert present(gone, names10, set(names10)), gone
    for kept in ("execute_async_v3", "SPARSE_WEIGHTS", "DLA_core", "default_device_type", "STRONGLY_TYPED"):
        assert kept in names11, kept
    assert "max_workspace_size" in load_names("8.6") and "max_workspace_size" not in names10


def test_every_trt_name_in_our_sources_exists_in_some_version():
    """Static scan of ``trt.X`` uses in build and runtime code (the runtime's TensorRT backend included once it exists)."""
    union = set().union(*(load_names(v) for v in VERSIONS))
    listed = sorted(union)
    root = Path(__file__).resolve().parents[3] / "jetsonkit"
    unknown = {}
    for path in list((root / "engine").glob("*.py")) + list((root / "runtime").glob("*.py")):
        for name in re.findall(r"\btrt\.([A-Za-z_]\w*)", path.read_text()):
            if not name.startswith("__") and not present(name, listed, union):
                unknown.setdefault(path.name, []).append(name)
    assert not unknown, f"TensorRT names not in any binding wheel: {unknown}"


BINDING_API = {"num_bindings", "binding_is_input", "get_binding_shape", "get_binding_name", "get_binding_dtype",
               "get_profile_shape", "execute_async_v2", "set_binding_shape"}


def test_binding_api_is_gone_from_10_on():
    """Real-wheel evidence for the runtime's version split: the binding API exists in 8.6 only."""
    for version in VERSIONS:
        names = load_names(version)
        for name in BINDING_API:
            assert present(name, names, set(names)) == (version == "8.6"), (version, name)


@pytest.mark.parametrize("list_name", list(VERSIONS))
def test_runtime_engine_io_uses_only_names_of_that_version(list_name):
    """The runtime area's ``read_engine_io`` (jetsonkit/runtime/tensorrt_backend.py) on each version's path."""
    import numpy as np

    backend = pytest.importorskip("jetsonkit.runtime.tensorrt_backend", reason="runtime TensorRT backend not written yet")
    major = int(list_name.split(".")[0])
    log: set = set()
    values = {"num_io_tensors": 2, "num_bindings": 2, "num_optimization_profiles": 1,
              "get_tensor_name": lambda i: ("input", "logits")[i], "get_binding_name": lambda j: ("input", "logits")[j],
              "get_tensor_shape": lambda n: (1, 10), "get_binding_shape": lambda j: (1, 10),
              "nptype": lambda t: np.float32}
    io = backend.read_engine_io(Recorder(log, "trt", values), Recorder(log, "engine", values), major)
    assert len(io.tensors) == 2
    names = load_names(list_name)
    used = {n for n in used_names(log) if not n.startswith("__")}
    missing = sorted(n for n in used if not present(n, names, set(names)))
    assert not missing, f"TensorRT {list_name} bindings lack {missing}"
    assert not (used & BINDING_API) if major >= 10 else "num_bindings" in used


@pytest.mark.parametrize("list_name, where", [("8.6", "node /features/features.3/Conv:"), ("10.3", "node /Bad/Node:"),
                                              ("11.4", "node /Bad/Node:")])
def test_parser_errors_name_the_node(list_name, where, monkeypatch, tmp_path, mnist_onnx):
    """An ONNX file TensorRT cannot parse: one line with the parser's message and the node (by name from 10.0,
    by index -> ONNX node name before), using only that version's names."""
    from jetsonkit.engine import engine
    from jetsonkit.errors import InputError

    log: set = set()
    values = {"__version__": VERSIONS[list_name], "num_DLA_cores": 0, "num_errors": 1, "parse_from_file": lambda p: False,
              "desc": lambda: "No importer registered for op: BadOp", "node_name": lambda: "/Bad/Node", "node": lambda: 3}
    monkeypatch.setitem(sys.modules, "tensorrt", Recorder(log, "trt", values))
    with pytest.raises(InputError, match=f"cannot parse .*{where} No importer registered for op: BadOp"):
        engine.build_engine(mnist_onnx, tmp_path / "m.engine", BuildOptions(profiles=_options_for(11, tmp_path)[0][0].profiles))
    names = load_names(list_name)
    used = {n for n in used_names(log) if not n.startswith("__")}
    assert not [n for n in used if not present(n, names, set(names))]
    assert not (tmp_path / "m.engine").exists() and not (tmp_path / "m.engine.json").exists()


def test_failed_build_leaves_no_files(monkeypatch, tmp_path, mnist_onnx):
    """build_serialized_network returning None (TensorRT's failure signal) is a BackendError; nothing is written."""
    from jetsonkit.engine import engine
    from jetsonkit.errors import BackendError

    values = {"__version__": "10.3.0", "num_DLA_cores": 0, "build_serialized_network": lambda network, config: None}
    monkeypatch.setitem(sys.modules, "tensorrt", Recorder(set(), "trt", values))
    timing = tmp_path / "tc.bin"
    opts = BuildOptions(profiles=_options_for(11, tmp_path)[0][0].profiles, timing_cache=str(timing))
    with pytest.raises(BackendError, match="could not build an engine"):
        engine.build_engine(mnist_onnx, tmp_path / "m.engine", opts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.json"]
