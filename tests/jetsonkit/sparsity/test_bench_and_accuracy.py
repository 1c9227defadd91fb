"""The GPU benchmark's plumbing (skips honestly here), and the MNIST accuracy target after fine-tuning (slow)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BENCH = REPO / "scripts" / "bench" / "sparse_matmul.py"


def test_sparse_matmul_bench_reports_why_it_skips_without_gpu(monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: the gpu-marked test runs the benchmark")
    import importlib.util

    spec = importlib.util.spec_from_file_location("sparse_matmul_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # our own script, run in-process to spare a second torch import
    monkeypatch.setattr(sys, "argv", [str(BENCH), "--json"])
    assert bench.main() == 0
    data = json.loads(capsys.readouterr().out)
    assert "no CUDA GPU" in data["skipped"] and data["machine"]["torch"] == torch.__version__


@pytest.mark.gpu
def test_sparse_matmul_bench_runs_on_gpu():
    out = subprocess.run([sys.executable, str(BENCH), "--quick", "--json"], capture_output=True, text=True,
                         check=True, timeout=600).stdout
    rows = json.loads(out)["rows"]
    ok = [r for r in rows if "error" not in r]
    assert ok and all(r["dense_ms"] > 0 and r["sparse_ms"] > 0 for r in ok)
    assert all(r["rel_error"] < 1e-2 for r in ok if r["dtype"] == "fp16")


@pytest.mark.slow
def test_mnist_2to4_finetuned_within_0_3_points_and_masks_survive_export_and_qdq(
        mnist_model, mnist_test, session_tmp):
    import onnxruntime as ort
    import torch

    from jetsonkit.examples import mnist
    from jetsonkit.quantize import quantize_qdq
    from jetsonkit.sparsity import finetune, prune_2to4, report_onnx
    from jetsonkit.sparsity.torchdata import batches, top1

    from .conftest import activation_ranges, export_onnx

    torch.manual_seed(0)
    model = copy.deepcopy(mnist_model)
    result = prune_2to4(model)  # measured: 99.01 % after this fine-tune (98.94 % with --permute)
    x, y = mnist.load_split("train", limit=20000)
    finetune(model, batches(x, y, batch_size=64), result.masks, lr=1e-4, epochs=1)
    xt, yt = mnist_test
    acc = top1(model, xt, yt)
    assert acc >= mnist.FP32_TEST_TOP1 - 0.003, f"2:4 fine-tuned top-1 {acc:.4f}"
    onnx_path = export_onnx(model, session_tmp / "mnist_2to4_ft.onnx")
    report_onnx(onnx_path).require_sparse()
    qdq = session_tmp / "mnist_2to4_ft.qdq.onnx"
    quantize_qdq(str(onnx_path), activation_ranges(onnx_path, x[:1000]), str(qdq))
    report_onnx(qdq).require_sparse()
    sess = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"])
    int8 = float((sess.run(None, {"input": xt})[0].argmax(1) == yt).mean())
    assert int8 >= acc - 0.003, f"sparse INT8 Q/DQ top-1 {int8:.4f} vs sparse FP32 {acc:.4f}"
