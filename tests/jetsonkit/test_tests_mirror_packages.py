"""The tests mirror the packages: tests/jetsonkit/<name>/ for every subpackage jetsonkit/<name>/ and no other folder.

Top-level modules (``jetsonkit/artifacts.py``, ``calibrate.py``, ...) are tested in ``tests/jetsonkit/test_<module>*.py``
beside the checks that span the whole tree (import graph, packaging, logging, public API, single sources).
Test support that is not a test lives in ``tests/support`` and ``tests/trt_fake``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_each_subpackage_has_its_test_folder_and_each_test_folder_its_subpackage():
    packages = {p.parent.name for p in (REPO / "jetsonkit").glob("*/__init__.py")}
    folders = {p.name for p in (REPO / "tests" / "jetsonkit").iterdir()
               if p.is_dir() and p.name != "__pycache__" and any(p.glob("test_*.py"))}
    assert len(packages) >= 10
    assert sorted(packages - folders) == [], "a subpackage without tests/jetsonkit/<name>/"
    assert sorted(folders - packages) == [], "a test folder named after no subpackage"
