"""TensorRT engine build: a version-aware plan (pure Python), the builder, the sidecar and the build report.

Nothing here imports tensorrt at import time; ``build_engine`` imports it at first use.
"""

from __future__ import annotations

from .._lazy import lazy_names
from .options import BuildOptions, InputRange, parse_profiles, parse_shape, parse_size
from .plan import BuildPlan, make_plan
from .sidecar import check_compatible, read_sidecar
from .versions import TrtVersion, parse_version

__all__ = ["BuildOptions", "InputRange", "BuildPlan", "make_plan", "plan_build", "build_engine", "read_sidecar",
           "check_compatible", "parse_profiles", "parse_shape", "parse_size", "TrtVersion", "parse_version"]


__getattr__, __dir__ = lazy_names(__name__, {"build_engine": "jetsonkit.engine.engine",
                                             "plan_build": "jetsonkit.engine.engine"}, globals())
