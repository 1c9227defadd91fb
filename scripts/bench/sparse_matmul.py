#!/usr/bin/env python
"""Dense vs 2:4 semi-structured sparse matmul on a CUDA GPU, fp16 and int8, side by side in one run.

For every weight shape ``W[out, in]`` (the 2:4-eligible Linear layers of the bundled test models, plus large
transformer-sized shapes) and several token counts ``n``, times ``W @ X`` with ``X[in, n]``:

- dense fp16: ``torch.mm``;           sparse fp16: ``torch.mm(to_sparse_semi_structured(W), X)``
- dense int8: ``torch._int_mm`` (int8 x int8 -> int32); sparse int8: ``torch.mm`` on the semi-structured int8
  weight (cuSPARSELt / CUTLASS; its output dtype is reported, it may be int8 rather than int32)

W is pruned 2:4 along ``in`` with jetsonkit's magnitude mask (the layout TensorRT and cuSPARSELt accelerate).
Each sparse result is checked against the dense product of the same pruned W (fp16: relative error).
Timing: CUDA events, median of ``--iters`` runs after warm-up. Sparse tensor cores need compute capability >= 8.0.

Usage: python scripts/bench/sparse_matmul.py [--quick] [--json] [--backend auto|cutlass|cusparselt]
Without a CUDA GPU it prints the reason and exits 0 (``--json``: {"skipped": reason}).
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

LARGE = [(4096, 4096), (11008, 4096), (4096, 11008), (8192, 8192)]
TOKENS, TOKENS_QUICK = (64, 1024, 8192), (1024,)


def _cpu() -> str:
    from jetsonkit.doctor import machine_summary  # the repo root is on sys.path by then

    return machine_summary()


def skip_reason(torch) -> str | None:
    """Why this machine cannot run the benchmark, or None."""
    if torch is None:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch (torch.cuda.is_available() is False; CPU build or no driver)"
    major, minor = torch.cuda.get_device_capability()
    if major < 8:
        return f"GPU compute capability {major}.{minor} < 8.0: no sparse tensor cores (needs Ampere or later)"
    if not hasattr(torch.sparse, "to_sparse_semi_structured"):
        return f"torch {torch.__version__} has no torch.sparse.to_sparse_semi_structured"
    return None


def model_shapes() -> list[tuple[int, int, str]]:
    """(out, in, source) of the 2:4-eligible Linear layers of the bundled models (deduplicated)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    found: dict[tuple[int, int], str] = {}
    builders = []
    try:
        from tests.support import testnets

        builders += [("attention_net", testnets.attention_net), ("conv_residual_net", testnets.conv_residual_net),
                     ("resnet50_like", testnets.resnet50_like)]
    except Exception as exc:  # noqa: BLE001 - shapes from a model we cannot build are simply left out
        print(f"note: test nets unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
    try:
        from jetsonkit.examples import mnist

        builders.append(("mnist", mnist.build_model))
    except Exception as exc:  # noqa: BLE001
        print(f"note: MNIST model unavailable ({type(exc).__name__})", file=sys.stderr)
    from jetsonkit.sparsity.eligibility import torch_eligibility

    for source, build in builders:
        try:
            model = build()
        except Exception as exc:  # noqa: BLE001
            print(f"note: {source} not built ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        for v in torch_eligibility(model):
            if v.eligible and v.kind == "Linear":
                found.setdefault((v.out_channels, v.in_channels), f"{source}:{v.name}")
    return [(o, i, s) for (o, i), s in found.items()]


def pruned_weight(torch, out_f: int, in_f: int, dtype, device):
    import numpy as np

    from jetsonkit.sparsity.masks import mask_2to4

    w = torch.randn(out_f, in_f)
    if dtype == torch.int8:
        w = torch.randint(-8, 8, (out_f, in_f)).float()
    mask = torch.from_numpy(mask_2to4(w.numpy(), axis=1).astype(np.float32))
    return (w * mask).to(dtype=dtype, device=device)


def time_ms(torch, fn, warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_case(torch, out_f: int, in_f: int, n: int, dtype_name: str, warmup: int, iters: int) -> dict:
    dev = "cuda"
    dtype = torch.float16 if dtype_name == "fp16" else torch.int8
    row = {"out": out_f, "in": in_f, "n": n, "dtype": dtype_name}
    try:
        w = pruned_weight(torch, out_f, in_f, dtype, dev)
        x = (torch.randn(in_f, n, device=dev).to(dtype) if dtype_name == "fp16"
             else torch.randint(-8, 8, (in_f, n), device=dev, dtype=torch.int8))
        dense_fn = (lambda: torch.mm(w, x)) if dtype_name == "fp16" else (lambda: torch._int_mm(w, x))
        ws = torch.sparse.to_sparse_semi_structured(w)
        row["backend"] = type(ws).__name__
        sparse_fn = lambda: torch.mm(ws, x)  # noqa: E731
        ref, got = dense_fn().float(), sparse_fn()
        row["sparse_out_dtype"] = str(got.dtype).replace("torch.", "")
        if dtype_name == "fp16":
            row["rel_error"] = float((got.float() - ref).norm() / ref.norm().clamp_min(1e-12))
        row["dense_ms"] = time_ms(torch, dense_fn, warmup, iters)
        row["sparse_ms"] = time_ms(torch, sparse_fn, warmup, iters)
        row["speedup"] = row["dense_ms"] / row["sparse_ms"]
        flops = 2.0 * out_f * in_f * n
        row["dense_tops"] = flops / row["dense_ms"] / 1e9
    except Exception as exc:  # noqa: BLE001 - one unsupported shape/dtype must not end the run
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one token count, fewer iterations, no 8192x8192")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--backend", choices=("auto", "cutlass", "cusparselt"), default="auto")
    ap.add_argument("--iters", type=int, default=None)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    reason = skip_reason(torch)
    machine = {"cpu": _cpu(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "torch": getattr(torch, "__version__", None)}
    if reason:
        print(json.dumps({"skipped": reason, "machine": machine}) if args.json else f"skipped: {reason}")
        return 0
    if args.backend != "auto":
        torch.sparse.SparseSemiStructuredTensor._FORCE_CUTLASS = args.backend == "cutlass"
    machine.update(gpu=torch.cuda.get_device_name(), capability=".".join(map(str, torch.cuda.get_device_capability())),
                   cuda=torch.version.cuda)
    warmup, iters = (3, args.iters or 10) if args.quick else (10, args.iters or 50)
    shapes = model_shapes() + [(o, i, "large") for o, i in (LARGE[:3] if args.quick else LARGE)]
    rows = []
    for out_f, in_f, source in shapes:
        for n in TOKENS_QUICK if args.quick else TOKENS:
            for dt in ("fp16", "int8"):
                rows.append({"source": source, **bench_case(torch, out_f, in_f, n, dt, warmup, iters)})
    if args.json:
        print(json.dumps({"machine": machine, "backend_request": args.backend, "rows": rows}, indent=2))
        return 0
    print(f"2:4 sparse vs dense matmul W[out,in] @ X[in,n]; {machine['gpu']} (sm {machine['capability']}), "
          f"CUDA {machine['cuda']}, torch {machine['torch']}; {machine['cpu']}; {machine['date']}")
    print(f"{'source':<32} {'out':>6} {'in':>6} {'n':>5} {'dtype':<5} {'dense ms':>9} {'sparse ms':>9} {'ratio':>6}  notes")
    for r in rows:
        if "error" in r:
            print(f"{r['source'][:32]:<32} {r['out']:>6} {r['in']:>6} {r['n']:>5} {r['dtype']:<5} {'-':>9} {'-':>9} {'-':>6}  {r['error']}")
            continue
        note = f"{r['backend']}, out {r['sparse_out_dtype']}" + (f", rel err {r['rel_error']:.1e}" if "rel_error" in r else "")
        print(f"{r['source'][:32]:<32} {r['out']:>6} {r['in']:>6} {r['n']:>5} {r['dtype']:<5} {r['dense_ms']:>9.4f} "
              f"{r['sparse_ms']:>9.4f} {r['speedup']:>5.2f}x  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
