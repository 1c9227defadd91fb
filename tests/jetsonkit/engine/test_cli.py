"""``jetsonkit build`` on the command line: dry-run build specs per version, errors and exit codes, no half files."""

from __future__ import annotations

import json

import pytest

from jetsonkit.cli import main

PROFILE = ["--profile", "input:1x1x28x28,8x1x28x28,64x1x28x28"]


def test_dry_run_prints_the_build_spec_per_version(mnist_onnx, capsys):
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", "8.6", "--precision", "fp16", *PROFILE]) == 0
    out = capsys.readouterr().out
    assert "TensorRT 8.6.0 build spec (fp16)" in out and "EXPLICIT_BATCH" in out and "FP16" in out


def test_dry_run_json(mnist_onnx, capsys, tmp_path):
    code = main(["build", str(mnist_onnx), "--json", "--dry-run", "--trt-version", "10.3", "--workspace", "512MiB",
                 "--opt-level", "4", "--timing-cache", str(tmp_path / "tc"), *PROFILE])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] and data["build_spec"]["memory_pools"] == {"WORKSPACE": 512 * 2**20}
    assert data["build_spec"]["optimization_level"] == 4 and data["build_spec"]["profiles"][0]["input"]["opt"] == [8, 1, 28, 28]
    assert not (tmp_path / "tc").exists()


@pytest.mark.parametrize("extra, message", [
    (["--trt-version", "11.4", "--precision", "int8", "--int8-mode", "calibrator", "--calib", "CALIB"], "removed implicit INT8"),
    (["--trt-version", "10.3", "--precision", "int8"], "no Q/DQ nodes"),
    (["--trt-version", "10.3", "--profile", "input:9x1x28x28,2x1x28x28,64x1x28x28"], "min <= opt <= max"),
    (["--trt-version", "10.3", "--profile", "input:1x1x28x28"], "does not parse"),
    (["--trt-version", "7.0"], "not supported"),
    (["--trt-version", "10.3", "--precision", "int8", "--int8-mode", "cache", "--calib", "missing.json"], "does not exist"),
])
def test_bad_input_exit_2_one_line(mnist_onnx, capsys, tmp_path, extra, message):
    calib = tmp_path / "calib.json"
    calib.write_text("{}")
    extra = [str(calib) if a == "CALIB" else a for a in extra]
    assert main(["build", str(mnist_onnx), "--dry-run", *PROFILE[:0], *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_onnx_and_missing_tensorrt(tmp_path, capsys, mnist_onnx):
    assert main(["build", str(tmp_path / "nope.onnx"), "--dry-run", "--trt-version", "10.3"]) == 2
    assert "does not exist" in capsys.readouterr().err
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    out = tmp_path / "m.engine"
    assert main(["build", str(mnist_onnx), "-o", str(out), *PROFILE]) == 2
    assert "tensorrt is not installed" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "m.engine.json").exists()


def test_garbage_onnx_and_other_usage_errors(tmp_path, capsys, mnist_onnx):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file" * 10)
    assert main(["build", str(bad), "--dry-run", "--trt-version", "10.3"]) == 2
    assert "cannot read ONNX file" in capsys.readouterr().err
    assert main(["build", str(mnist_onnx), "--trt-version", "10.3", *PROFILE]) == 2
    assert "only prints a build spec (--dry-run)" in capsys.readouterr().err
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", "10.3", "--dla", "0", *PROFILE]) == 2
    assert "FP16 and INT8 layers only" in capsys.readouterr().err
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", "11.4", "--precision", "fp16", *PROFILE]) == 0
    assert "graph transform    : to_fp16" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--precision", "fp32", "--calib", "CALIB"], "--calib / --calib-shape feed the implicit INT8 modes"),
    (["--precision", "int8", "--calib", "CALIB"], "--calib / --calib-shape feed the implicit INT8 modes"),
    (["--calib-shape", "input:8x1x28x28"], "--calib / --calib-shape feed the implicit INT8 modes"),
    (["--precision", "fp16", "--int8-mode", "cache"], "--int8-mode cache applies to --precision int8, not fp16"),
    (["--no-gpu-fallback"], "--no-gpu-fallback applies to a DLA build"),
    (["--force"], "--force rebuilds an engine, and --dry-run builds nothing"),
    (["--timing-cache", "DIR"], "is a folder"),
])
@pytest.mark.parametrize("version", ["8.6", "10.3", "11.4"])
def test_dry_run_refuses_options_it_would_ignore(mnist_onnx, capsys, tmp_path, extra, message, version):
    calib = tmp_path / "calib.json"
    calib.write_text("{}")
    extra = [str(calib) if a == "CALIB" else str(tmp_path) if a == "DIR" else a for a in extra]
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", version, *PROFILE, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_trtexec_aliases_build_like_the_long_options(mnist_onnx, capsys, tmp_path):
    """--saveEngine / --minShapes... / --best / --useDLACore / --timingCacheFile are spellings of our options."""
    ours = ["build", str(mnist_onnx), "--json", "--dry-run", "--trt-version", "10.3", "--precision", "fp16", "--dla", "1",
            "--timing-cache", str(tmp_path / "tc"), "--profile", "input:8x1x28x28,8x1x28x28,8x1x28x28", "-o",
            str(tmp_path / "m.engine")]
    alias = ["build", str(mnist_onnx), "--json", "--dry-run", "--trt-version", "10.3", "--fp16", "--useDLACore", "1",
             "--timingCacheFile", str(tmp_path / "tc"), "--minShapes", "input:8x1x28x28", "--optShapes",
             "input:8x1x28x28", "--maxShapes", "input:8x1x28x28", "--allowGPUFallback", "--saveEngine",
             str(tmp_path / "m.engine")]
    assert main(ours) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(alias) == 0
    assert json.loads(capsys.readouterr().out) == want
    assert main(["build", str(mnist_onnx), "--json", "--dry-run", "--trt-version", "10.3", "--best", *PROFILE]) == 2
    assert "has no Q/DQ nodes" in capsys.readouterr().out
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", "10.3", "--minShapes", "input:1x1x28x28"]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["build", str(mnist_onnx), "--dry-run", "--trt-version", "10.3", "--allowGPUFallback", *PROFILE]) == 2
    assert "applies to a DLA build" in capsys.readouterr().err


