"""Packaging beyond pyproject.toml: the repository's kernels/ folder installs as ``jetsonkit._kernels``.

The CUDA sources stay in kernels/ (CI compile-checks them there), but they ship inside the jetsonkit package: a
top-level ``kernels`` package would collide with the PyPI project of that name. setuptools cannot add a
``package-dir`` entry to ``packages.find`` in pyproject.toml, hence this file; everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import find_packages, setup

packages = find_packages(include=["jetsonkit", "jetsonkit.*", "calibrators", "calibrators.*"])
package_dir = {}
if (Path(__file__).resolve().parent / "kernels").is_dir():  # an image without kernels/ (the Pi's) installs without them
    packages.append("jetsonkit._kernels")
    package_dir["jetsonkit._kernels"] = "kernels"

setup(packages=packages, package_dir=package_dir)
