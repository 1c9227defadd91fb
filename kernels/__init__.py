"""CUDA C++ sources for GPU pre-processing (camera frame -> network input).

Shipped as package data so an installed jetsonkit (not only a source checkout) finds them; compiled at run time on
the device by :mod:`jetsonkit.preprocess.compile` (NVRTC, or nvcc) and compile-checked with nvcc in CI.
"""

from pathlib import Path


def source_dir() -> Path:
    """The folder that holds the ``*.cu`` files."""
    return Path(__file__).resolve().parent