def test_inspect_engine_on_the_fake(mnist_onnx, tmp_path, monkeypatch, capsys):
    """`jetsonkit inspect`: sidecar facts, runs-here verdict, I/O, profiles and per-layer precision / tactic
    (TensorRT's view replayed on the strict fake of 10.3; a real engine needs a device)."""
    from jetsonkit.engine import engine
    from jetsonkit.runtime import trt_inspect as inspection
    from jetsonkit.engine.machine import MachineInfo
    from jetsonkit.engine.options import BuildSettings, parse_profiles
    from trt_fake import install

    install(monkeypatch, "10.3")
    orin = MachineInfo("Orin", "8.7", 8 << 30, 2, "36.4.0", "6")
    monkeypatch.setattr(engine, "detect_machine", lambda dla_cores=None: orin)
    monkeypatch.setattr(inspection, "detect_machine", lambda: orin)
    path = tmp_path / "m.engine"
    engine.build_engine(mnist_onnx, path, BuildSettings(profiles=parse_profiles(PROFILE[1:])))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "built with TensorRT 10.3.0 for Orin" in out and "runs here: yes" in out
    assert "input  input: float32 [-1, 1, 28, 28]" in out and "profile 0: min [1, 1, 28, 28]" in out
    assert "/features/features.0/Conv: fp32 fake_conv_kernel" in out
    monkeypatch.setattr(inspection, "detect_machine", lambda: MachineInfo("H100", "9.0"))
    assert main(["inspect", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs_here"] is False and "this machine is a discrete GPU" in data["why"]
    assert main(["inspect", str(tmp_path / "missing.engine")]) == 2


def test_inspect_refuses_other_model_formats(mnist_onnx, tmp_path, capsys):
    """An ONNX model, a .tflite or a torch checkpoint given to `inspect` is bad input (exit 2), named as what it is."""
    import zipfile

    tflite = tmp_path / "m.tflite"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + bytes(32))
    ckpt = tmp_path / "m.engine"
    with zipfile.ZipFile(ckpt, "w") as z:
        z.writestr("data.pkl", b"")
    for path, what in ((mnist_onnx, "an ONNX model"), (tflite, "a TFLite model"), (ckpt, "a zip archive")):
        assert main(["inspect", str(path)]) == 2
        assert what in capsys.readouterr().err
