"""``import jetsonkit``, ``jetsonkit --help`` and ``jetsonkit doctor`` in a venv that has numpy and nothing else.

The venv is made with ``python -m venv --without-pip``; numpy is made visible through a ``.pth`` file pointing at a
folder that holds only this interpreter's numpy (no network), and jetsonkit's source through PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def numpy_only_python(tmp_path_factory):
    root = tmp_path_factory.mktemp("numpy_only")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    only = root / "site"
    only.mkdir()
    numpy_dir = Path(numpy.__file__).parent
    for item in (numpy_dir, numpy_dir.parent / "numpy.libs"):
        if item.exists():
            (only / item.name).symlink_to(item)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "numpy_only.pth").write_text(str(only) + "\n")
    return python


def _run(python, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([str(python), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


def test_the_venv_really_lacks_the_heavy_packages(numpy_only_python):
    probe = "import importlib.util as u; print([m for m in ('torch','onnx','onnxruntime') if u.find_spec(m)])"
    assert _run(numpy_only_python, "-c", probe).stdout.strip() == "[]"
    assert _run(numpy_only_python, "-c", "import numpy; print(numpy.__version__)").returncode == 0


def test_import_help_and_doctor_with_numpy_only(numpy_only_python):
    assert _run(numpy_only_python, "-c", "import jetsonkit; print(jetsonkit.__version__)").returncode == 0
    helped = _run(numpy_only_python, "-m", "jetsonkit", "--help")
    assert helped.returncode == 0 and "export" in helped.stdout and "doctor" in helped.stdout
    doctor = _run(numpy_only_python, "-m", "jetsonkit", "doctor")
    assert doctor.returncode == 0, doctor.stderr
    assert "torch" in doctor.stdout and "not installed: pip install 'jetsonkit[export]'" in doctor.stdout


def test_missing_torch_fails_where_needed_with_install_line(numpy_only_python, tmp_path):
    done = _run(numpy_only_python, "-m", "jetsonkit", "export", "jetsonkit.examples.mnist:build_model",
                "--input", "input:1x1x28x28", "-o", str(tmp_path / "m.onnx"))
    assert done.returncode == 2
    assert "torch is not installed" in done.stderr and "pip install 'jetsonkit[export]'" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
