#!/usr/bin/env python3
"""Export stage timing: jetsonkit.export_onnx (export + clean-up + checks + parity) beside plain torch.onnx.export.

For each test model, in one run on the same machine:
- ``torch legacy``: ``torch.onnx.export(dynamo=False)`` alone — the peer a user would otherwise call;
- ``torch dynamo``: ``torch.onnx.export(dynamo=True)`` alone (torch's default exporter since 2.9);
- ``jetsonkit``: export_onnx with its stages timed: export (legacy), clean-up (graphsurgeon fold / cleanup /
  toposort, names), check (shape inference + onnx.checker full), parity (ONNX Runtime vs torch, example + 2 random).
Each timing is the median of ``--repeat`` runs (dynamo: one run, after a warm-up export). Nodes are the ONNX node counts of the peer and of jetsonkit's file.

    python scripts/bench/export.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from jetsonkit.doctor import cpu_name  # noqa: E402


def models(quick: bool):
    import torch

    from jetsonkit.examples import mnist
    from tests.support import testnets

    yield "mnist_cnn", mnist.build_model(), torch.zeros(1, 1, 28, 28)
    names = ["conv_residual_net", "attention_net"] + ([] if quick else ["resnet50_like"])
    for name in names:
        model, x = testnets.build(name)
        yield name, model, x


def time_peer(model, x, path: Path, dynamo: bool) -> tuple[float, int]:
    import onnx
    import torch

    logging.disable(logging.WARNING)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=17, input_names=["input"],
                          dynamic_axes={"input": {0: "batch"}})
        seconds = time.perf_counter() - t0
    logging.disable(logging.NOTSET)
    return seconds, len(onnx.load(str(path), load_external_data=False).graph.node)


def time_jetsonkit(model, x, path: Path) -> tuple[dict, int, float]:
    from jetsonkit.export import export_onnx

    result = export_onnx(model, x, path, input_names=["input"], dynamic=True, exporter="legacy")
    return result.seconds, result.nodes, result.parity.max_abs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the ResNet-50-like net and the dynamo peer; 1 repeat")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat
    import logging

    logging.getLogger("jetsonkit").setLevel(logging.WARNING)  # warnings only
    import torch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.quick:  # the dynamo exporter builds its op registry on first use: keep that out of the figures
            time_peer(torch.nn.Linear(2, 2), torch.zeros(1, 2), Path(tmp) / "warm.onnx", True)
        for name, model, x in models(args.quick):
            params = sum(p.numel() for p in model.parameters())
            legacy = [time_peer(model, x, Path(tmp) / "peer.onnx", False) for _ in range(repeat)]
            dynamo = None if args.quick else time_peer(model, x, Path(tmp) / "dyn.onnx", True)
            runs = [time_jetsonkit(model, x, Path(tmp) / f"{name}.onnx") for _ in range(repeat)]
            med = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
            rows.append((name, params, statistics.median(t for t, _ in legacy), legacy[0][1],
                         dynamo[0] if dynamo else None, med, runs[0][1], runs[0][2]))
            print(f"done {name}", file=sys.stderr, flush=True)
    print(f"# export bench — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"# machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; median of {repeat}")
    print("| model | params | torch legacy s | torch dynamo s | jetsonkit export s | clean-up s | check s "
          "| parity s | jetsonkit total s | nodes peer → jetsonkit | parity max abs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, params, legacy_s, peer_nodes, dynamo_s, med, nodes, max_abs in rows:
        total = sum(med.values())
        dyn = f"{dynamo_s:.2f}" if dynamo_s is not None else "—"
        print(f"| {name} | {params / 1e6:.2f} M | {legacy_s:.2f} | {dyn} | {med['export']:.2f} | {med['cleanup']:.2f} "
              f"| {med['check']:.2f} | {med['parity']:.2f} | {total:.2f} | {peer_nodes} → {nodes} | {max_abs:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
