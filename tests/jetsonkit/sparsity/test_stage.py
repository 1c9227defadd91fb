"""The prune stage's one contract: PruneSettings + FinetuneSettings read by the CLI and the recipe alike, run_prune
returning a PruneRun, run_sparsity returning an outcome; bad values name the field, the flag or file:line."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from jetsonkit.cli import build_parser, main
from jetsonkit.errors import ConfigError, UsageError
from jetsonkit.settings import SettingError, from_args
from jetsonkit.sparsity import holds_2to4, load_pruned
from jetsonkit.sparsity.stage import FinetuneSettings, PruneSettings, run_prune, run_sparsity

pytest.importorskip("yaml")

from jetsonkit.pipeline import load_recipe  # noqa: E402
from jetsonkit.pipeline.recipe import FinetuneConfig, PruneConfig  # noqa: E402

from ..pipeline.conftest import SMALL_RECIPE, write_recipe  # noqa: E402

SPEC = "jetsonkit.examples.mnist:build_model"


def _args(*extra: str):
    return build_parser().parse_args(["prune", SPEC, *extra, "-o", "p.pt"])


def _shared(obj, cls) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)}


def test_cli_and_recipe_have_one_set_of_defaults():
    args = _args("--finetune")
    assert from_args(PruneSettings, args) == PruneSettings()
    assert _shared(PruneConfig(), PruneSettings) == _shared(PruneSettings(), PruneSettings)
    assert from_args(FinetuneSettings, args) == FinetuneSettings()
    assert _shared(FinetuneConfig(data="mnist:train"), FinetuneSettings) == _shared(FinetuneSettings(), FinetuneSettings)
    assert issubclass(PruneConfig, PruneSettings) and issubclass(FinetuneConfig, FinetuneSettings)


def test_every_setting_is_a_flag_and_a_recipe_key():
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["prune"]
    dests = {a.dest for a in sub._actions}
    for cls, section in ((PruneSettings, PruneConfig), (FinetuneSettings, FinetuneConfig)):
        names = {f.name for f in dataclasses.fields(cls)}
        assert names <= dests and names <= {f.name for f in dataclasses.fields(section)}
    parsed = from_args(PruneSettings, _args("--include", "features.*", "--include", "classifier.0", "--permute"))
    assert parsed == PruneSettings(permute=True, include=("features.*", "classifier.0"))


def test_a_recipe_prune_section_is_checked_like_the_flags(tmp_path):
    text = SMALL_RECIPE.replace("  prune:\n", '  prune:\n    sparsity: "1:4"\n', 1)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"1:4"' in t)
    with pytest.raises(ConfigError, match=rf"recipe.yaml:{line}: key 'stages.prune.sparsity': '1:4' is not one of 2:4"):
        load_recipe(write_recipe(tmp_path, text))
    text = SMALL_RECIPE.replace("max_steps: 4", "max_steps: 0")
    with pytest.raises(ConfigError, match=r"key 'stages.prune.finetune.max_steps': max_steps must be >= 1, got 0"):
        load_recipe(write_recipe(tmp_path, text))
    r = load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace("  prune:\n", "  prune:\n    include: features.*\n")))
    assert r.stages.prune.include == ("features.*",) and r.stages.prune.finetune.batch_size == 32


def test_unlabelled_fine_tune_data_needs_distillation_or_a_loss(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((8, 1, 28, 28), np.float32))
    text = SMALL_RECIPE.replace('finetune: {data: "mnist:train:2000"', "finetune: {data: x.npy")
    with pytest.raises(ConfigError, match=r"key 'stages.prune.finetune.data': fine-tuning data 'x.npy' has no labels"):
        load_recipe(write_recipe(tmp_path, text))
    assert load_recipe(write_recipe(tmp_path, text.replace("max_steps: 4", "max_steps: 4, distill: true")))
    assert load_recipe(write_recipe(tmp_path, text.replace("max_steps: 4", "max_steps: 4, loss: 'pkg.m:f'")))


def test_library_settings_errors_name_the_field(mnist_model):
    with pytest.raises(SettingError) as info:
        run_prune(copy.deepcopy(mnist_model), PruneSettings(sparsity="1:4"))
    assert info.value.key == "sparsity"
    with pytest.raises(SettingError) as info:
        run_prune(copy.deepcopy(mnist_model), finetune=FinetuneSettings(lr=0), train="mnist:train:64")
    assert info.value.key == "lr"
    with pytest.raises(UsageError, match="--finetune needs --data"):
        run_prune(copy.deepcopy(mnist_model), finetune=FinetuneSettings())


@pytest.mark.parametrize("argv, message", [
    (["--loss", "focal"], "--loss 'focal' is not module:function"),
    (["--loss", "no_such_module_xyz:f"], "cannot load the training loss 'no_such_module_xyz:f'"),
    (["--distill", "--batch-size", "0"], "--batch-size must be >= 1, got 0"),
])
def test_fine_tune_flags_are_checked_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "p.pt"
    assert main(["prune", SPEC, "--finetune", "--data", "mnist:train:64", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not out.exists()


def test_run_prune_with_a_task_loss_on_batches(mnist_model, tmp_path):
    """The hook a detection fine-tune uses: batches (x, *targets), the task's loss, the dense model's outputs."""
    import torch

    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    soft = torch.softmax(torch.randn(64, 10, generator=g), 1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, soft, torch.ones(64)), batch_size=16)
    calls = []

    def soft_targets(out, targets, teacher_out):
        target, weight = targets
        calls.append(teacher_out.shape)
        return -(weight[:, None] * target * torch.log_softmax(out, 1)).sum(1).mean()

    run = run_prune(copy.deepcopy(mnist_model), PruneSettings(exclude=("classifier.*",)),
                    FinetuneSettings(distill=True, max_steps=3), train=loader, loss=soft_targets,
                    output=tmp_path / "p.pt")
    assert run.pruned_layers == ["features.3"] and run.finetune.loss == "soft_targets" and run.mode == "distill"
    assert calls == [torch.Size([16, 10])] * 3
    saved = load_pruned(tmp_path / "p.pt")
    assert saved["sparse_layers"] == ["features.3"] and saved["meta"]["finetune"] == "distill"
    assert holds_2to4(saved["state_dict"]["features.3.weight"].numpy(), axis=1)
    assert run.as_dict()["finetune"]["steps"] == 3 and "wrote" in run.text()


def test_run_sparsity_outcomes(mnist_onnx, pruned_onnx):
    ok = run_sparsity("report", pruned_onnx, expect_all=True)
    assert not ok.failed and ok.data["summary"] == {"weighted": 4, "eligible": 2, "sparse_2to4": 2}
    dense = run_sparsity("report", mnist_onnx, expect=["*"])
    assert dense.failed and "does not hold" in dense.data["error"] and dense.text.endswith(dense.data["error"])
    with pytest.raises(UsageError, match=r"--expect-all belong\(s\) to `sparsity report`"):
        run_sparsity("prune-onnx", mnist_onnx, expect_all=True)
