"""TensorRT engine build: the stage's settings (:class:`BuildSettings`) and its one call (:func:`run_build`), the
version-aware build spec (pure Python), the builder, the sidecar and the build report.

Nothing here imports tensorrt at import time; ``build_engine`` imports it at first use.
"""

from __future__ import annotations

from .._lazy import lazy_names
from .options import BuildSettings, InputRange, parse_profiles, parse_shape, parse_size
from .spec import BuildSpec, make_build_spec
from .sidecar import check_compatible, read_sidecar
from .versions import TrtVersion, parse_version

__all__ = ["run_build", "BuildSettings", "InputRange", "BuildSpec", "make_build_spec", "build_spec_for", "build_engine",
           "read_sidecar", "check_compatible", "parse_profiles", "parse_shape", "parse_size", "TrtVersion",
           "parse_version"]

__getattr__, __dir__ = lazy_names(__name__, {name: "jetsonkit.engine.engine"
                                             for name in ("run_build", "build_engine", "build_spec_for")}, globals())
