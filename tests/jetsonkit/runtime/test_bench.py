"""The benchmark and ``jetsonkit bench``: real runs on the MNIST .onnx and .tflite, side by side."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.cli import main
from jetsonkit.errors import InputSpecError
from jetsonkit.runtime import Runtime
from jetsonkit.runtime.benchmark import BenchSettings, bench_runtime, latency_stats_ms, random_inputs
from jetsonkit.settings import SettingError, check


def test_latency_stats_against_numpy():
    samples = np.linspace(0.001, 0.101, 101)  # 1 ms .. 101 ms
    s = latency_stats_ms(samples)
    assert s["min"] == pytest.approx(1.0) and s["max"] == pytest.approx(101.0)
    assert s["median"] == pytest.approx(51.0) and s["p90"] == pytest.approx(91.0) and s["p99"] == pytest.approx(100.0)
    assert s["mean"] == pytest.approx(51.0)


def test_bench_runtime_counts_and_shapes(mnist_onnx):
    with Runtime.open(mnist_onnx, threads=1) as rt:
        r = bench_runtime(rt, BenchSettings(warmup=2, iterations=30, batch=3, no_energy=True))
    assert r["queries"] == 30 and r["inputs"] == {"input": [3, 1, 28, 28]}
    assert r["throughput_ips"] == pytest.approx(3 * r["throughput_qps"])
    lat = r["latency_ms"]
    assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert r["peak_rss_mb"] > 10 and r["energy"] == {"skipped": "not requested"}


def test_bench_duration_and_streams(mnist_tflite):
    with Runtime.open(mnist_tflite, threads=1) as rt:
        r = bench_runtime(rt, BenchSettings(warmup=1, duration=0.3, streams=2, no_energy=True))
    assert r["wall_s"] >= 0.3 and r["queries"] > 2


def test_bench_config_errors(mnist_onnx):
    with pytest.raises(SettingError, match="iterations must be >= 1"):
        check(BenchSettings(iterations=0))
    with Runtime.open(mnist_onnx) as rt:
        with pytest.raises(InputSpecError, match="--shape"):
            from jetsonkit.runtime.tensors import TensorInfo

            rt._inputs = (TensorInfo("input", ("b", 1, "h", 28), np.dtype(np.float32)),)
            random_inputs(rt, BenchSettings())


def test_cli_bench_side_by_side(mnist_onnx, mnist_tflite, capsys):
    code = main(["bench", str(mnist_onnx), str(mnist_tflite), "--iterations", "20", "--warmup", "2",
                 "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0
    header = out.splitlines()[0]
    assert mnist_onnx.name in header and mnist_tflite.name in header
    for row in ("throughput (qps)", "latency p99 (ms)", "peak RSS (MB)", "energy (mJ/inf)", "machine:"):
        assert row in out


def test_cli_bench_json(mnist_onnx, capsys):
    code = main(["bench", str(mnist_onnx), "--iterations", "10", "--batch", "2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"]
    (r,) = data["results"]
    assert r["backend"] == "onnxruntime" and r["queries"] == 10 and r["inputs"]["input"][0] == 2
    assert set(r["latency_ms"]) == {"min", "mean", "median", "p90", "p95", "p99", "max"}
    assert "cores" in data["machine"]


def test_cli_bench_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "m.onnx"
    bad.write_bytes(b"nope")
    assert main(["bench", str(bad)]) == 2
    assert "cannot load" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "m.pt")]) == 2
    capsys.readouterr()
    assert main(["bench", "x.onnx", "--shape", "input-1x2"]) == 2  # argparse errors: one line, exit 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "jetsonkit bench: error: argument --shape" in err and "usage:" not in err


def test_cli_bench_isolate_runs_each_model_in_its_own_process(mnist_onnx, mnist_tflite, capsys):
    code = main(["bench", str(mnist_onnx), str(mnist_tflite), "--iterations", "5", "--warmup", "1", "--isolate",
                 "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["backend"] for r in data["results"]] == ["onnxruntime", "litert"]
    assert all(r["queries"] == 5 and r["peak_rss_mb"] > 10 for r in data["results"])


def test_bench_energy_with_power_monitors(mnist_onnx, tmp_path):
    """Energy plumbing end to end on an INA3221 hwmon tree (constant 6 W): mJ/inference = J * 1e3 / inferences."""
    from jetsonkit.runtime.benchmark import format_table

    from .test_power import _fake_hwmon

    _fake_hwmon(tmp_path, [("VDD_IN", 5000, 1200)])
    with Runtime.open(mnist_onnx, threads=1) as rt:
        r = bench_runtime(rt, BenchSettings(warmup=1, duration=0.3, batch=2, idle=0.1,
                                            power_root=str(tmp_path)))
    e = r["energy"]
    assert e["rails"] == "VDD_IN" and e["mean_power_w"] == pytest.approx(6.0)
    assert e["mj_per_inference"] == pytest.approx(e["joules"] * 1e3 / (2 * r["queries"]))
    assert e["idle_power_w"] == pytest.approx(6.0) and e["mj_per_inference_above_idle"] == pytest.approx(0, abs=1e-6)
    table = format_table([r])
    assert "energy (mJ/inf)" in table and "energy above idle" in table


@pytest.mark.parametrize("extra, fragment", [
    (["--shape", "images:1x1x28x28"], "--shape names 'images', which is not an input of the model"),
    (["--shape", "input:2x1x28x28", "--batch", "4"], "--shape input:2x1x28x28 and --batch 4 disagree on the batch"),
    (["--no-energy", "--idle", "5"], "--idle samples idle power for the energy figures, which --no-energy turns off"),
    (["--no-energy", "--duration", "-1"], "--duration -1.0 must be > 0 seconds"),  # was exit 3 (KeyError 'min')
])
def test_cli_bench_refuses_options_it_would_ignore(mnist_onnx, capsys, extra, fragment):
    assert main(["bench", str(mnist_onnx), "--iterations", "2", "--warmup", "0", *extra]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and fragment in lines[0]


def test_quiet_bench_of_a_tflite_prints_nothing(mnist_tflite):
    """LiteRT prints an INFO line from C++ on fd 2 when it creates XNNPACK; --quiet must silence it (a subprocess:
    capsys cannot see file-descriptor output)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "jetsonkit", "bench", str(mnist_tflite), "--iterations", "5", "--warmup", "1"]
    quiet = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "", quiet.stderr
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0 and "latency" in loud.stdout
