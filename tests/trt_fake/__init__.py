"""Test support: a strict fake ``tensorrt`` generated from the real bindings' dump, and a fake ``pycuda.driver``.

It proves that our calls are ones the real Python API of each version accepts and that we follow the call order
TensorRT needs (see world.py) — never what TensorRT computes or how fast. Never shipped, never imported by jetsonkit.
"""

from __future__ import annotations

import sys
import types

from .strict import DUMPS, FakeTrt, FakeTrtError, load_dump
from .world import World, make_pycuda

__all__ = ["DUMPS", "FakeTrt", "FakeTrtError", "World", "install", "load_dump"]


def install(monkeypatch, dump: str, **world_options) -> tuple[FakeTrt, World]:
    """Put the fake ``tensorrt`` (dump ``8.6`` / ``10.3`` / ``10.16`` / ``11.4``) and ``pycuda.driver`` in sys.modules."""
    world = World(**world_options)
    trt = FakeTrt(dump, world)
    drv = make_pycuda(world)
    pkg = types.ModuleType("pycuda")
    pkg.driver = drv
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pkg)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    return trt, world
