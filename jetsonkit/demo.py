"""The main job on the bundled example: the trained MNIST CNN through jetsonkit's stages, every artifact measured.

The demo is a list of :class:`Stage` objects run in order on one :class:`DemoContext`; each stage writes its
artifacts into the output folder, records them in ``ctx.artifacts`` for later stages, and returns rows for one
results table. Later stages (calibrate, Q/DQ, sparsity, TFLite, TensorRT) are appended to :data:`STAGES`.

Stages now: ``export`` (ONNX, opset 17, dynamic batch, parity vs torch) and ``fp32-accuracy`` (ONNX Runtime top-1 on
the 10k MNIST test split; 99.05 % expected, measured with torch when the weights were made).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._deps import require
from ._io import write_json_atomic
from ._progress import info, progress
from .errors import CheckFailed, InputError

__all__ = ["Row", "Stage", "DemoContext", "DemoResult", "STAGES", "run_demo", "onnx_top1"]

DEFAULT_OUT = "jetsonkit-demo"


@dataclass
class Row:
    """One line of the results table."""

    stage: str
    artifact: str  # file name inside the output folder, or "" for a measurement
    metric: str
    value: str
    seconds: float
    size_bytes: int | None = None


@dataclass
class DemoContext:
    """What stages share: the output folder, the model, the data, and the artifacts made so far."""

    out_dir: Path
    model: Any = None
    artifacts: dict[str, Path] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    _test: tuple[np.ndarray, np.ndarray] | None = None

    def test_split(self) -> tuple[np.ndarray, np.ndarray]:
        if self._test is None:
            from .examples import mnist

            self._test = mnist.load_split("test")
        return self._test


@dataclass
class Stage:
    name: str
    run: Callable[[DemoContext], list[Row]]
    description: str = ""


@dataclass
class DemoResult:
    out_dir: Path
    rows: list[Row]
    values: dict[str, Any]

    def table(self) -> str:
        head = f"  {'stage':<15} {'artifact':<22} {'size':>9}  {'metric':<28} {'value':<14} {'time':>7}"
        lines = [f"jetsonkit demo: bundled MNIST CNN -> {self.out_dir}/", head]
        for r in self.rows:
            size = f"{r.size_bytes / 1e6:.2f} MB" if r.size_bytes is not None else ""
            lines.append(f"  {r.stage:<15} {r.artifact:<22} {size:>9}  {r.metric:<28} {r.value:<14} {r.seconds:>6.1f}s")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"out_dir": str(self.out_dir), "values": self.values,
                "rows": [r.__dict__ for r in self.rows]}


def _stage_export(ctx: DemoContext) -> list[Row]:
    from .examples import mnist
    from .export import export_onnx

    torch = require("torch", purpose="the demo's export stage")
    ctx.model = ctx.model or mnist.build_model()
    path = ctx.out_dir / "mnist.onnx"
    t0 = time.perf_counter()
    x = torch.from_numpy(mnist.load_split("train", limit=1)[0])
    result = export_onnx(ctx.model, x, path, input_names=[mnist.INPUT_NAME], output_names=[mnist.OUTPUT_NAME],
                         dynamic=True)
    seconds = time.perf_counter() - t0
    ctx.artifacts["fp32_onnx"] = path
    ctx.values["parity_max_abs"] = result.parity.max_abs
    ctx.values["exporter"] = result.exporter
    info(result.parity.table())
    return [Row("export", path.name, f"parity max abs ({result.exporter})", f"{result.parity.max_abs:.2e}", seconds,
                result.size_bytes)]


def _stage_fp32_accuracy(ctx: DemoContext) -> list[Row]:
    from .examples import mnist

    x, y = ctx.test_split()
    t0 = time.perf_counter()
    top1 = onnx_top1(ctx.artifacts["fp32_onnx"], x, y)
    seconds = time.perf_counter() - t0
    ctx.values["fp32_top1"] = top1
    if abs(top1 - mnist.FP32_TEST_TOP1) > 0.0005:
        raise CheckFailed(f"FP32 top-1 in ONNX Runtime is {top1:.2%}, expected {mnist.FP32_TEST_TOP1:.2%}",
                          hint="the export or the installed example data/weights differ; rerun with --debug")
    return [Row("fp32-accuracy", ctx.artifacts["fp32_onnx"].name, f"top-1, MNIST test ({len(y)})", f"{top1:.2%}",
                seconds)]


STAGES: list[Stage] = [
    Stage("export", _stage_export, "export the trained CNN to ONNX and check parity with torch"),
    Stage("fp32-accuracy", _stage_fp32_accuracy, "FP32 top-1 in ONNX Runtime on the 10k test split"),
]


def onnx_top1(onnx_path: Path, x: np.ndarray, y: np.ndarray, batch: int = 500) -> float:
    """Top-1 accuracy of an ONNX classifier in ONNX Runtime (CPU), over ``x`` in batches."""
    ort = require("onnxruntime", purpose="evaluating in ONNX Runtime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    correct = 0
    starts = range(0, len(x), batch)
    for start in progress(starts, "evaluate", total=len(starts)):
        logits = session.run(None, {name: x[start:start + batch]})[0]
        correct += int((logits.argmax(axis=1) == y[start:start + batch]).sum())
    return correct / len(x)


def run_demo(out_dir: str | Path = DEFAULT_OUT, stages: list[Stage] | None = None) -> DemoResult:
    """Run ``stages`` (default :data:`STAGES`) into ``out_dir`` (created if missing); write ``results.json``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"demo output {str(out)!r} exists and is not a folder", hint="choose another -o")
    if not out.parent.is_dir():
        raise InputError(f"parent folder {str(out.parent)!r} of the demo output does not exist",
                         hint=f"create it first: mkdir -p {out.parent}")
    out.mkdir(exist_ok=True)
    ctx = DemoContext(out_dir=out)
    rows: list[Row] = []
    for stage in stages if stages is not None else STAGES:
        info(f"demo: {stage.name}: {stage.description}")
        rows += stage.run(ctx)
    result = DemoResult(out_dir=out, rows=rows, values=ctx.values)
    write_json_atomic(out / "results.json", result.to_dict())
    return result
