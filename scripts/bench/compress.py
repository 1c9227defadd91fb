#!/usr/bin/env python
"""compress benchmark: one recipe through `jetsonkit compress` vs the same work as a script of stage commands.

The peer is what a user writes without compress: `jetsonkit export`, `calibrate`, `quantize`, `convert` (fp32,
fp16, int8), `evaluate` for each artifact and one `bench` of all of them, each a separate process, as in a shell
script. Both make the same artifacts of the bundled MNIST CNN (no 2:4 pruning: the peer would need its own
prune + export + calibrate chain) and both evaluate on the same test images. Measured, in one run:
  1. wall time of the peer script, of a cold `compress` (empty output folder) and of a rerun of `compress` on the
     same folder (every stage reused; what an interrupted or repeated CI job pays);
  2. the INT8 top-1 each path reports (they must agree: same calibration method, same data).
Usage: scripts/bench/compress.py [--quick]   (--quick: 1,000 test images, 50 bench iterations)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
JK = [sys.executable, "-m", "jetsonkit"]


def recipe_text(test: str, iterations: int) -> str:
    return textwrap.dedent(f"""\
        name: mnist
        model: {{spec: "jetsonkit.examples.mnist:build_model"}}
        inputs: [{{name: input, shape: [1, 1, 28, 28]}}]
        outputs: [logits]
        calibration: {{data: "mnist:train:1000", method: entropy}}
        evaluation: {{data: "{test}", metric: top1}}
        targets:
          cpu: {{backend: onnxruntime, precision: fp32}}
          cpu-int8: {{backend: onnxruntime, precision: int8}}
          pi-fp32: {{backend: tflite, precision: fp32}}
          pi-fp16: {{backend: tflite, precision: fp16}}
          pi-int8: {{backend: tflite, precision: int8}}
        bench: {{iterations: {iterations}, warmup: 10, threads: 1}}
        """)


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return done.stdout


def peer_script(work: Path, test: str, iterations: int) -> tuple[float, float]:
    """The stage commands one after another; returns (seconds, INT8 Q/DQ top-1)."""
    start = time.perf_counter()
    np_calib = work / "calib.npy"
    run([sys.executable, "-c", "import numpy as np; from jetsonkit.examples import mnist; "
         f"np.save(r'{np_calib}', mnist.load_split('train', limit=1000)[0])"], work)
    run(JK + ["export", "jetsonkit.examples.mnist:build_model", "--input", "input:1x1x28x28", "--dynamic", "batch",
              "--output-name", "logits", "-o", "mnist.onnx"], work)
    run(JK + ["calibrate", "mnist.onnx", "--data", "mnist:train:1000", "--method", "entropy", "-o", "calib.json"],
        work)
    run(JK + ["quantize", "mnist.onnx", "--calib", "calib.json", "-o", "mnist.qdq.onnx"], work)
    for p in ("fp32", "fp16", "int8"):
        extra = ["--data", str(np_calib), "--calib", "calib.json"] if p == "int8" else []
        run(JK + ["convert", "mnist.onnx", "--precision", p, "-o", f"mnist.{p}.tflite", *extra], work)
    top1 = None
    for model in ("mnist.onnx", "mnist.qdq.onnx"):
        data = json.loads(run(JK + ["--json", "evaluate", model, "--data", test], work))
        if model == "mnist.qdq.onnx":
            top1 = data.get("top1")
    # the .tflite files take NHWC (a camera's layout); `jetsonkit evaluate` feeds NCHW arrays as they are, so the
    # script evaluates them with a few lines of Python (one process for the three)
    run([sys.executable, "-c", "from jetsonkit.data import load_xy; from jetsonkit.evaluate import top1; "
         f"x, y = load_xy('{test}'); x = x.transpose(0, 2, 3, 1).copy(); "
         "[print(p, top1(p, x, y)) for p in ('mnist.fp32.tflite', 'mnist.fp16.tflite', 'mnist.int8.tflite')]"], work)
    run(JK + ["bench", "mnist.onnx", "mnist.qdq.onnx", "mnist.fp32.tflite", "mnist.fp16.tflite", "mnist.int8.tflite",
              "--iterations", str(iterations), "--threads", "1", "--no-energy"], work)
    return time.perf_counter() - start, top1


def compress_run(recipe: Path, out: Path) -> tuple[float, float, str]:
    start = time.perf_counter()
    data = json.loads(run(JK + ["--json", "compress", str(recipe), "-o", str(out)], recipe.parent))
    seconds = time.perf_counter() - start
    rows = {r["target"]: r for r in data["rows"]}
    stages = data["stages"]
    reused = sum(s["status"] == "reused" for s in stages)
    return seconds, rows["cpu-int8"]["accuracy"], f"{len(stages) - reused} ran, {reused} reused"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    test, iterations = ("mnist:test:1000", 50) if args.quick else ("mnist:test", 200)
    from jetsonkit.runtime.benchmark import machine_summary

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "peer").mkdir()
        recipe = work / "recipe.yaml"
        recipe.write_text(recipe_text(test, iterations))
        peer_s, peer_top1 = peer_script(work / "peer", test, iterations)
        cold_s, cold_top1, cold_stages = compress_run(recipe, work / "out")
        warm_s, warm_top1, warm_stages = compress_run(recipe, work / "out")
    m = machine_summary()
    print(f"compress vs stage commands: MNIST CNN, 5 artifacts, evaluation {test}, bench {iterations} iterations")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}, {m['date']}")
    print(f"{'path':<34} {'wall s':>8}  {'INT8 Q/DQ top-1':>16}  stages")
    print(f"{'stage commands (shell script)':<34} {peer_s:>8.1f}  {100 * peer_top1:>15.2f}%  11 processes")
    print(f"{'jetsonkit compress (cold)':<34} {cold_s:>8.1f}  {100 * cold_top1:>15.2f}%  {cold_stages}")
    print(f"{'jetsonkit compress (rerun)':<34} {warm_s:>8.1f}  {100 * warm_top1:>15.2f}%  {warm_stages}")


if __name__ == "__main__":
    main()
