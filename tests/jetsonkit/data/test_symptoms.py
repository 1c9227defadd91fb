"""The data symptoms of the renovation issue, each as it was reported, through the CLI a new user would type."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jetsonkit.calibrate import calibrate
from jetsonkit.cli import main
from jetsonkit.data import DataSpec
from jetsonkit.errors import DataError

from .conftest import tiny_onnx, write_png


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_static_batch1_model_calibrates_from_an_n_sample_npy(tmp_path, capsys, batch1_onnx, samples):
    np.save(tmp_path / "calib.npy", samples)
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "calib.npy", "--method", "minmax",
                      "-o", tmp_path / "c.json")
    assert rc == 0, err
    table = json.loads((tmp_path / "c.json").read_text())
    assert table["samples"] == 12
    # the same ranges as one run of all 12 samples through the same network with a dynamic batch axis
    dynamic = calibrate(tiny_onnx(tmp_path / "dyn.onnx", "n"), samples, "minmax", batch_size=12)
    got = {k: v["amax"] for k, v in table["tensors"].items()}
    assert got == pytest.approx(dynamic.amaxes(), rel=1e-5)


def test_batch_size_that_contradicts_a_static_batch_says_use_batch_size_1(tmp_path, capsys, batch1_onnx, samples):
    np.save(tmp_path / "calib.npy", samples)
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "calib.npy", "--batch-size", "32",
                      "-o", tmp_path / "c.json")
    line = _one_line_error(err)
    assert rc == 2 and "--batch-size 32 does not fit the model's static batch size 1" in line
    assert "use --batch-size 1" in line and not (tmp_path / "c.json").exists()


def test_max_samples_0_is_a_usage_error_not_empty_data(tmp_path, capsys, batch1_onnx, samples):
    np.save(tmp_path / "calib.npy", samples)
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "calib.npy", "--max-samples", "0",
                      "-o", tmp_path / "c.json")
    line = _one_line_error(err)
    assert rc == 2 and "--max-samples must be >= 1, got 0" in line and "empty" not in line


def test_nan_in_the_data_names_the_data_not_the_model(tmp_path, capsys, batch1_onnx, samples):
    samples[5, 1, 2, 3] = np.nan
    np.save(tmp_path / "calib.npy", samples)
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "calib.npy", "-o", tmp_path / "c.json")
    line = _one_line_error(err)
    assert rc == 2 and f"data '{tmp_path / 'calib.npy'}' holds NaN or Inf (sample 5, input 'x')" in line
    assert "the model is not at fault" in line


def test_nan_made_by_the_model_is_blamed_on_the_model(tmp_path, samples):
    onnx = pytest.importorskip("onnx")
    path = tiny_onnx(tmp_path / "nan.onnx", "n")
    model = onnx.load(str(path))
    w = onnx.numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0, 0, 0] = np.nan
    model.graph.initializer[0].CopyFrom(onnx.numpy_helper.from_array(w, "w"))
    onnx.save(model, str(path))
    with pytest.raises(DataError, match=r"the model produced NaN/Inf on this data"):
        calibrate(path, samples, "minmax")


def test_evaluate_takes_npy_and_npz_on_a_static_batch1_model(tmp_path, capsys, batch1_onnx, samples):
    np.save(tmp_path / "eval.npy", samples)
    rc, out, err = _run(capsys, "--json", "evaluate", batch1_onnx, "--data", tmp_path / "eval.npy",
                        "--reference", batch1_onnx)
    assert rc == 0, err
    data = json.loads(out)
    assert data["samples"] == 12 and data["agreement"]["top1_agreement"] == 1.0 and "top1" not in data
    # labels from an .npz: top-1 equals the arg-max of the same network run on all 12 at once
    import onnxruntime as ort

    logits = ort.InferenceSession(str(tiny_onnx(tmp_path / "dyn.onnx", "n"))).run(None, {"x": samples})[0]
    y = np.array([0, 1, 2, 3] * 3)
    np.savez(tmp_path / "eval.npz", x=samples, y=y)
    rc, out, err = _run(capsys, "--json", "evaluate", batch1_onnx, "--data", tmp_path / "eval.npz")
    assert rc == 0, err
    assert json.loads(out)["top1"] == pytest.approx(float((logits.argmax(1) == y).mean()))


def test_evaluate_static_batch_padding_keeps_every_sample(tmp_path, samples):
    from jetsonkit.evaluate import predict

    batch5 = tiny_onnx(tmp_path / "b5.onnx", 5)  # 12 samples = 5 + 5 + 2 (padded to 5, padding dropped)
    dyn = predict(tiny_onnx(tmp_path / "dyn.onnx", "n"), samples)
    got = predict(batch5, samples)
    assert got.shape == (12, 4) and np.allclose(got, dyn, rtol=1e-5, atol=1e-6)


def test_evaluate_runs_a_static_batch1_runtime_in_batches_of_one(tmp_path, batch1_onnx, samples):
    from jetsonkit.evaluate import predict
    from jetsonkit.runtime import Runtime

    dyn = predict(tiny_onnx(tmp_path / "dyn.onnx", "n"), samples)
    runner = Runtime.open(batch1_onnx)
    try:
        got = predict(runner, samples)
    finally:
        runner.close()
    assert got.shape == (12, 4) and np.allclose(got, dyn, rtol=1e-5, atol=1e-6)


def test_recipe_takes_an_image_folder_and_an_npy(tmp_path):
    from jetsonkit.pipeline.recipe import load_recipe
    from jetsonkit.pipeline.steps import data_files, data_inputs, load_data

    rng = np.random.default_rng(1)
    for i in range(3):
        write_png(tmp_path / "imgs" / f"{i}.png", rng.integers(0, 256, (10, 12, 3), dtype=np.uint8))
    np.save(tmp_path / "eval.npy", rng.normal(size=(4, 3, 8, 8)).astype(np.float32))
    (tmp_path / "recipe.yaml").write_text(
        "model: {onnx: m.onnx}\ninputs: [{name: x, shape: [1, 3, 8, 8], dynamic_batch: false}]\n"
        "calibration: {data: imgs/}\nevaluation: {data: eval.npy, metric: agreement}\n"
        "targets: {cpu: {backend: onnxruntime}}\n")
    tiny_onnx(tmp_path / "m.onnx", 1)
    recipe = load_recipe(tmp_path / "recipe.yaml")
    assert recipe.calibration.data == str(tmp_path / "imgs")
    assert sorted(p.name for p in data_files(recipe.calibration.data, recipe.evaluation.data)) == \
        ["0.png", "1.png", "2.png", "eval.npy"]
    x, y = load_data(recipe.calibration.data, data_inputs(recipe))
    assert x.shape == (3, 3, 8, 8) and x.dtype == np.float32 and y is None
    x, y = load_data(recipe.evaluation.data, data_inputs(recipe))
    assert x.shape == (4, 3, 8, 8) and y is None


def test_recipe_refuses_a_folder_without_data_with_file_and_line(tmp_path):
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline.recipe import load_recipe

    (tmp_path / "empty").mkdir()
    (tmp_path / "recipe.yaml").write_text(
        "model: {onnx: m.onnx}\ninputs: [{name: x, shape: [1, 3, 8, 8]}]\n"
        "calibration: {data: empty}\nevaluation: {data: mnist:test}\ntargets: {cpu: {backend: onnxruntime}}\n")
    tiny_onnx(tmp_path / "m.onnx", 1)
    with pytest.raises(ConfigError, match=r"recipe.yaml:3: key 'calibration.data': data folder .* holds no images"):
        load_recipe(tmp_path / "recipe.yaml")


def test_imagenet_folder_with_capital_jpeg_calibrates_and_is_labelled(tmp_path, capsys, batch1_onnx):
    from PIL import Image

    rng = np.random.default_rng(2)
    names = ["n01440764/a.JPEG", "n01440764/deeper/b.jpg", "n00000001/c.Jpeg", "n00000001/d.PNG"]
    for name in names:
        (tmp_path / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(
            tmp_path / "train" / name, format="JPEG" if "jp" in name.lower() else "PNG")
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "train", "--method", "minmax",
                      "-o", tmp_path / "c.json")
    assert rc == 0, err
    assert json.loads((tmp_path / "c.json").read_text())["samples"] == 4
    spec = DataSpec.parse(tmp_path / "train")
    assert spec.kind == "images" and spec.labelled()
    from jetsonkit.data import onnx_inputs

    x, y = spec.load_xy(onnx_inputs(batch1_onnx))
    # sorted paths: n00000001/c.Jpeg, n00000001/d.PNG, n01440764/a.JPEG, n01440764/deeper/b.jpg
    assert x.shape == (4, 3, 8, 8) and y.tolist() == [0, 0, 1, 1]
    assert spec.load_xy(onnx_inputs(batch1_onnx), max_samples=3)[1].tolist() == [0, 0, 1]
    rc, out, err = _run(capsys, "--json", "evaluate", batch1_onnx, "--data", tmp_path / "train")
    assert rc == 0, err
    import onnxruntime as ort

    logits = ort.InferenceSession(str(tiny_onnx(tmp_path / "dyn.onnx", "n"))).run(None, {"x": x})[0]
    result = json.loads(out)
    assert result["samples"] == 4 and result["top1"] == float((logits.argmax(1) == y).mean())


def test_folder_of_per_sample_npy_files(tmp_path, capsys, batch1_onnx, samples):
    (tmp_path / "samples").mkdir()
    for i, s in enumerate(samples):
        np.save(tmp_path / "samples" / f"{i:03d}.npy", s)
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", tmp_path / "samples", "--method", "minmax",
                      "-o", tmp_path / "c.json")
    assert rc == 0, err
    from_folder = json.loads((tmp_path / "c.json").read_text())
    whole = calibrate(batch1_onnx, samples, "minmax")
    assert from_folder["samples"] == 12
    assert {k: v["amax"] for k, v in from_folder["tensors"].items()} == pytest.approx(whole.amaxes())
    x, y = DataSpec.parse(tmp_path / "samples").load_xy()
    assert np.array_equal(x, samples) and y is None
    (tmp_path / "labelled").mkdir()
    for i, s in enumerate(samples[:3]):
        np.savez(tmp_path / "labelled" / f"{i}.npz", x=s, y=i)
    x, y = DataSpec.parse(tmp_path / "labelled").load_xy()
    assert np.array_equal(x, samples[:3]) and y.tolist() == [0, 1, 2]


@pytest.mark.parametrize("make,needle", [
    (lambda p: p / "missing.npy", "missing.npy' does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "holds no images"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "is not a .npy / .npz file or a folder"),
    (lambda p: np.savez(p / "y.npz", y=np.arange(12)) or p / "y.npz", "holds only 'y' (labels)"),
])
def test_bad_data_is_one_line_exit_2(tmp_path, capsys, batch1_onnx, make, needle):
    rc, _, err = _run(capsys, "calibrate", batch1_onnx, "--data", make(tmp_path), "-o", tmp_path / "c.json")
    assert rc == 2 and needle in _one_line_error(err)
