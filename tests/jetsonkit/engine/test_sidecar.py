"""Sidecar, engine-cache key, load-time compatibility check, INT8 cache encoding, machine and option parsing."""

from __future__ import annotations

import json
import struct

import pytest

from jetsonkit.engine.int8_cache import encode_calibration_cache
from jetsonkit.engine.machine import parse_nv_tegra_release
from jetsonkit.engine.options import parse_size
from jetsonkit.engine.sidecar import cache_key, check_compatible, make_sidecar, read_sidecar, write_sidecar
from jetsonkit.engine.versions import parse_version
from jetsonkit.errors import ConfigError, IncompatibleArtifactError, InputError, UsageError

ORIN = {"name": "Orin", "compute_capability": "8.7"}


def sidecar(**over):
    kw = dict(engine_sha256="e" * 64, engine_bytes=123, trt_version="10.3.0", gpu=ORIN, l4t_release="36.4.0",
              jetpack="6", build_spec={"builder_flags": ["FP16"]}, onnx_path="m.onnx", onnx_sha256="a" * 64,
              calibration_path=None, calibration_sha256=None, rebuild_command="jetsonkit build m.onnx -o m.engine")
    kw.update(over)
    return make_sidecar(**kw)


def test_round_trip(tmp_path):
    engine = tmp_path / "m.engine"
    write_sidecar(engine, sidecar())
    back = read_sidecar(engine)
    assert back["tensorrt_version"] == "10.3.0" and back["gpu"] == ORIN and back["jetpack"] == "6"
    assert json.loads((tmp_path / "m.engine.json").read_text())["cache_key"] == back["cache_key"]


