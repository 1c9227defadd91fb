"""The compress / report / check commands: exit codes, one-line errors, --json."""

from __future__ import annotations

import json
import shutil

import pytest

import calibrators

pytest.importorskip("yaml")

from jetsonkit.cli import main  # noqa: E402

from .conftest import SMALL_RECIPE, write_recipe  # noqa: E402


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_compress_bad_recipe_is_one_line_exit_2(capsys, tmp_path):
    recipe = write_recipe(tmp_path, SMALL_RECIPE.replace("method: entropy", "method: entropy, bins: 4"))
    code, out, err = _run(capsys, "compress", recipe, "-o", tmp_path / "out")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{recipe}:" in err and "key 'calibration.bins': unknown key" in err


def test_compress_missing_recipe(capsys, tmp_path):
    code, _, err = _run(capsys, "compress", tmp_path / "nope.yaml", "-o", tmp_path / "out")
    assert code == 2 and "does not exist" in err


def test_check_pass_fail_and_json(capsys, compressed):
    report = compressed.out_dir / "report.json"
    code, out, _ = _run(capsys, "check", report, "--max-accuracy-drop", "1.5", "--target", "cpu-int8",
                        "--target", "pi-int8")
    assert code == 0 and "all gated targets pass" in out
    code, out, err = _run(capsys, "check", report, "--min-size-ratio", "3.5")
    assert code == 1 and "cpu  " in out and "size ratio 1.00x < 3.5x" in out and "jetson-orin" in out
    assert "fail the gates" in err and "cpu" in err
    code, out, _ = _run(capsys, "--json", "check", compressed.out_dir, "--min-size-ratio", "3.5")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["type"] == "CheckFailed"


def test_check_require_built_and_bad_input(capsys, compressed, tmp_path):
    report = compressed.out_dir / "report.json"
    code, out, _ = _run(capsys, "check", report, "--max-accuracy-drop", "5", "--require-built")
    assert code == 1 and "not built here: no measurement" in out
    assert _run(capsys, "check", report)[0] == 2  # no gate given
    assert _run(capsys, "check", tmp_path / "missing.json", "--max-accuracy-drop", "1")[0] == 2
    (tmp_path / "bad.json").write_text("{not json")
    code, _, err = _run(capsys, "check", tmp_path / "bad.json", "--max-accuracy-drop", "1")
    assert code == 2 and "bad.json:1" in err


def test_check_only_unbuilt_targets_is_not_a_pass(capsys, compressed):
    code, out, err = _run(capsys, "check", compressed.out_dir, "--max-accuracy-drop", "1", "--target", "jetson-orin")
    assert code == 1 and "no measured target" in err


