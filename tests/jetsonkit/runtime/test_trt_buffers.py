"""The TensorRT runner's pure-Python parts: profile choice, buffer planning, I/O description per API version.

The engine stand-ins below only exercise our own plumbing (which API each version branch calls, and how the
answers are turned into metadata); what TensorRT itself does is tested under ``pytest -m tensorrt``.
"""

from __future__ import annotations

import numpy as np
import pytest

from jetsonkit.errors import InputSpecError, UnsupportedError
from jetsonkit.runtime.trt_buffers import (EngineIO, IOTensor, ProfileBounds, aligned, max_shape, size_buffers,
                                        select_profile, tensor_infos)

F32, F16 = np.dtype(np.float32), np.dtype(np.float16)
SMALL = ProfileBounds((1, 3, 224, 224), (1, 3, 224, 224), (4, 3, 224, 224))
LARGE = ProfileBounds((5, 3, 224, 224), (16, 3, 224, 224), (32, 3, 224, 224))
IMAGES = IOTensor("images", True, F16, (-1, 3, 224, 224), (SMALL, LARGE))
LOGITS = IOTensor("logits", False, F32, (-1, 1000))
IO = EngineIO((IMAGES, LOGITS), num_profiles=2)


@pytest.mark.parametrize("version,output_allocator", [("8.5.2.2", False), ("10.3.0.30", True), ("11.4.0", True)])
def test_runtime_capabilities_come_from_the_one_version_model(version, output_allocator):
    from jetsonkit.engine.versions import parse_version

    assert parse_version(version).has_output_allocator is output_allocator


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
    sizes = size_buffers(IO, {"logits": (32, 1000)})
    assert max_shape(IMAGES) == (32, 3, 224, 224)
    assert sizes["images"] == aligned(32 * 3 * 224 * 224 * 2)
    assert sizes["logits"] == aligned(32 * 1000 * 4)
    assert all(v % 256 == 0 for v in sizes.values())


def test_static_engine_buffers():
    io = EngineIO((IOTensor("x", True, F32, (1, 1, 28, 28)), IOTensor("y", False, F32, (1, 10))))
    assert io.is_static and size_buffers(io, {"y": (1, 10)}) == {"x": aligned(784 * 4), "y": aligned(40)}


def test_data_dependent_output_starts_small():
    io = EngineIO((IMAGES, IOTensor("boxes", False, F32, (-1, -1, 4))), num_profiles=2)
    assert size_buffers(io, {"boxes": None})["boxes"] == 256  # grown by the output allocator when TensorRT asks


def test_metadata_carries_profile_union():
    (inp,), (out,) = tensor_infos(IO)
    assert inp.shape == ("?", 3, 224, 224) and inp.dtype == F16
    assert inp.min_shape == (1, 3, 224, 224) and inp.max_shape == (32, 3, 224, 224)
    assert out.shape == ("?", 1000) and out.min_shape is None


# ---- dtype mapping (read_engine_io itself runs on the strict fake: test_tensorrt_replay.py) ----------------------
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
