"""Input specs and dynamic axes from the command line (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import InputSpecError
from jetsonkit.specs import InputSpec, parse_dynamic, parse_input_spec


def test_parse_full_and_default_dtype():
    assert parse_input_spec("images:1x3x224x224:float32") == InputSpec("images", (1, 3, 224, 224), "float32")
    assert parse_input_spec("tokens:2X16:int64") == InputSpec("tokens", (2, 16), "int64")
    assert parse_input_spec("x:1x4") == InputSpec("x", (1, 4), "float32")
    assert parse_input_spec("x:8:fp16").dtype == "float16"
    assert str(parse_input_spec("images:1x3x8x8")) == "images:1x3x8x8:float32"


@pytest.mark.parametrize("text, fragment", [
    ("images", "does not parse"),
    ("images:1x3:float32:extra", "does not parse"),
    ("images:1xAx224", "must be positive integers"),
    ("images:1x0x3", "must be positive integers"),
    ("images:1x3:complex64", "unknown dtype 'complex64'"),
    ("9lives:1x3", "not a valid input name"),
    (":1x3", "does not parse"),
])
def test_bad_specs_say_what_and_how(text, fragment):
    with pytest.raises(InputSpecError) as info:
        parse_input_spec(text)
    message = str(info.value)
    assert fragment in message and repr(text) in message and "\n" not in message
    assert info.value.exit_code == 2


def test_example_arrays_have_shape_and_dtype():
    spec = parse_input_spec("ids:2x5:int64")
    a = spec.example()
    assert a.shape == (2, 5) and a.dtype == np.int64 and a.min() >= 0
    f = parse_input_spec("x:3x4").example(seed=1)
    assert f.dtype == np.float32 and f.std() > 0.3
    assert not np.array_equal(f, parse_input_spec("x:3x4").example(seed=2))


def test_dynamic_label_covers_all_inputs_and_outputs():
    specs = [parse_input_spec("a:1x3"), parse_input_spec("b:1x5")]
    assert parse_dynamic(["batch"], specs, ["out"]) == {"a": {0: "batch"}, "b": {0: "batch"}, "out": {0: "batch"}}


def test_dynamic_named_axes():
    specs = [parse_input_spec("images:1x3x64x64")]
    axes = parse_dynamic(["images:2=height", "images:-1"], specs, [])
    assert axes == {"images": {2: "height", 3: "images_3"}}


@pytest.mark.parametrize("item, fragment", [
    ("other:0", "not among the inputs (images)"),
    ("images:x", "is not an integer"),
    ("images:4", "rank 4), no axis 4"),
    ("bad label!", "does not parse"),
])
def test_bad_dynamic_axes(item, fragment):
    with pytest.raises(InputSpecError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_dynamic([item], [parse_input_spec("images:1x3x64x64")], [])
