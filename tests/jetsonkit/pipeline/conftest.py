"""A small real recipe (MNIST CNN, 300 calibration / 1,000 test images, short benches) and one shared compress run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

SMALL_RECIPE = """\
name: mnist
model:
  spec: jetsonkit.examples.mnist:build_model
inputs:
  - {name: input, shape: [1, 1, 28, 28]}
outputs: [logits]
calibration: {data: "mnist:train:300", method: entropy}
evaluation: {data: "mnist:test:1000", metric: top1}
stages:
  prune:
    finetune: {data: "mnist:train:2000", max_steps: 4, batch_size: 32}
  quantize: {auto_budget: 0.5, data: "mnist:val:300"}
targets:
  cpu: {backend: onnxruntime, precision: fp32}
  cpu-int8: {backend: onnxruntime, precision: int8}
  cpu-int8-2to4: {backend: onnxruntime, precision: int8, sparsity: true}
  pi-int8: {backend: tflite, precision: int8}
  jetson-orin: {backend: tensorrt, precision: int8, sparsity: true}
bench: {iterations: 20, warmup: 2}
"""


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = Path(folder) / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="session")
def small_recipe(tmp_path_factory) -> Path:
    return write_recipe(tmp_path_factory.mktemp("recipe"), SMALL_RECIPE)


@pytest.fixture(scope="session")
def compressed(small_recipe, tmp_path_factory):
    """One real compress run of the small recipe (every stage ran), shared by the tests that only read it."""
    pytest.importorskip("torch")
    from jetsonkit.pipeline import compress

    return compress(small_recipe, tmp_path_factory.mktemp("compress") / "out")
