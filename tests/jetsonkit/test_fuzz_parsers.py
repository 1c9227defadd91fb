"""Property-based tests of every parser of user files: calibration table, TensorRT cache, recipe YAML, precision
plan, engine sidecar, TFLite metadata, data specs.

Properties: a parser either returns or raises one of jetsonkit's (or calibrators') own errors (the CLI turns those
into one line and exit 1/2/4, never exit 3 or a traceback); nothing is written beside the input; a writer's output
reads back to what was written. A fixed small example budget runs by default; ``-m slow`` runs a larger one.
"""

from __future__ import annotations

import json
import math
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import calibrators  # noqa: E402
from jetsonkit.errors import JetsonkitError  # noqa: E402

BUDGETS = [pytest.param(30, id="quick"), pytest.param(600, id="large", marks=pytest.mark.slow)]
OWN_ERRORS = (JetsonkitError, calibrators.CalibrationError)


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _only_own_errors(fn, *args):
    """Call ``fn``; only jetsonkit's / calibrators' own errors may escape (their messages are one line)."""
    try:
        return fn(*args)
    except OWN_ERRORS as exc:
        assert str(exc).strip(), "an error without a message"
        return exc


def _nothing_else_written(folder, names):
    assert sorted(os.listdir(folder)) == sorted(names)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=4), max_leaves=12)
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), min_size=1, max_size=20)
amaxes = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def _table_json(tensors: dict) -> dict:
    return {"format": "jetsonkit-calibration", "format_version": 1, "method": "entropy", "samples": 10,
            "tensors": {k: {"amax": v, "method": "entropy", "samples": 10, "stats": {}} for k, v in tensors.items()}}


# ---- calibration table -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_calibration_table_parser(tmp_path, examples):
    path = tmp_path / "calib.json"
    valid = _table_json({"a": 1.0})

    @_settings(examples)
    @given(st.one_of(json_values, st.builds(lambda k, v: {**valid, k: v}, st.sampled_from(sorted(valid)), json_values),
                     st.builds(lambda v: {**valid, "tensors": {"t": v}}, json_values),
                     st.builds(lambda k, v: {**valid, "tensors": {"t": {"amax": 1.0, k: v}}},
                               st.sampled_from(["samples", "stats", "method", "amax"]), json_values)))
    def check(obj):
        path.write_text(json.dumps(obj))
        _only_own_errors(calibrators.CalibrationTable.load, path)
        _nothing_else_written(tmp_path, ["calib.json"])

    check()


@pytest.mark.parametrize("examples", BUDGETS)
def test_calibration_table_round_trip(tmp_path, examples):
    path = tmp_path / "calib.json"

    @_settings(examples)
    @given(st.dictionaries(names, amaxes, min_size=1, max_size=6))
    def check(ranges):
        table = calibrators.CalibrationTable({k: calibrators.TensorRange(v, "minmax", 3) for k, v in ranges.items()},
                                             "minmax", "ab" * 32, 3)
        table.save(path)
        assert calibrators.CalibrationTable.load(path).amaxes() == ranges
        _nothing_else_written(tmp_path, ["calib.json"])

    check()


# ---- TensorRT cache --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_trt_cache_parser(tmp_path, examples):
    path = tmp_path / "c.cache"
    head = "TRT-100300-EntropyCalibration2\n"

    @_settings(examples)
    @given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                     st.text(max_size=120).map(lambda t: (head + t).encode("utf-8", "surrogatepass"))))
    def check(data):
        path.write_bytes(data)
        _only_own_errors(calibrators.read_trt_cache, path)
        _nothing_else_written(tmp_path, ["c.cache"])

    check()


@pytest.mark.parametrize("examples", BUDGETS)
def test_trt_cache_round_trip(tmp_path, examples):
    path = tmp_path / "c.cache"
    cache_names = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=16)

    @_settings(examples)
    @given(st.dictionaries(cache_names, amaxes, min_size=1, max_size=6),
           st.sampled_from(["8.6.1", "10.3.0", "10.0"]))
    def check(ranges, version):
        try:
            calibrators.write_trt_cache(path, ranges, version)
        except calibrators.CalibrationError:
            return  # a name the format cannot hold is refused, never written
        back = calibrators.read_trt_cache(path)["amax"]
        assert set(back) == set(ranges)
        for k, v in ranges.items():  # scale = amax / 127 stored as float32
            assert math.isclose(back[k], v, rel_tol=2e-7, abs_tol=1e-30)
        _nothing_else_written(tmp_path, ["c.cache"])

    check()


# ---- recipe YAML -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_recipe_parser(tmp_path, examples):
    pytest.importorskip("yaml")
    from jetsonkit.pipeline import load_recipe

    from .pipeline.conftest import SMALL_RECIPE

    lines = SMALL_RECIPE.splitlines()
    path = tmp_path / "recipe.yaml"
    yaml_junk = st.lists(st.sampled_from(list("ab:-[]{}&*!|>'\"#, \n0.9") + ["  ", "\t", "&a", "*a", "<<"]),
                         max_size=30).map("".join)

    @_settings(examples)
    @given(st.one_of(
        yaml_junk,
        st.builds(lambda i, junk: "\n".join(lines[:i] + [junk] + lines[i + 1:]), st.integers(0, len(lines) - 1),
                  yaml_junk),
        st.builds(lambda i, j: "\n".join(lines[:i] + [lines[j]] + lines[i:]), st.integers(0, len(lines) - 1),
                  st.integers(0, len(lines) - 1)),
        st.builds(lambda i, v: "\n".join(lines[:i] + [lines[i].split(":")[0] + ": " + v] + lines[i + 1:]),
                  st.integers(0, len(lines) - 1), st.sampled_from(["-1", ".nan", "null", "[]", "{}", "&a [*a]",
                                                                   "1e999", "'x'", "0", "true", "*nope"]))))
    def check(text):
        path.write_text(text)
        _only_own_errors(load_recipe, path)
        _nothing_else_written(tmp_path, ["recipe.yaml"])

    check()


