#!/usr/bin/env bash
# One prepared GPU check for a machine with an NVIDIA GPU (written for: H200, CUDA 13, torch + cupy + nvcc present;
# no pycuda, no TensorRT, no network). Runs every area's `pytest -m gpu` tests, compute-sanitizer on the
# pre-processing kernels (if installed) and the GPU benchmarks; writes everything to $OUT.
#
#   OUT=/some/dir scripts/gpu_check.sh        # default OUT: ./gpu_check_out
#   PYTHON=/path/python scripts/gpu_check.sh  # default: ./.venv/bin/python if it has pytest, else python3
#   GPU_CHECK_BUDGET_S=480                    # rough total time budget; each step has its own timeout
#
# Optional offline installs: wheels or sdists in shared/wheels/ (e.g. pytest, pycuda) are installed with
# `pip install --no-index --find-links shared/wheels` before the checks; nothing is downloaded.
# Exit status: 0 when every step that ran passed, 1 otherwise; $OUT/summary.txt says which step failed.
set -u
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu_check_out}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
FAILED=0
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export JETSONKIT_CACHE_DIR="$OUT/cache"      # compiled kernels land here (and come back with the logs)
export PYTHONDONTWRITEBYTECODE=1
export PATH="$PATH:/usr/local/cuda/bin"

pick_python() {
  for py in "${PYTHON:-}" "$REPO/.venv/bin/python" python3 python; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    "$py" -c "import numpy" >/dev/null 2>&1 && { echo "$py"; return; }
  done
  echo python3
}
PY=$(pick_python)

BUDGET=${GPU_CHECK_BUDGET_S:-480}
step() {  # step NAME TIMEOUT_S CMD...: run, log to $OUT/NAME.log, record rc; capped by what is left of BUDGET
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET - SECONDS))
  if [ $left -lt 20 ]; then
    echo "== $name: SKIPPED, time budget spent (GPU_CHECK_BUDGET_S=$BUDGET)" | tee -a "$SUMMARY"
    FAILED=1
    return 0
  fi
  [ $left -lt "$limit" ] && limit=$left
  local t0=$SECONDS
  echo "== $name: $*" | tee -a "$SUMMARY"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "   rc=$rc ($((SECONDS - t0)) s) -> $name.log" | tee -a "$SUMMARY"
  [ $rc -ne 0 ] && FAILED=1
  tail -n 3 "$OUT/$name.log" | sed 's/^/   | /' >>"$SUMMARY"
  return 0
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -a)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) x $(nproc)"
  echo "python: $PY ($("$PY" --version 2>&1))"
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv 2>&1 || echo "nvidia-smi: not found"
  nvcc --version 2>&1 | tail -n 2 || echo "nvcc: not found"
  "$PY" - <<'EOF' 2>&1
import importlib
for name in ("numpy", "pytest", "torch", "cupy", "pycuda", "tensorrt", "onnx", "onnxruntime", "cv2"):
    try:
        mod = importlib.import_module(name)
        extra = ""
        if name == "torch":
            extra = f" cuda={mod.cuda.is_available()}"
        print(f"{name}: {getattr(mod, '__version__', '?')}{extra}")
    except Exception as exc:  # noqa: BLE001 - a report, not a check
        print(f"{name}: missing ({type(exc).__name__}: {str(exc)[:80]})")
EOF
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >>"$SUMMARY"

if [ -d "$REPO/shared/wheels" ]; then
  step offline_installs 120 "$PY" -m pip install --no-index --find-links "$REPO/shared/wheels" --no-build-isolation \
    "$REPO"/shared/wheels/*
fi

if "$PY" -c "import pytest" >/dev/null 2>&1; then
  # 1. every area's GPU tests (tensorrt ones are listed as skipped with their reason)
  step pytest_gpu 240 "$PY" -m pytest tests -m "gpu or tensorrt" -ra -v \
    --continue-on-collection-errors --junitxml="$OUT/pytest_gpu.xml"
  # 2. the pre-processing kernels under compute-sanitizer memcheck (out-of-bounds reads / writes)
  SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  if [ -n "$SAN" ]; then
    step sanitizer_kernels 150 "$SAN" --tool memcheck --error-exitcode 9 --target-processes all \
      "$PY" -m pytest tests/kernels/test_gpu.py -m gpu -q -k "run_into or uint8_paths"
  else
    echo "== sanitizer_kernels: skipped (compute-sanitizer not found)" | tee -a "$SUMMARY"
  fi
else
  echo "== pytest: MISSING for $PY -> gpu tests not run (put a pytest wheel in shared/wheels/)" | tee -a "$SUMMARY"
  FAILED=1
fi

# 3. GPU benchmarks: every scripts/bench/*.py that touches CUDA, full run for preprocess, --quick for the others
for bench in scripts/bench/*.py; do
  [ -e "$bench" ] || continue
  name=$(basename "$bench" .py)
  grep -qiE "cuda|gpu|tensorrt" "$bench" || continue
  if [ "$name" = preprocess ]; then
    step "bench_$name" 120 "$PY" "$bench" --json "$OUT/bench_$name.json"
  else
    step "bench_$name" 90 "$PY" "$bench" --quick
  fi
done

echo "== done: $([ $FAILED -eq 0 ] && echo all steps passed || echo SOME STEPS FAILED)" | tee -a "$SUMMARY"
exit $FAILED
