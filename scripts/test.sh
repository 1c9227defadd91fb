#!/usr/bin/env bash
# Run the CPU test suite (about 2-5 minutes on 2 cores, slow set included). gpu / tensorrt tests are reported as
# skipped with the reason where the machine lacks them. Extra arguments go to pytest, e.g. `-m "not slow"` for a
# quick run or `-m gpu` on a GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