def test_read_errors(tmp_path):
    with pytest.raises(InputError, match="has no sidecar"):
        read_sidecar(tmp_path / "x.engine")
    (tmp_path / "y.engine.json").write_text("{not json")
    with pytest.raises(InputError, match="not readable JSON"):
        read_sidecar(tmp_path / "y.engine")
    (tmp_path / "z.engine.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="not a jetsonkit engine sidecar"):
        read_sidecar(tmp_path / "z.engine")


def test_cache_key_changes_with_every_input():
    base = dict(trt_version="10.3.0", gpu=ORIN, l4t_release="36.4.0", build_spec={"a": 1}, onnx_sha256="a", calibration_sha256=None)
    k = cache_key(**base)
    assert k == cache_key(**dict(base))
    for field, value in [("trt_version", "10.3.1"), ("gpu", {"name": "Thor", "compute_capability": "11.0"}),
                         ("l4t_release", "36.3.0"), ("build_spec", {"a": 2}), ("onnx_sha256", "b"), ("calibration_sha256", "c")]:
        assert cache_key(**{**base, field: value}) != k, field


def test_compatible_same_version_and_gpu():
    assert check_compatible(sidecar(), "10.3.0", ORIN) == []
    notes = check_compatible(sidecar(), "10.3.0", {"name": "Orin NX", "compute_capability": "8.7"})
    assert "tuned on Orin" in notes[0]


def test_incompatible_version_and_gpu_named_with_rebuild():
    with pytest.raises(IncompatibleArtifactError, match=r"TensorRT 10\.3\.0, this machine has TensorRT 10\.16\.1.*jetsonkit build m.onnx"):
        check_compatible(sidecar(), "10.16.1", ORIN)
    with pytest.raises(IncompatibleArtifactError, match=r"Orin \(compute capability 8\.7\).*H100 \(compute capability 9\.0\)"):
        check_compatible(sidecar(), "10.3.0", {"name": "H100", "compute_capability": "9.0"})


def test_version_and_hardware_compatible_engines():
    vc = sidecar(build_spec={"builder_flags": ["VERSION_COMPATIBLE"]})
    assert check_compatible(vc, "10.16.1", ORIN) == []
    with pytest.raises(IncompatibleArtifactError):
        check_compatible(vc, "10.2.0", ORIN)
    assert check_compatible(vc, "11.4.0", ORIN) == []  # 10.x version-compatible engines run on 11.x
    vc86 = sidecar(trt_version="8.6.1", build_spec={"builder_flags": ["VERSION_COMPATIBLE"]})
    assert check_compatible(vc86, "10.3.0", ORIN) == []  # 8.x -> 10.x: the other cross-major pair NVIDIA lists
    with pytest.raises(IncompatibleArtifactError, match="version-compatible engine built with TensorRT 8.6.1"):
        check_compatible(vc86, "11.4.0", ORIN)
    with pytest.raises(IncompatibleArtifactError):
        check_compatible(sidecar(trt_version="8.5.2", build_spec={"builder_flags": ["VERSION_COMPATIBLE"]}), "8.6.1", ORIN)
    hw = sidecar(gpu={"name": "A100", "compute_capability": "8.0"}, build_spec={"hardware_compatibility_level": "AMPERE_PLUS"})
    check_compatible(hw, "10.3.0", {"name": "H100", "compute_capability": "9.0"})
    with pytest.raises(IncompatibleArtifactError):
        check_compatible(hw, "10.3.0", {"name": "T4", "compute_capability": "7.5"})
    dgpu = sidecar(gpu={"name": "A100", "compute_capability": "8.0"}, l4t_release=None,
                   build_spec={"hardware_compatibility_level": "AMPERE_PLUS"})
    with pytest.raises(IncompatibleArtifactError, match="built on a discrete GPU .* this machine is a Jetson"):
        check_compatible(dgpu, "10.3.0", ORIN, jetson=True)  # x86 dGPU -> Orin: Ampere+ is not enough


def test_calibration_cache_matches_trt_sample_vector():
    # TensorRT sampleINT8: "data: 3c008912" is scale 0.0078452 (TensorRT's samples/sampleINT8 calibration cache); written by calibrators.trtcache
    amax = struct.unpack(">f", bytes.fromhex("3c008912"))[0] * 127
    text = encode_calibration_cache({"data": amax, "conv1": 4.0}, "8.6.1").decode()
    assert text.splitlines() == ["TRT-8601-EntropyCalibration2", "data: 3c008912", "conv1: 3d010204"]
    assert encode_calibration_cache({"x": 1.0}, "10.3.0").startswith(b"TRT-100300-EntropyCalibration2\n")
    with pytest.raises(ConfigError, match="amax"):
        encode_calibration_cache({"x": float("nan")}, "10.3")


def test_tegra_release_and_versions():
    assert parse_nv_tegra_release("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64") == "36.4.0"
    assert parse_nv_tegra_release("garbage") is None
    assert str(parse_version("11.4.0.106")) == "11.4.0" and parse_version("10.3").api_list == "10.3"
    assert parse_version("10.8").api_list == "10.3" and parse_version("8.5.2").api_list == "8.6"
    with pytest.raises(UsageError):
        parse_version("7.1")
    with pytest.raises(UsageError):
        parse_version("ten")


@pytest.mark.parametrize("text, n", [("1GiB", 2**30), ("512MiB", 2**29), ("256MB", 256 * 10**6), ("4096", 4096)])
def test_sizes(text, n):
    assert parse_size(text) == n


def test_bad_size():
    with pytest.raises(UsageError):
        parse_size("1 parsec")


def test_sidecar_from_before_the_build_spec_rename_still_reads(tmp_path):
    """Engines built before the rename carry their build spec under "plan": read as ``build_spec``, still checked
    (a version-compatible flag there is honoured), and their cache key is unchanged, so they are not rebuilt."""
    old = sidecar(trt_version="10.3.0", build_spec={"builder_flags": ["VERSION_COMPATIBLE"]})
    old["plan"] = old.pop("build_spec")
    engine = tmp_path / "old.engine"
    (tmp_path / "old.engine.json").write_text(json.dumps(old))
    back = read_sidecar(engine)
    assert back["build_spec"] == {"builder_flags": ["VERSION_COMPATIBLE"]} and "plan" not in back
    assert check_compatible(back, "10.8.0", ORIN) == []  # version-compatible: a later 10.x runs it
    with pytest.raises(IncompatibleArtifactError):
        check_compatible(sidecar(), "10.8.0", ORIN)  # a plain engine does not
    material = {"jetsonkit": __import__("jetsonkit").__version__, "trt": "10.3.0", "gpu": ORIN, "l4t": "36.4.0",
                "plan": {"builder_flags": ["VERSION_COMPATIBLE"]}, "onnx": "a" * 64, "calibration": None}
    before = __import__("hashlib").sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    assert back["cache_key"] == before
    (tmp_path / "none.engine.json").write_text(json.dumps({k: v for k, v in old.items() if k != "plan"}))
    with pytest.raises(InputError, match="lacks key 'build_spec'"):
        read_sidecar(tmp_path / "none.engine")
