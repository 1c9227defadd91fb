"""A recipe's ``preprocess:`` section: validated at the line of each key, used for image data, stored in the ONNX."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import ConfigError
from jetsonkit.preprocess import PreprocessSpec

from .conftest import tiny_onnx, write_png

RECIPE = ("model: {onnx: m.onnx}\ninputs: [{name: x, shape: [1, 3, 8, 8], dynamic_batch: false}]\n"
          "calibration: {data: imgs}\nevaluation: {data: imgs, metric: agreement}\n"
          "targets: {cpu: {backend: onnxruntime}}\npreprocess:\n  resize: letterbox\n  pad: 0\n  {extra}\n")


def _recipe(tmp_path, extra: str = "color: rgb"):
    tiny_onnx(tmp_path / "m.onnx", 1)
    rng = np.random.default_rng(4)
    for i in range(2):
        write_png(tmp_path / "imgs" / f"{i}.png", rng.integers(0, 256, (6, 16, 3), dtype=np.uint8))
    (tmp_path / "recipe.yaml").write_text(RECIPE.replace("{extra}", extra))
    from jetsonkit.pipeline.recipe import load_recipe

    return load_recipe(tmp_path / "recipe.yaml")


def test_recipe_preprocess_drives_image_data(tmp_path):
    from jetsonkit.pipeline.steps import data_inputs, load_data

    recipe = _recipe(tmp_path)
    assert recipe.preprocess == PreprocessSpec(resize="letterbox", pad=0)
    x, _ = load_data(recipe.calibration.data, data_inputs(recipe), recipe.preprocess)
    stretched, _ = load_data(recipe.calibration.data, data_inputs(recipe))
    # a 6x16 picture letterboxed into 8x8 is 3 rows high: the rows above and below are the pad (0 -> 0.0)
    assert x.shape == (2, 3, 8, 8) and np.all(x[:, :, :2] == 0) and np.all(x[:, :, 5:] == 0)
    assert not np.array_equal(x, stretched)


@pytest.mark.parametrize("extra,needle", [("resise: stretch", "recipe.yaml:9: key 'preprocess.resise': unknown key"),
                                          ("std: [1, 0, 1]", "recipe.yaml:9: key 'preprocess.std'")])
def test_recipe_preprocess_errors_name_the_line_of_the_key(tmp_path, extra, needle):
    with pytest.raises(ConfigError) as err:
        _recipe(tmp_path, extra)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_export_stage_stores_the_spec_in_the_onnx(tmp_path):
    from jetsonkit.pipeline.steps import _store_preprocess
    from jetsonkit.preprocess.metadata import from_onnx

    path = tiny_onnx(tmp_path / "m.onnx", 1)
    spec = PreprocessSpec(resize="letterbox", pad=0)
    _store_preprocess(path, spec)
    assert from_onnx(path) == spec