# ---- precision plan --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_precision_plan_parser_and_round_trip(tmp_path, examples):
    pytest.importorskip("yaml")
    from jetsonkit.quantize.plan import PrecisionPlan, Rule

    path = tmp_path / "plan.json"
    rule = st.fixed_dictionaries({}, optional={"match": json_values, "regex": json_values, "op": json_values,
                                               "precision": st.sampled_from(["int8", "fp16", "fp32", "int4"]) |
                                               json_values, "note": json_values})

    @_settings(examples)
    @given(st.one_of(json_values, st.fixed_dictionaries({}, optional={"default": json_values,
                                                                      "rules": st.lists(rule, max_size=3) |
                                                                      json_values})))
    def parse(obj):
        path.write_text(json.dumps(obj))
        _only_own_errors(PrecisionPlan.load, path)
        _nothing_else_written(tmp_path, ["plan.json"])

    parse()
    out = tmp_path / "written.yaml"
    path.unlink()
    safe = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=12)

    @_settings(examples)
    @given(st.lists(st.tuples(st.sampled_from(["match", "op"]), safe, st.sampled_from(["int8", "fp16", "fp32"])),
                    max_size=4), st.sampled_from(["int8", "fp16"]))
    def round_trip(rules, default):
        plan = PrecisionPlan([Rule(**{kind: value, "precision": p}) for kind, value, p in rules], default)
        plan.save(out)
        back = PrecisionPlan.load(out)
        assert back.default == default
        assert [(r.selector(), r.precision) for r in back.rules] == [(r.selector(), r.precision) for r in plan.rules]
        _nothing_else_written(tmp_path, ["written.yaml"])

    round_trip()


# ---- engine sidecar --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_engine_sidecar_parser_and_round_trip(tmp_path, examples):
    from jetsonkit._io import strict_json
    from jetsonkit.engine.sidecar import FORMAT, read_sidecar, sidecar_path, write_sidecar

    engine = tmp_path / "m.engine"
    side = sidecar_path(engine)
    base = {"format": FORMAT, "tensorrt_version": "10.3.0", "gpu": {"name": "Orin"}, "build_spec": {}}

    @_settings(examples)
    @given(st.one_of(st.binary(max_size=80), json_values.map(lambda v: json.dumps(v).encode()),
                     st.builds(lambda k, v: json.dumps({**base, k: v}).encode(), st.sampled_from(sorted(base)),
                               json_values)))
    def parse(data):
        side.write_bytes(data)
        _only_own_errors(read_sidecar, engine)
        _nothing_else_written(tmp_path, [side.name])

    parse()

    @_settings(examples)
    @given(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
    def round_trip(extra):
        record = {**extra, **base}
        write_sidecar(engine, record)
        assert read_sidecar(engine) == json.loads(json.dumps(strict_json(record)))  # NaN is written as null
        _nothing_else_written(tmp_path, [side.name])

    round_trip()


# ---- TFLite metadata -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_tflite_metadata_parser(tmp_path, examples):
    pytest.importorskip("ai_edge_litert")
    from jetsonkit.convert import read_metadata
    from support.tflite_writer import int8_dense_tflite
    import numpy as np

    good = tmp_path / "good.tflite"
    int8_dense_tflite(np.ones((2, 3), np.float32), np.zeros(2, np.float32), good, in_quant=(0.1, 0),
                      out_quant=(0.1, 0))
    valid = good.read_bytes()
    good.unlink()
    path = tmp_path / "m.tflite"

    @_settings(examples)
    @given(st.one_of(st.binary(max_size=120),
                     st.builds(lambda i, b: valid[:i] + b + valid[i + len(b):], st.integers(0, len(valid)),
                               st.binary(min_size=1, max_size=8)),
                     st.integers(0, len(valid)).map(lambda i: valid[:i])))
    def check(data):
        path.write_bytes(data)
        _only_own_errors(read_metadata, path)
        _nothing_else_written(tmp_path, ["m.tflite"])

    check()


# ---- data specs ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("examples", BUDGETS)
def test_data_spec_parsers(tmp_path, examples):
    import numpy as np

    from jetsonkit.data import DataSpec

    def load_data(spec):
        return DataSpec.parse(spec).load_xy()

    path = tmp_path / "d.npz"
    arrays = st.one_of(st.just(np.zeros((0, 2), np.float32)), st.just(np.full((2, 3), np.nan, np.float32)),
                       st.just(np.array(["a", "b"])), st.just(np.ones((3, 1, 4, 4), np.float64)),
                       st.just(np.arange(3)), st.just(np.ones((2, 2), np.complex64)), st.just(np.array(1.5)))
    specs = st.lists(st.sampled_from(list("mnist:tesrainv0123-") + ["mnist:", "::"]), max_size=8).map("".join)

    @_settings(examples)
    @given(specs, st.dictionaries(st.sampled_from(["x", "y", "z"]), arrays, max_size=3), st.booleans())
    def check(spec, contents, use_file):
        if use_file:
            np.savez(path, **contents)
            spec = str(path)
        _only_own_errors(load_data, spec)
        _nothing_else_written(tmp_path, ["d.npz"] if use_file or path.exists() else [])

    check()