def test_report_rerenders(capsys, compressed, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(compressed.out_dir, out)
    (out / "report.html").unlink()
    shutil.rmtree(out / "plots")
    code, text, _ = _run(capsys, "report", out)
    assert code == 0 and "report.html" in text
    page = (out / "report.html").read_text()
    assert page.count("<svg ") >= 3 and "<img" not in page  # two trade-off plots + sensitivity bars, inline
    assert (out / "plots" / "accuracy_vs_latency.svg").is_file()
    # the times shown are the artifacts' (kept in report.json), not the re-render's
    made = {s["made"] for s in json.loads((out / "report.json").read_text())["stages"]}
    assert made and all(f"<td>{m}</td>" in page for m in made)
    assert _run(capsys, "report", tmp_path)[0] == 2  # no report.json there


@pytest.mark.slow
def test_demo_is_compress_on_the_bundled_recipe(capsys, tmp_path):
    out = tmp_path / "demo"
    code, text, _ = _run(capsys, "demo", "-o", out)
    assert code == 0
    rows = {r["target"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert rows["cpu"]["accuracy"] == pytest.approx(0.9905, abs=1e-9)  # FP32 ONNX on the 10k test split
    for name in ("cpu-int8", "cpu-int8-2to4", "pi5-fp32", "pi5-fp16", "pi5-int8"):
        assert rows[name]["status"] == "measured" and rows[name]["delta_points"] > -0.5
    qat = rows["cpu-int8-qat"]  # QAT (60 steps, learned scales) as its own row, measured like the others
    assert qat["status"] == "measured" and qat["artifact"] == "mnist.qat.onnx" and qat["delta_points"] > -0.3
    assert rows["jetson-orin"]["status"] == "not built here"
    assert "| mnist.qat.onnx | onnxruntime | int8 QAT |" in text
    assert "99.05%" in text and "parity max abs" in text and "mnist.onnx" in text
    table = calibrators.CalibrationTable.load(out / "mnist.calib.json")  # the calibration table is printed too
    assert f"calibration of mnist.onnx: entropy ranges for {len(table.tensors)} tensors from 1000 samples" in text
    for name, amax in table.amaxes().items():
        assert any(line.split()[:2] == [name, f"{amax:.5g}"] for line in text.splitlines()), name
    report = json.loads((out / "report.json").read_text())
    assert {r["tensor"]: r["amax"] for r in report["calibration"]["mnist"]["ranges"]} == table.amaxes()
    assert "## Calibration: mnist.onnx (entropy, 1000 samples" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["values"]["fp32_top1"] == pytest.approx(0.9905)


ONNX_RECIPE = """\
name: t
model: {onnx: MODEL}
inputs:
  - {name: NAME, shape: SHAPE}
calibration: {data: "mnist:train:100", method: minmax}
evaluation: {data: "mnist:test:100", metric: top1}
targets:
  cpu: {backend: onnxruntime, precision: fp32}
bench: {iterations: 5, warmup: 1}
"""


@pytest.mark.parametrize("name, shape, fragment", [
    ("input", "[1, 3, 28, 28]", "key 'inputs[0].shape': [1, 3, 28, 28] does not fit input 'input'"),
    ("images", "[1, 1, 28, 28]", "key 'inputs[0].name': 'images' is not an input of"),
])
def test_compress_onnx_recipe_inputs_must_fit_the_model(capsys, tmp_path, mnist_onnx, name, shape, fragment):
    """An ONNX recipe's inputs only feed TensorRT profiles and build commands: a wrong one used to pass silently."""
    text = ONNX_RECIPE.replace("MODEL", str(mnist_onnx)).replace("NAME", name).replace("SHAPE", shape)
    recipe = write_recipe(tmp_path, text)
    code, out, err = _run(capsys, "compress", recipe, "-o", tmp_path / "out")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{recipe}:4: " in err and fragment in err
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("gate", [["--max-latency-p99-ms", "nan"], ["--max-accuracy-drop", "inf"],
                                  ["--min-size-ratio", "-1"], ["--max-latency-p99-ms", "0"]])
def test_check_refuses_gates_that_pass_everything(capsys, tmp_path, gate):
    """A NaN gate compared False with every row, so the check passed whatever the report said."""
    code, out, err = _run(capsys, "check", tmp_path / "report.json", *gate)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{gate[0]} " in err and "is not a usable gate" in err


def test_report_from_before_the_build_spec_rename_rerenders(capsys, compressed, tmp_path):
    """A report.json written when the not-built target's file was its "plan_file" still names that file."""
    out = tmp_path / "old"
    shutil.copytree(compressed.out_dir, out)
    report = json.loads((out / "report.json").read_text())
    (orin,) = [r for r in report["rows"] if r["target"] == "jetson-orin"]
    orin["plan_file"] = orin.pop("build_spec_file")
    (out / "report.json").write_text(json.dumps(report))
    assert _run(capsys, "report", out)[0] == 0
    name = orin["plan_file"]
    assert name == "jetson-orin.build-spec.txt" and (out / name).is_file()
    assert f"Build spec: `{name}`" in (out / "report.md").read_text() and name in (out / "report.html").read_text()
