"""The TensorRT runner on a machine without a GPU / TensorRT: clear refusals, and the sidecar check's plumbing."""

from __future__ import annotations

import pytest

from jetsonkit.errors import IncompatibleArtifactError, JetsonkitError
from jetsonkit.runtime import Runtime


def test_engine_without_gpu_stack_is_one_clear_error(tmp_path):
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"\x00" * 64)
    try:
        import pycuda.driver  # noqa: F401
        pytest.skip("pycuda imports here: the GPU path is covered by the gpu / tensorrt tests")
    except ImportError:
        pass
    with pytest.raises(JetsonkitError) as err:
        Runtime.open(engine)
    msg = str(err.value)
    assert "pycuda" in msg and "pip install" in msg and "\n" not in msg


class _Device:
    name, compute_capability = "Orin", (8, 7)


def _runner_stub(engine_path, **options):
    """A TensorRTRunner with only what _check_sidecar reads (no GPU, no TensorRT)."""
    from jetsonkit.runtime.tensorrt_backend import TensorRTRunner

    runner = object.__new__(TensorRTRunner)
    runner.path = engine_path
    runner.options = {**TensorRTRunner.OPTIONS, **options}
    runner.device = _Device()
    return runner


def _sidecar(engine, trt_version, cc):
    sidecar_mod = pytest.importorskip("jetsonkit.engine.sidecar", reason="the build area (sidecar) is not present")
    sc = sidecar_mod.make_sidecar(engine_sha256="0" * 64, engine_bytes=1, trt_version=trt_version,
                                  gpu={"name": "Orin", "compute_capability": cc}, l4t_release=None, jetpack=None,
                                  build_spec={}, onnx_path="m.onnx", onnx_sha256="0" * 64, calibration_path=None,
                                  calibration_sha256=None, rebuild_command="jetsonkit build m.onnx -o m.engine")
    sidecar_mod.write_sidecar(engine, sc)


def test_sidecar_from_another_tensorrt_is_refused_before_deserialising(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    _sidecar(engine, "8.6.1", "8.7")
    with pytest.raises(IncompatibleArtifactError, match="TensorRT 8.6.1.*10.3.0.*jetsonkit build"):
        _runner_stub(engine)._check_sidecar("10.3.0")


def test_sidecar_for_another_gpu_is_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    _sidecar(engine, "10.3.0", "7.2")
    with pytest.raises(IncompatibleArtifactError, match="compute capability 7.2"):
        _runner_stub(engine)._check_sidecar("10.3.0")
    _runner_stub(engine, check_sidecar=False)._check_sidecar("10.3.0")  # opt-out skips the check


def test_matching_sidecar_passes_and_missing_one_warns(tmp_path, capsys):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    _runner_stub(engine)._check_sidecar("10.3.0")
    assert "no sidecar" in capsys.readouterr().err
    _sidecar(engine, "10.3.0", "8.7")
    _runner_stub(engine)._check_sidecar("10.3.0")
