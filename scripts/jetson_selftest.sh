#!/usr/bin/env bash
# Self-test on a machine with TensorRT: a Jetson (JetPack 5 / 6 / 7) or NVIDIA's TensorRT container, e.g.
#   docker run --gpus all -it -v $PWD:/w -w /w nvcr.io/nvidia/tensorrt:24.08-py3 scripts/jetson_selftest.sh
# Runs the gpu + tensorrt tests and the benchmarks, and writes selftest-report/<host>-<date>.md with what ran.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=selftest-report
mkdir -p "$OUT"
REPORT="$OUT/$(hostname)-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "# jetsonkit self-test, $(date -u)"
  echo
  echo '```'
  uname -a
  [ -f /etc/nv_tegra_release ] && head -1 /etc/nv_tegra_release
  nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: n/a (Jetson: see tegrastats)"
  "$PY" -c 'import tensorrt as t; print("TensorRT", t.__version__)' 2>&1
  "$PY" -c 'import jetsonkit; print("jetsonkit", jetsonkit.__version__)' 2>&1
  echo '```'
} >"$REPORT"
# jetsonkit itself without touching the system TensorRT / torch (JetPack ships them)
"$PY" -m pip install -q --no-deps -e . >/dev/null 2>&1 || echo "pip install -e . failed; testing the source tree" >>"$REPORT"
status=0
for marker in tensorrt gpu; do
  echo -e "\n## pytest -m $marker\n\n\`\`\`" >>"$REPORT"
  "$PY" -m pytest -m "$marker" -q -rs tests --junitxml="$OUT/pytest-$marker.xml" 2>&1 | tail -40 >>"$REPORT" || status=1
  # on a device, "everything skipped" means TensorRT / pycuda / the GPU was not found: a failure
  "$PY" scripts/pytest_verdict.py "$OUT/pytest-$marker.xml" >>"$REPORT" 2>&1 || status=1
  echo '```' >>"$REPORT"
done
for bench in scripts/bench/*.py; do
  [ -f "$bench" ] || continue
  echo -e "\n## $bench --quick\n\n\`\`\`" >>"$REPORT"
  timeout 900 "$PY" "$bench" --quick 2>&1 | tail -40 >>"$REPORT" || status=1
  echo '```' >>"$REPORT"
done
echo "self-test report: $REPORT (exit $status)"
exit $status
