"""The build report parser on TensorRT's documented text shapes (see data/README.md for their sources)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetsonkit.engine.report import datatype_of, make_report, parse_build_log, parse_inspector_json
from jetsonkit.errors import CheckFailed, InputError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def detailed():
    return parse_inspector_json((DATA / "inspector_detailed.json").read_text())


@pytest.fixture(scope="module")
def log():
    return parse_build_log((DATA / "build_log.txt").read_text().splitlines())


@pytest.mark.parametrize("text, want", [("Row major linear FP16 format", "fp16"), ("Half", "fp16"), ("Float", "fp32"),
                                        ("Thirty-two wide channel vectorized row major Int8 format", "int8"),
                                        ("Row major linear FP32", "fp32"), ("UInt8", "uint8"), ("Int32", "int32"),
                                        ("something else", None)])
def test_datatype_spellings(text, want):
    assert datatype_of(text) == want


def test_detailed_layers_precision_tactic_sparse(detailed):
    by_name = {l.name: l for l in detailed}
    assert len(detailed) == 5
    assert by_name["/features/features.0/Conv + /features/features.1/Relu"].precision == "fp16"
    conv2 = by_name["/features/features.3/Conv + /features/features.4/Relu"]
    assert conv2.precision == "int8" and conv2.sparse_kernel
    assert by_name["/classifier/classifier.2/Gemm"].precision == "fp16"  # computes in Half, outputs Float
    assert not by_name["/features/features.0/Conv + /features/features.1/Relu"].sparse_kernel
    assert conv2.parts == ["/features/features.3/Conv", "/features/features.4/Relu"]


def test_names_only_layers_have_no_precision():
    layers = parse_inspector_json((DATA / "inspector_names_only.json").read_text())
    assert [l.precision for l in layers] == [None] * 6
    report = make_report(layers, parse_build_log([]), engine_bytes=10, wanted={"/features/features.0/Conv": "fp32"})
    assert report.ok and any("DETAILED" in n for n in report.notes)


def test_log_sparsity_placement_memory(log):
    assert log.sparse_eligible == ["/features/features.3/Conv + /features/features.4/Relu",
                                   "/classifier/classifier.0/Gemm + /classifier/classifier.1/Relu"]
    assert log.sparse_picked == ["/features/features.3/Conv + /features/features.4/Relu"]
    assert log.gpu_layers == ["/features/features.0/Conv + /features/features.1/Relu", "/Flatten"]
    assert log.dla_layers == ["{ForeignNode[/features/features.3/Conv.../features/features.5/MaxPool]}"]
    assert log.memory_skips == 2 and log.largest_request_mb == 806 and log.largest_available_mb == 166


def test_obeyed_plan_passes(detailed, log):
    wanted = {"/features/features.0/Conv": "fp16", "/features/features.3/Conv": "int8"}
    report = make_report(detailed, log, engine_bytes=2**20, wanted=wanted, sparse_expected=["/features/features.3/Conv"])
    assert report.ok and [c["ok"] for c in report.precision_checks] == [True, True]
    assert report.sparse_picked == ["/features/features.3/Conv + /features/features.4/Relu"]
    assert any("insufficient" in n or "lack of memory" in n for n in report.notes)
    report.raise_on_violation()


def test_ignored_override_is_an_error(detailed, log):
    wanted = {"/classifier/classifier.2/Gemm": "fp32", "/nonexistent/Node": "fp16"}
    report = make_report(detailed, log, engine_bytes=1, wanted=wanted)
    assert not report.ok and report.unverified == ["/nonexistent/Node"]
    with pytest.raises(CheckFailed, match="classifier.2/Gemm wanted fp32.*runs fp16"):
        report.raise_on_violation()
    assert "BAD" in report.to_text()


def test_no_sparse_kernel_is_said(detailed):
    report = make_report(detailed[:1], parse_build_log([]), engine_bytes=1, sparse_expected=["/features/features.0/Conv"])
    assert report.sparse_picked == [] and any("dense kernels" in n for n in report.notes)


@pytest.mark.parametrize("text", ["not json", "{\"Bindings\": []}", "[1, 2]"])
def test_bad_inspector_text(text):
    with pytest.raises(InputError):
        parse_inspector_json(text)


def test_int8_build_names_layers_that_fell_back():
    """Defect 10: an INT8 / best build lists every compute layer that does not run INT8, by precision."""
    from jetsonkit.engine.report import BuildLog, LayerInfo, make_report

    layers = [LayerInfo("conv1", "Convolution", "int8"), LayerInfo("softmax", "SoftMax", "fp16"),
              LayerInfo("fc2", "Gemm", "fp32"), LayerInfo("shuffle", "Shuffle", None)]
    report = make_report(layers, BuildLog(), engine_bytes=10, int8_build=True)
    assert report.fallbacks == [{"layer": "softmax", "precision": "fp16"}, {"layer": "fc2", "precision": "fp32"}]
    assert "not INT8: fp16 1 (softmax); fp32 1 (fc2)" in report.to_text()
    assert make_report(layers, BuildLog(), engine_bytes=10).fallbacks == []
