"""The TensorRT runner's pure-Python parts: profile choice, buffer planning, I/O description per API version.

The engine stand-ins below only exercise our own plumbing (which API each version branch calls, and how the
answers are turned into metadata); what TensorRT itself does is tested under ``pytest -m tensorrt``.
"""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import InputSpecError, UnsupportedError
from jetsonkit.runtime.trt_plan import (EngineIO, IOTensor, ProfileBounds, aligned, binding_index, max_shape,
                                        output_shape_for, plan_buffers, select_profile, tensor_infos, trt_major)

F32, F16 = np.dtype(np.float32), np.dtype(np.float16)
SMALL = ProfileBounds((1, 3, 224, 224), (1, 3, 224, 224), (4, 3, 224, 224))
LARGE = ProfileBounds((5, 3, 224, 224), (16, 3, 224, 224), (32, 3, 224, 224))
IMAGES = IOTensor("images", True, F16, (-1, 3, 224, 224), (SMALL, LARGE))
LOGITS = IOTensor("logits", False, F32, (-1, 1000))
IO = EngineIO((IMAGES, LOGITS), num_profiles=2)


@pytest.mark.parametrize("version,major", [("8.5.2.2", 8), ("10.3.0.30", 10), ("11.4.0", 11)])
def test_trt_major(version, major):
    assert trt_major(version) == major


def test_select_profile_by_batch():
    assert select_profile(IO, {"images": (1, 3, 224, 224)}) == 0
    assert select_profile(IO, {"images": (4, 3, 224, 224)}) == 0
    assert select_profile(IO, {"images": (5, 3, 224, 224)}) == 1
    assert select_profile(IO, {"images": (32, 3, 224, 224)}, preferred=0) == 1


def test_select_profile_prefers_the_context_profile_when_it_fits():
    both = ProfileBounds((1, 3, 224, 224), (8, 3, 224, 224), (32, 3, 224, 224))
    io = EngineIO((IOTensor("images", True, F16, (-1, 3, 224, 224), (both, both)), LOGITS), num_profiles=2)
    assert select_profile(io, {"images": (2, 3, 224, 224)}, preferred=1) == 1


def test_no_profile_fits_lists_the_ranges():
    with pytest.raises(InputSpecError) as err:
        select_profile(IO, {"images": (33, 3, 224, 224)})
    msg = str(err.value)
    assert "profile 0: images [1, 3, 224, 224]..[4, 3, 224, 224]" in msg and "profile 1" in msg
    with pytest.raises(InputSpecError):
        select_profile(IO, {"images": (2, 3, 256, 256)})


def test_buffers_sized_for_the_largest_profile():
    sizes = plan_buffers(IO)
    assert max_shape(IMAGES) == (32, 3, 224, 224)
    assert sizes["images"] == aligned(32 * 3 * 224 * 224 * 2)
    assert sizes["logits"] == aligned(32 * 1000 * 4)
    assert all(v % 256 == 0 for v in sizes.values())


def test_static_engine_buffers():
    io = EngineIO((IOTensor("x", True, F32, (1, 1, 28, 28)), IOTensor("y", False, F32, (1, 10))))
    assert io.is_static and plan_buffers(io) == {"x": aligned(784 * 4), "y": aligned(40)}
    assert output_shape_for(io.outputs[0], {"x": (1, 1, 28, 28)}, []) == (1, 10)


def test_output_shapes_follow_the_batch():
    assert output_shape_for(LOGITS, {"images": (7, 3, 224, 224)}, [IMAGES]) == (7, 1000)


def test_data_dependent_output_is_refused():
    io = EngineIO((IMAGES, IOTensor("boxes", False, F32, (-1, -1, 4))), num_profiles=2)
    with pytest.raises(UnsupportedError, match="data-dependent dynamic axis 1"):
        plan_buffers(io)


def test_metadata_carries_profile_union():
    (inp,), (out,) = tensor_infos(IO)
    assert inp.shape == ("?", 3, 224, 224) and inp.dtype == F16
    assert inp.min_shape == (1, 3, 224, 224) and inp.max_shape == (32, 3, 224, 224)
    assert out.shape == ("?", 1000) and out.min_shape is None


def test_binding_index_per_profile():
    assert [binding_index(j, 1, 2) for j in range(2)] == [2, 3]


# ---- read_engine_io on both API branches, with stand-ins that answer like an engine would ----------------------
class _Trt:
    class TensorIOMode:
        INPUT, OUTPUT = "in", "out"

    @staticmethod
    def nptype(dtype):
        return {"HALF": np.float16, "FLOAT": np.float32}[dtype]


HALF, FLOAT = "HALF", "FLOAT"


def test_dtype_numpy_lacks_is_refused_by_tensor_name():
    from jetsonkit.runtime.tensorrt_backend import _numpy_dtype

    assert _numpy_dtype(_Trt, HALF, "x") == np.float16
    with pytest.raises(UnsupportedError, match="'x' has TensorRT type BF16"):
        _numpy_dtype(_Trt, "BF16", "x")


class _Engine10:
    num_optimization_profiles = 2
    num_io_tensors = 2
    _t = {"images": ("in", HALF, (-1, 3, 224, 224)), "logits": ("out", FLOAT, (-1, 1000))}

    def get_tensor_name(self, i):
        return list(self._t)[i]

    def get_tensor_mode(self, name):
        return self._t[name][0]

    def get_tensor_dtype(self, name):
        return self._t[name][1]

    def get_tensor_shape(self, name):
        return self._t[name][2]

    def get_tensor_profile_shape(self, name, k):
        p = (SMALL, LARGE)[k]
        return [p.min, p.opt, p.max]


class _Engine8:
    num_optimization_profiles = 2
    num_bindings = 4  # two profiles x (images, logits)
    _b = [("images", True, HALF, (-1, 3, 224, 224)), ("logits", False, FLOAT, (-1, 1000))]

    def get_binding_name(self, j):
        return self._b[j][0]

    def binding_is_input(self, j):
        return self._b[j][1]

    def get_binding_dtype(self, j):
        return self._b[j][2]

    def get_binding_shape(self, j):
        return self._b[j][3]

    def get_profile_shape(self, k, j):
        p = (SMALL, LARGE)[k]
        return [p.min, p.opt, p.max]


@pytest.mark.parametrize("engine,major", [(_Engine10(), 10), (_Engine8(), 8)], ids=["trt10-tensor-api",
                                                                                      "trt8-binding-api"])
def test_read_engine_io_both_api_versions(engine, major):
    from jetsonkit.runtime.tensorrt_backend import read_engine_io

    assert read_engine_io(_Trt, engine, major) == IO
