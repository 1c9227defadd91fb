"""The public surface: every name in ``jetsonkit.__all__`` resolves (lazily)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import jetsonkit


def test_all_names_resolve():
    for name in jetsonkit.__all__:
        assert getattr(jetsonkit, name) is not None, name


def test_export_names_are_the_real_functions():
    from jetsonkit.export import ExportResult, export_onnx

    assert jetsonkit.export_onnx is export_onnx and jetsonkit.ExportResult is ExportResult
    assert importlib.import_module("jetsonkit.specs").InputSpec is jetsonkit.InputSpec


def test_import_is_light():
    code = ("import sys, jetsonkit, jetsonkit.cli, jetsonkit.specs, jetsonkit.doctor\n"
            "jetsonkit.cli.build_parser()\n"
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt', 'pycuda', 'onnx_graphsurgeon') "
            "if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
