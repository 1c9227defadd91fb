"""The quantize stage's one contract: QuantizeSettings gives `quantize`'s flags, the recipe's stages.quantize
section, the defaults and the checks; run_quantize is the one call the CLI and compress make."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from jetsonkit.cli import build_parser, main
from jetsonkit.quantize.stage import QuantizeSettings, run_quantize
from jetsonkit.settings import from_args

pytest.importorskip("yaml")

from jetsonkit.errors import ConfigError  # noqa: E402
from jetsonkit.pipeline import load_recipe  # noqa: E402
from jetsonkit.pipeline.recipe import QuantizeConfig  # noqa: E402

from ..pipeline.conftest import SMALL_RECIPE, write_recipe  # noqa: E402

SECTION = 'quantize: {auto_budget: 0.5, data: "mnist:val:300"}'


def _settings(config) -> QuantizeSettings:
    return QuantizeSettings(**{f.name: getattr(config, f.name) for f in fields(QuantizeSettings)})


def test_recipe_section_and_cli_flags_have_the_same_defaults(tmp_path):
    from_cli = from_args(QuantizeSettings, build_parser().parse_args(["quantize", "m.onnx"]))
    recipe = load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace(SECTION, "quantize: {}")))
    assert from_cli == QuantizeSettings() == _settings(recipe.stages.quantize) == _settings(QuantizeConfig())
    assert issubclass(QuantizeConfig, QuantizeSettings) and from_cli.weights == "int8"
    args = build_parser().parse_args(["quantize", "m.onnx", "--auto-budget", "0.5", "--mode", "one_at_a_time",
                                      "--weights", "qdq"])
    text = SMALL_RECIPE.replace(SECTION, 'quantize: {auto_budget: 0.5, data: "mnist:val:300", mode: one_at_a_time, '
                                         'weights: qdq}')
    assert from_args(QuantizeSettings, args) == _settings(load_recipe(write_recipe(tmp_path, text)).stages.quantize)


@pytest.mark.parametrize("flags, message", [
    (["--mode", "one_at_a_time"], "--mode is the sensitivity search's: it needs auto_budget"),
    (["--plan", "p.yaml", "--auto-budget", "0.3"], "--auto-budget finds the plan: give plan or auto_budget"),
    (["--auto-budget", "-1"], "--auto-budget must be >= 0, got -1.0"),
    (["--fp16", "--weights", "qdq"], "--fp16 writes a float graph"),
])
def test_a_bad_value_names_the_flag(flags, message, capsys, tmp_path, mnist_onnx):
    out = tmp_path / "q.onnx"
    assert main(["quantize", str(mnist_onnx), "--calib", "c.json", "-o", str(out)] + flags) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("section, key, message", [
    ("quantize: {mode: one_at_a_time}", "mode", "mode is the sensitivity search's: it needs auto_budget"),
    ('quantize: {auto_budget: 0.5, data: "mnist:val:300", plan: p.yaml}', "auto_budget",
     "auto_budget finds the plan"),
    ("quantize: {weights: int4}", "weights", "'int4' is not one of int8, qdq"),
])
def test_a_bad_value_names_the_recipe_key_and_line(section, key, message, tmp_path):
    text = SMALL_RECIPE.replace(SECTION, section)
    path = write_recipe(tmp_path, text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if section in l)
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    assert f"{path}:{line}: key 'stages.quantize.{key}': {message}" in str(exc.value)


def test_cli_only_settings_are_not_recipe_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'stages.quantize.fp16': unknown key"):
        load_recipe(write_recipe(tmp_path, SMALL_RECIPE.replace(SECTION, "quantize: {fp16: true}")))


def test_run_quantize_writes_what_the_cli_writes(mnist_onnx, tmp_path, capsys):
    import json

    import onnx

    from jetsonkit.calibrate import calibrate

    table = tmp_path / "calib.json"
    calibrate(mnist_onnx, "mnist:train:64", output=table)
    result = run_quantize(mnist_onnx, QuantizeSettings(), calib=table, output=tmp_path / "lib.onnx", explain=True)
    assert main(["quantize", str(mnist_onnx), "--calib", str(table), "-o", str(tmp_path / "cli.onnx"),
                 "--explain", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    graphs = [onnx.load(str(tmp_path / f"{n}.onnx")).graph for n in ("lib", "cli")]
    assert [n.op_type for n in graphs[0].node] == [n.op_type for n in graphs[1].node]
    mine = result.as_dict()
    assert mine["activation_sites"] == cli["activation_sites"] > 0 and mine["layers"] == cli["layers"]
    assert all(d["precision"] == "int8" for d in result.layers.values() if d["op"] in ("Conv", "Gemm"))
    assert result.text().splitlines()[-1].startswith(f"wrote {tmp_path / 'lib.onnx'}: ")


def test_the_library_names_the_field(mnist_onnx, tmp_path):
    from jetsonkit.settings import SettingError

    with pytest.raises(SettingError, match="'both' is not one of all_but_one, one_at_a_time") as exc:
        run_quantize(mnist_onnx, QuantizeSettings(auto_budget=0.3, mode="both"), calib="c.json",
                     output=tmp_path / "q.onnx", data="mnist:val:10")
    assert exc.value.key == "mode" and not (tmp_path / "q.onnx").exists()


def test_the_search_writes_what_its_text_says(sensitive_onnx, sensitive_table, tmp_path):
    calib = tmp_path / "calib.json"
    sensitive_table.save(calib)
    for table in (True, False):
        out = tmp_path / f"s{table}.qdq.onnx"
        result = run_quantize(sensitive_onnx, QuantizeSettings(auto_budget=0.3), calib=calib, output=out,
                              data="mnist:test:1000", plan_table=table)
        line = next(li for li in result.text().splitlines() if li.startswith("wrote plan"))
        assert Path(f"{out}.plan.yaml").is_file() and Path(f"{out}.plan.yaml.txt").is_file() == table
        assert line == f"wrote plan {out}.plan.yaml" + (f" and table {out}.plan.yaml.txt" if table else "")
