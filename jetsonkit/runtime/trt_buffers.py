"""The pure-Python half of the TensorRT backend: I/O description, profile choice, buffer sizes.

Nothing here imports tensorrt or pycuda, so it is tested on any machine. ``tensorrt_backend`` fills
:class:`EngineIO` from the engine (TensorRT >= 10: the name-based tensor API; 8.5: the binding API) and asks this
module which optimization profile a request needs and how big each buffer must be. Buffers are sized once for the
largest shape any profile admits, so they are allocated once and reused for every request (TensorRT developer
guide, "Optimization Profiles": each profile has min / opt / max shapes; a context runs with one profile at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Sequence

import numpy as np

from ..errors import InputSpecError, UnsupportedError
from .tensors import TensorInfo

ALIGNMENT = 256  # bytes; cudaMalloc returns 256-byte aligned memory, keep sub-allocations the same


@dataclass(frozen=True)
class ProfileBounds:
    """min / opt / max shape of one input in one optimization profile."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def admits(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.min) and all(lo <= s <= hi for s, lo, hi in zip(shape, self.min, self.max))


@dataclass(frozen=True)
class IOTensor:
    """One engine I/O tensor: shape with -1 for dynamic axes, numpy dtype, and per-profile bounds (inputs)."""

    name: str
    is_input: bool
    dtype: np.dtype
    shape: tuple[int, ...]
    profiles: tuple[ProfileBounds, ...] = ()

    @property
    def is_dynamic(self) -> bool:
        return any(d < 0 for d in self.shape)


@dataclass(frozen=True)
class EngineIO:
    tensors: tuple[IOTensor, ...]
    num_profiles: int = 1

    @property
    def inputs(self) -> tuple[IOTensor, ...]:
        return tuple(t for t in self.tensors if t.is_input)

    @property
    def outputs(self) -> tuple[IOTensor, ...]:
        return tuple(t for t in self.tensors if not t.is_input)

    @property
    def is_static(self) -> bool:
        return not any(t.is_dynamic for t in self.tensors)


def tensor_infos(io: EngineIO) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Runner metadata: dynamic axes as "?"; inputs carry the union of all profiles' bounds."""
    def info(t: IOTensor) -> TensorInfo:
        shape = tuple(d if d >= 0 else "?" for d in t.shape)
        if not t.is_input or not t.profiles:
            return TensorInfo(t.name, shape, t.dtype)
        low = tuple(min(p.min[i] for p in t.profiles) for i in range(len(t.shape)))
        high = tuple(max(p.max[i] for p in t.profiles) for i in range(len(t.shape)))
        return TensorInfo(t.name, shape, t.dtype, min_shape=low, max_shape=high)

    return [info(t) for t in io.inputs], [info(t) for t in io.outputs]


def select_profile(io: EngineIO, shapes: dict[str, tuple[int, ...]], preferred: int | None = None) -> int:
    """Index of the optimization profile that admits every input shape (``preferred`` first, then in order).

    Raises InputSpecError listing each profile's ranges when none admits the request.
    """
    order = list(range(io.num_profiles))
    if preferred is not None and 0 <= preferred < io.num_profiles:
        order.remove(preferred)
        order.insert(0, preferred)
    for k in order:
        if all(not t.profiles or t.profiles[k].admits(shapes[t.name]) for t in io.inputs):
            return k
    ranges = "; ".join(
        f"profile {k}: " + ", ".join(f"{t.name} {list(t.profiles[k].min)}..{list(t.profiles[k].max)}"
                                     for t in io.inputs if t.profiles)
        for k in range(io.num_profiles))
    got = ", ".join(f"{n} {list(s)}" for n, s in shapes.items())
    raise InputSpecError(f"no optimization profile of the engine admits {got} ({ranges})",
                         hint="rebuild the engine with a profile covering these shapes")


def max_shape(t: IOTensor) -> tuple[int, ...]:
    """The largest shape an input takes over all profiles (its static shape when it has no dynamic axis)."""
    if not t.is_dynamic:
        return t.shape
    if not t.profiles:
        raise UnsupportedError(f"input {t.name!r} has dynamic shape {list(t.shape)} but the engine has no profile")
    return tuple(max(p.max[i] for p in t.profiles) for i in range(len(t.shape)))


def aligned(nbytes: int, alignment: int = ALIGNMENT) -> int:
    return -(-max(nbytes, 1) // alignment) * alignment


def size_buffers(io: EngineIO, output_max: dict[str, tuple[int, ...] | None]) -> dict[str, int]:
    """Bytes to allocate per I/O tensor (aligned), enough for every shape any profile admits.

    ``output_max``: each output's largest shape, read from the engine (``context.get_tensor_shape`` with every
    input at its profile maximum); None for a data-dependent output (NonZero, NMS), whose buffer starts small
    and grows when TensorRT asks the output allocator for more.
    """
    sizes = {t.name: aligned(prod(max_shape(t)) * np.dtype(t.dtype).itemsize) for t in io.inputs}
    for t in io.outputs:
        shape = output_max.get(t.name)
        sizes[t.name] = aligned(prod(shape) * np.dtype(t.dtype).itemsize if shape is not None else 0)
    return sizes
