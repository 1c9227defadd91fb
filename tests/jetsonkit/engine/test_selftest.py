"""scripts/pytest_verdict.py, which jetson_selftest.sh uses: all-skipped on a device is a failure (defect 15)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "pytest_verdict.py"


@pytest.mark.parametrize("body, rc, word", [
    ('tests="5" failures="0" errors="0" skipped="5"', 1, "nothing passed"),
    ('tests="5" failures="1" errors="0" skipped="0"', 1, "failures"),
    ('tests="5" failures="0" errors="0" skipped="2"', 0, "3 passed"),
])
def test_verdict(tmp_path, body, rc, word):
    xml = tmp_path / "r.xml"
    xml.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="pytest" {body}></testsuite></testsuites>')
    proc = subprocess.run([sys.executable, str(SCRIPT), str(xml)], capture_output=True, text=True)
    assert proc.returncode == rc and word in proc.stdout


def test_selftest_script_uses_the_verdict():
    text = (SCRIPT.parent / "jetson_selftest.sh").read_text()
    assert "pytest_verdict.py" in text and "--junitxml" in text
