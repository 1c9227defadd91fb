#!/usr/bin/env bash
# Run the CPU test suite (gpu / tensorrt tests are skipped with the reason where the machine lacks them).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
