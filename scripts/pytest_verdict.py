#!/usr/bin/env python3
"""Verdict of a pytest JUnit XML for device self-tests: on a Jetson / GPU machine, "every test skipped" means the
stack under test (TensorRT, pycuda, the GPU) was not found, which is a failure, not a pass.

Usage: scripts/pytest_verdict.py RESULT.xml [--min-passed N]   -> prints one line, exit 1 unless >= N passed
(default 1) and none failed or errored.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET


def counts(path: str) -> dict[str, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("xml")
    ap.add_argument("--min-passed", type=int, default=1)
    args = ap.parse_args(argv)
    c = counts(args.xml)
    ok = c["failures"] == 0 and c["errors"] == 0 and c["passed"] >= args.min_passed
    why = "" if ok else (" (failures)" if c["failures"] or c["errors"] else
                         " (nothing passed: on a device, all-skipped is a failure)")
    print(f"{'PASS' if ok else 'FAIL'}: {c['passed']} passed, {c['skipped']} skipped, {c['failures']} failed, "
          f"{c['errors']} errors{why}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
