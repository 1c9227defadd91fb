"""The export stage's contract: ExportSettings (the CLI flags are its fields, one set of defaults and checks),
run_export, and the model specs a new user writes (a file importing its sibling, a package in the current folder)."""

from __future__ import annotations

import os
import sys

import pytest

from jetsonkit.cli import build_parser, main
from jetsonkit.export.stage import ExportSettings, run_export
from jetsonkit.settings import SettingError, check, from_args

ARCH = """\
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""


def _user_files(folder, arch: str):
    (folder / f"{arch}.py").write_text(ARCH)
    (folder / "models.py").write_text(f"from {arch} import Net\n\n\ndef factory():\n    return Net()\n")


def test_a_model_file_imports_its_sibling_module(tmp_path, capsys):
    """`python models.py` puts the file's folder on sys.path; so does export (it was "No module named ..."), and
    takes it off again."""
    _user_files(tmp_path, "sibling_arch_a")
    before = list(sys.path)
    assert main(["export", f"{tmp_path / 'models.py'}:factory", "--input", "x:1x4", "-o", str(tmp_path / "m.onnx")]) \
        == 0, capsys.readouterr().err
    assert (tmp_path / "m.onnx").stat().st_size > 0 and sys.path == before


def test_a_package_in_the_current_folder(tmp_path, monkeypatch, capsys):
    """The `jetsonkit` console script has neither '' nor the current folder on sys.path (python -m has)."""
    pkg = tmp_path / "userpkg_b"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    _user_files(pkg, "userpkg_b_arch")
    (pkg / "models.py").write_text("from userpkg_b.userpkg_b_arch import Net\n\n\ndef factory():\n    return Net()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    assert main(["export", "userpkg_b.models:factory", "--input", "x:1x4", "-o", "m.onnx"]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / "m.onnx").exists() and str(tmp_path) not in sys.path


def test_cli_and_library_share_the_defaults_and_checks(capsys):
    args = build_parser().parse_args(["export", "a.b:f", "--input", "x:1x4", "-o", "m.onnx"])
    assert from_args(ExportSettings, args) == ExportSettings()
    assert ExportSettings().parity_options() == {"parity": True, "atol": 1e-4, "rtol": 1e-4, "random_trials": 2}
    args = build_parser().parse_args(["export", "a.b:f", "--input", "x:1x4", "-o", "m.onnx", "--opset", "13",
                                      "--exporter", "dynamo", "--no-fold", "--atol", "0.01"])
    assert from_args(ExportSettings, args) == ExportSettings(opset=13, exporter="dynamo", no_fold=True, atol=0.01)
    with pytest.raises(SettingError) as info:
        check(ExportSettings(opset=3))
    assert info.value.key == "opset" and str(info.value).startswith("opset 3 is outside 7..")
    with pytest.raises(SettingError, match="rtol sets the parity check") as info:
        check(ExportSettings(no_parity=True, rtol=0.1))
    assert info.value.key == "rtol"
    assert main(["export", "a.b:f", "--input", "x:1x4", "-o", "m.onnx", "--exporter", "dynamoo"]) == 2
    assert "invalid choice: 'dynamoo'" in capsys.readouterr().err


def test_run_export_of_a_module(tmp_path):
    import onnx
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    result = run_export(model, tmp_path / "s.onnx", ["x:2x4"], ExportSettings(random_trials=1),
                        output_names=["y"], dynamic=["batch"])
    assert result.parity.ok and len(result.parity.rows) == 2  # the example and one random trial
    graph = onnx.load(str(result.path)).graph
    assert [i.name for i in graph.input] == ["x"] and [o.name for o in graph.output] == ["y"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert result.summary().startswith(str(result.path))
