"""Calibration table JSON and the TensorRT calibration cache."""

import json

import numpy as np
import pytest

from calibrators import (CacheFormatError, CalibrationTable, HistogramCollector, TableFormatError, format_trt_cache,
                         parse_trt_cache, read_trt_cache, trt_version_number, write_trt_cache)


@pytest.fixture
def table(rng):
    c = HistogramCollector()
    for b in range(3):
        c.update("input", rng.normal(size=(4, 8)), batch=b)
        c.update("relu_out", np.maximum(rng.normal(size=(4, 8)), 0) * 3, batch=b)
    return CalibrationTable.from_collector(c, "entropy", model_sha256="ab" * 32, producer="test")


def test_table_round_trip(table, tmp_path):
    path = table.save(tmp_path / "calib.json")
    loaded = CalibrationTable.load(path)
    assert loaded.amaxes() == table.amaxes()
    assert loaded.model_sha256 == "ab" * 32 and loaded.method == "entropy" and loaded.samples == 12
    assert loaded.tensors["relu_out"].stats["zero_fraction"] > 0.3
    raw = json.loads(path.read_text())
    assert raw["format_version"] == 1 and raw["tensors"]["input"]["samples"] == 12


def test_table_errors_name_file_and_key(table, tmp_path):
    obj = table.to_json()
    obj["tensors"]["input"]["amax"] = "big"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(obj))
    with pytest.raises(TableFormatError, match=r"bad.json.*tensors.input.amax"):
        CalibrationTable.load(bad)
    bad.write_text("{not json")
    with pytest.raises(TableFormatError, match="line 1"):
        CalibrationTable.load(bad)
    bad.write_text(json.dumps({"format": "other"}))
    with pytest.raises(TableFormatError, match="'format'"):
        CalibrationTable.load(bad)
    with pytest.raises(KeyError, match="'nope' is not in the calibration table"):
        table.amax("nope")


def test_sample_int8_vector_round_trips():
    parsed = parse_trt_cache("TRT-7202-EntropyCalibration2\ndata: 3c008912\n")
    assert parsed["scales"]["data"] == pytest.approx(0.0078452, rel=1e-5)
    assert parsed["amax"]["data"] == pytest.approx(0.9963, rel=1e-4)
    text = format_trt_cache(parsed["amax"], version="8.6.1")
    assert text == "TRT-8601-EntropyCalibration2\ndata: 3c008912\n"


def test_cache_file_round_trip(table, tmp_path):
    path = write_trt_cache(tmp_path / "model.cache", table.amaxes(), version="10.3.0")
    parsed = read_trt_cache(path, expect_version=100300)
    assert parsed["algorithm"] == "EntropyCalibration2"
    for name, amax in table.amaxes().items():
        assert parsed["amax"][name] == pytest.approx(amax, rel=1e-6)


def test_version_numbers():
    assert trt_version_number("8.6.1") == 8601 and trt_version_number("8.5.2") == 8502
    assert trt_version_number("10.3.0") == 100300
    with pytest.raises(ValueError, match="removed in 11.0"):
        trt_version_number("11.4.1")


@pytest.mark.parametrize("text, line, what", [
    ("", 1, "header"),
    ("{\"format\": \"jetsonkit-calibration\"}\n", 1, "header"),
    ("TRT-8601-FancyCalibration\na: 3c008912\n", 1, "unknown calibration algorithm"),
    ("TRT-8601-EntropyCalibration2\na: 3c008912\nb 3c008912\n", 3, "not '<tensor>: <8 hex digits>'"),
    ("TRT-8601-EntropyCalibration2\na: 3c00891\n", 2, "not '<tensor>"),
    ("TRT-8601-EntropyCalibration2\na: 3c008912\na: 3c008912\n", 3, "appears twice"),
    ("TRT-8601-EntropyCalibration2\na: 7fc00000\n", 2, "finite"),
])
def test_reader_rejects_corrupt_cache_with_line(text, line, what):
    with pytest.raises(CacheFormatError, match=what) as info:
        parse_trt_cache(text, "x.cache")
    assert info.value.line == line and f"line {line}" in str(info.value)


def test_reader_rejects_other_version_and_binary(tmp_path):
    with pytest.raises(CacheFormatError, match="TensorRT 8601, expected 100300"):
        parse_trt_cache("TRT-8601-EntropyCalibration2\n", expect_version=100300)
    p = tmp_path / "bin.cache"
    p.write_bytes(b"TRT-8601-EntropyCalibration2\n\xff\xfe: 00\n")
    with pytest.raises(CacheFormatError, match="line 2: not ASCII"):
        read_trt_cache(p)
