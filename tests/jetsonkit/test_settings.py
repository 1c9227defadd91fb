"""Stage settings: one dataclass per stage gives the CLI flags, the recipe section, the defaults and the checks."""

from __future__ import annotations

import pytest

from jetsonkit.cli import build_parser, main
from jetsonkit.qat.stage import QatSettings
from jetsonkit.settings import from_args

pytest.importorskip("yaml")

from jetsonkit.pipeline.recipe import QatConfig  # noqa: E402

QAT_ARGS = ["qat", "pkg.mod:factory", "--calib", "c.json", "--data", "mnist:train", "-o", "o.onnx"]


def test_qat_has_one_default_batch_size():
    """It was 64 in a recipe and 128 on the command line."""
    settings = from_args(QatSettings, build_parser().parse_args(QAT_ARGS))
    assert settings == QatSettings() and settings.batch_size == 64
    assert QatConfig(data="mnist:train").batch_size == 64 and issubclass(QatConfig, QatSettings)


def test_cli_flags_are_the_settings_fields():
    args = build_parser().parse_args(QAT_ARGS + ["--epochs", "3", "--learn-scales", "--batchnorm", "freeze"])
    assert from_args(QatSettings, args) == QatSettings(epochs=3, learn_scales=True, batchnorm="freeze")


def test_a_bad_setting_names_the_flag_on_the_cli(capsys):
    assert main(QAT_ARGS + ["--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1, got 0" in capsys.readouterr().err


def test_a_cli_only_setting_is_not_a_recipe_key(tmp_path):
    """The QAT calibration method is the recipe's calibration.method: stages.qat offers no `method` key."""
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    from .pipeline.conftest import SMALL_RECIPE, write_recipe

    text = SMALL_RECIPE.replace("targets:\n", '  qat: {data: "mnist:train:2000", method: mse}\ntargets:\n', 1)
    with pytest.raises(ConfigError, match=r"key 'stages.qat.method': unknown key"):
        load_recipe(write_recipe(tmp_path, text))


def test_compress_passes_the_precision_plan_to_fp16_and_tensorrt(tmp_path, mnist_onnx):
    """compress used to build the TensorRT engine and the FP16 ONNX without the recipe's precision plan."""
    import onnx

    from jetsonkit.pipeline import load_recipe, steps

    from .pipeline.conftest import SMALL_RECIPE, write_recipe

    gemm = next(n.name for n in onnx.load(str(mnist_onnx)).graph.node if n.op_type == "Gemm")
    (tmp_path / "plan.yaml").write_text(f"rules:\n  - match: '{gemm}'\n    precision: fp32\n")
    text = SMALL_RECIPE.replace('quantize: {auto_budget: 0.5, data: "mnist:val:300"}', "quantize: {plan: plan.yaml}")
    r = load_recipe(write_recipe(tmp_path, text))
    orin = r.target("jetson-orin")
    settings = steps.build_settings(r, orin)
    assert settings.precision_plan == str(tmp_path / "plan.yaml")
    assert "--plan plan.yaml" in steps.finish_command(r, orin, "mnist.qdq.onnx")
    steps.fp16_onnx_stage(mnist_onnx, tmp_path / "m.fp16.onnx", r.stages.quantize.plan)
    graph = onnx.load(str(tmp_path / "m.fp16.onnx")).graph
    kept = [i for i in graph.initializer if i.name.startswith(f"{gemm}") or gemm in i.name]
    assert any(n.op_type == "Cast" for n in graph.node)
    assert steps.fp16_onnx_stage(mnist_onnx, tmp_path / "all.fp16.onnx")["size_bytes"] < \
        (tmp_path / "m.fp16.onnx").stat().st_size, "the fp32 layer makes the planned file larger"
    assert kept is not None


def test_the_fine_tune_knobs_are_declared_once():
    """QAT and the 2:4 fine-tune share FinetuneSettings: one declaration, so one set of defaults and checks."""
    import dataclasses

    from jetsonkit._train import FinetuneSettings
    from jetsonkit.pipeline.recipe import FinetuneConfig

    shared = {f.name for f in dataclasses.fields(FinetuneSettings)}
    assert shared >= {"epochs", "lr", "batch_size", "max_steps", "distill", "loss"}
    assert issubclass(QatSettings, FinetuneSettings) and issubclass(FinetuneConfig, FinetuneSettings)
    assert not shared & set(QatSettings.__dict__.get("__annotations__", {}))  # nothing declared again
    defaults = {name: getattr(FinetuneSettings(), name) for name in shared}
    assert {name: getattr(QatSettings(), name) for name in shared} == defaults
    assert {name: getattr(FinetuneConfig(data="mnist:train"), name) for name in shared} == defaults


def test_a_bad_fine_tune_setting_in_a_recipe_names_file_line_and_key(tmp_path):
    from jetsonkit.errors import ConfigError
    from jetsonkit.pipeline import load_recipe

    from .pipeline.conftest import SMALL_RECIPE, write_recipe

    text = SMALL_RECIPE.replace("max_steps: 4, batch_size: 32", "max_steps: 4, batch_size: 32, lr: -1")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "lr: -1" in t)
    with pytest.raises(ConfigError, match=rf"recipe.yaml:{line}: key 'stages.prune.finetune.lr': "
                                          r"lr must be > 0, got -1.0"):
        load_recipe(write_recipe(tmp_path, text))
    with pytest.raises(ConfigError, match=r"key 'stages.prune.finetune.loss': loss 'focal' is not module:function"):
        load_recipe(write_recipe(tmp_path, text.replace("lr: -1", "loss: focal")))
