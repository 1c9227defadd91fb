"""``compress``: run a recipe's stages once, make every target's artifact, measure each the same way, write the report.

Order: export (or the given ONNX) -> 2:4 prune + fine-tune + export (when a target is sparse) -> one calibration
per distinct model (dense, sparse), shared by all its INT8 targets -> Q/DQ (precision plan or sensitivity search)
-> QAT from the same table (for ``qat: true`` targets) -> per target: .tflite conversion / FP16 ONNX / TensorRT
build or build spec -> measure every artifact (once per file, reference first) -> report. Every step goes through :class:`~jetsonkit.pipeline.stages.StageStore`, so a
rerun skips what is up to date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._deps import available, install_line
from .._io import atomic_path, check_name_length, check_writable
from .._lock import folder_lock
from .._progress import warn
from ..errors import CheckFailed, InputError, MissingDependencyError
from . import steps
from .gates import Budget, gate_rows
from .detection import DetectionEval, is_detection
from .measure import measure_artifact
from .recipe import Recipe, TargetConfig, load_recipe
from .report import build_report
from .report_files import write_report
from .stages import StageRecord, StageStore

__all__ = ["CompressResult", "compress", "check_backends"]

_BACKEND_MODULES = {"onnxruntime": ("onnxruntime",), "tflite": ("onnx", "ai_edge_litert")}


@dataclass
class CompressResult:
    out_dir: Path
    report: dict
    stage_log: list[StageRecord] = field(default_factory=list)

    @property
    def rows(self) -> list[dict]:
        return self.report["rows"]

    def summary_text(self) -> str:
        """The calibration tables, the results table, what is left for the device, and where the report is."""
        from .report import calibration_text, markdown_table

        ran = sum(s.status == "ran" for s in self.stage_log)
        reused = sum(s.status == "reused" for s in self.stage_log)
        lines = [*calibration_text(self.report), "", markdown_table(self.report), ""]
        lines += [f"{r['target']}: {r['status']} ({r['note']}); finish on the device: {r['finish']}"
                  for r in self.rows if r["status"] != "measured"]
        lines.append(f"stages: {ran} ran, {reused} reused; report: {self.out_dir}/report.html "
                     f"(also report.md, report.json)")
        return "\n".join(lines)


def check_backends(recipe: Recipe, targets: list[TargetConfig] | None = None) -> None:
    """MissingDependencyError (with the install line and the recipe line) for a target whose backend is missing."""
    for t in recipe.targets if targets is None else targets:
        for module in _BACKEND_MODULES.get(t.backend, ()):
            if not available(module):
                raise MissingDependencyError(f"{recipe.where('targets', t.name, 'backend')}: target {t.name!r} "
                                             f"needs {module}, which is not installed", hint=install_line(module))
    if not available("matplotlib"):
        raise MissingDependencyError("the report's plots need matplotlib, which is not installed",
                                     hint=install_line("matplotlib"))
    if recipe.model.spec and not available("torch"):
        raise MissingDependencyError(f"{recipe.where('model', 'spec')}: exporting the PyTorch model needs torch",
                                     hint=install_line("torch"))


def _prepare_out(out_dir: str | Path) -> Path:
    out = check_name_length(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {str(out)!r} exists and is not a folder", hint="choose another -o")
    if not out.parent.is_dir():
        raise InputError(f"parent folder {str(out.parent)!r} of the output does not exist",
                         hint=f"create it first: mkdir -p {out.parent}")
    check_writable(out if out.is_dir() else out.parent)
    out.mkdir(exist_ok=True)
    return out


def _check_onnx_inputs(r: Recipe) -> None:
    """ConfigError naming the recipe key when ``inputs`` does not describe the recipe's ONNX model.

    The inputs of an ONNX recipe are not used to run it but to write TensorRT profiles and build commands, so a
    wrong shape would otherwise pass silently into the Jetson target's plan.
    """
    from .._deps import require
    from ..errors import ConfigError, ModelLoadError

    onnx = require("onnx", purpose="reading the recipe's ONNX model")
    try:
        graph = onnx.load(r.model.onnx, load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors
        raise ModelLoadError(f"{r.where('model', 'onnx')} cannot read ONNX model {r.model.onnx!r}: "
                             f"{type(exc).__name__}", hint="export it again with `jetsonkit export`") from exc
    inits = {i.name for i in graph.initializer}
    dims = {vi.name: [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            for vi in graph.input if vi.name not in inits}
    for k, inp in enumerate(r.inputs):
        if inp.name not in dims:
            raise ConfigError(f"{r.where('inputs', k, 'name')}: {inp.name!r} is not an input of {r.model.onnx} "
                              f"(inputs: {', '.join(dims) or 'none'})", hint="use the model's input name")
        want = dims[inp.name]
        if len(want) != len(inp.shape) or any(w is not None and w != s for w, s in zip(want[1:], inp.shape[1:])):
            shown = ", ".join("?" if w is None else str(w) for w in want)
            raise ConfigError(f"{r.where('inputs', k, 'shape')}: {list(inp.shape)} does not fit input {inp.name!r} of "
                              f"{r.model.onnx} [{shown}]", hint="copy the model's input shape into the recipe")


class _Run:
    """One compress run: the recipe, the store, and the artifacts made so far (name -> path)."""

    def __init__(self, recipe: Recipe, out: Path, store: StageStore):
        self.recipe, self.out, self.store = recipe, out, store
        self.models: dict[str, Path] = {}
        self.results: dict[str, Any] = {}

    def model(self, sparse: bool) -> Path:
        return self.models["sparse" if sparse else "dense"]

    def make_models(self, need_sparse: bool) -> None:
        r, out = self.recipe, self.out
        if r.model.onnx:
            _check_onnx_inputs(r)
            self.models["dense"] = Path(r.model.onnx)
        else:
            name = f"{r.name}.onnx"
            self.results["export"] = self.store.run(
                "export", {"model": r.model.__dict__, "inputs": [i.__dict__ for i in r.inputs],
                           "outputs": r.outputs, **_preprocess_key(r)}, _files(r.model.weights, _spec_file(r.model.spec)), [name],
                lambda: steps.export_stage(r, out))
            self.models["dense"] = out / name
        if need_sparse:
            p = r.stages.prune
            settings = {"prune": _plain(p), "inputs": [i.__dict__ for i in r.inputs], "outputs": r.outputs,
                        "model": r.model.__dict__}
            data = steps.data_files(p.finetune.data if p.finetune else None)
            self.results["prune"] = self.store.run(
                "prune", settings, [self.models["dense"], *data], [f"{r.name}.2to4.pt", f"{r.name}.2to4.onnx"],
                lambda: steps.prune_stage(r, out))
            self.models["sparse"] = out / f"{r.name}.2to4.onnx"

    def table(self, sparse: bool) -> Path:
        onnx = self.model(sparse)
        table = self.out / f"{onnx.stem}.calib.json"
        c = self.recipe.calibration
        self.results[f"calibrate:{onnx.stem}"] = self.store.run(
            f"calibrate-{onnx.stem}", {**_plain(c), **_preprocess_key(self.recipe)}, [onnx, *steps.data_files(c.data)],
            [table.name],
            lambda: steps.calibrate_stage(self.recipe, onnx, table))
        return table

    def qdq(self, sparse: bool) -> Path:
        onnx, table = self.model(sparse), self.table(sparse)
        qdq = self.out / f"{onnx.stem}.qdq.onnx"
        q = self.recipe.stages.quantize
        outputs = [qdq.name] + ([qdq.with_suffix(".plan.yaml").name] if q.auto_budget is not None else [])
        self.results[f"quantize:{onnx.stem}"] = self.store.run(
            f"quantize-{onnx.stem}", _plain(q), [onnx, table, *_files(q.plan), *steps.data_files(q.data)],
            outputs, lambda: steps.quantize_stage(self.recipe, onnx, table, qdq))
        return qdq

    def qat(self, sparse: bool) -> Path:
        """QAT of the dense model (or of the 2:4 checkpoint, masks held) from its shared calibration table."""
        r = self.recipe
        onnx, table = self.model(sparse), self.table(sparse)
        path = self.out / f"{onnx.stem}.qat.onnx"
        weights = str(self.out / f"{r.name}.2to4.pt") if sparse else r.model.weights
        settings = {"qat": _plain(r.stages.qat), "model": r.model.__dict__, "plan": r.stages.quantize.plan,
                    "inputs": [i.__dict__ for i in r.inputs], "outputs": r.outputs,
                    "method": r.calibration.method}
        inputs = [onnx, table, *_files(weights, _spec_file(r.model.spec), r.stages.quantize.plan),
                  *steps.data_files(r.stages.qat.data)]
        self.results[f"qat:{onnx.stem}"] = self.store.run(
            f"qat-{onnx.stem}", settings, inputs, [path.name],
            lambda: steps.qat_stage(r, weights, table, path))
        return path

    def artifact(self, t: TargetConfig) -> tuple[Path | None, dict]:
        """The file target ``t`` runs (None when it is not built here) and the stage's result."""
        onnx = self.model(t.sparsity)
        if t.backend == "onnxruntime":
            if t.precision == "fp32":
                return onnx, {}
            if t.precision == "int8":
                return (self.qat(t.sparsity) if t.qat else self.qdq(t.sparsity)), {}
            path = self.out / f"{onnx.stem}.fp16.onnx"
            plan = self.recipe.stages.quantize.plan
            return path, self.store.run(f"fp16-{onnx.stem}", {"plan": plan}, [onnx, *_files(plan)], [path.name],
                                        lambda: steps.fp16_onnx_stage(onnx, path, plan))
        if t.backend == "tflite":
            table = self.table(t.sparsity) if t.precision == "int8" else None
            path = self.out / f"{onnx.stem}.{t.precision}{'' if t.input_layout == 'nhwc' else '.nchw'}.tflite"
            inputs = [onnx] + ([table] if table else []) + steps.data_files(self.recipe.calibration.data)
            return path, self.store.run(
                f"tflite-{path.stem}", {"precision": t.precision, "layout": t.input_layout,
                                        "calibration": _plain(self.recipe.calibration),
                                        **_preprocess_key(self.recipe)},
                inputs, [path.name], lambda: steps.tflite_stage(self.recipe, t, onnx, table, path))
        return self._tensorrt(t)

    def _tensorrt(self, t: TargetConfig) -> tuple[Path | None, dict]:
        if t.precision == "int8":
            src = self.qat(t.sparsity) if t.qat else self.qdq(t.sparsity)
        else:
            src = self.model(t.sparsity)
        table = self.table(t.sparsity) if t.precision == "int8" else None
        reason = steps.tensorrt_buildable()
        outputs = [f"{t.name}.engine"] if reason is None else [f"{t.name}.build-spec.txt", f"{t.name}.build-spec.json"]
        precision_plan = self.recipe.stages.quantize.plan
        result = self.store.run(f"tensorrt-{t.name}", {**_plain(t), "buildable": reason, "plan": precision_plan,
                                                        "bench_batch": self.recipe.bench.batch},
                                [src, *([table] if table else []), *_files(precision_plan)], outputs,
                                lambda: steps.tensorrt_stage(self.recipe, t, src, self.out))
        result = {**result, "onnx": src.name}
        return (self.out / result["engine"] if result["status"] == "built" else None), result


def _plain(obj: Any) -> Any:
    """A dataclass config as JSON-able data (for stage keys)."""
    return {k: _plain(v) for k, v in obj.__dict__.items()} if hasattr(obj, "__dataclass_fields__") else obj


def _preprocess_key(recipe: Recipe) -> dict:
    """The recipe's pre-processing spec for the stage keys of the stages it changes (nothing when unset)."""
    return {"preprocess": recipe.preprocess.to_dict()} if recipe.preprocess is not None else {}


def _spec_file(spec: str | None) -> str | None:
    if spec and ".py:" in spec:
        return spec.rpartition(":")[0]
    return None


def _files(*paths: str | None) -> list[Path]:
    return [Path(p) for p in paths if p]


def _measure(run: _Run, label: str, path: Path, x, y, reference, task=None) -> tuple[dict, np.ndarray | None]:
    """Measure ``path`` (cached like a stage: by file hash, data and bench settings); outputs kept for agreement."""
    r = run.recipe
    outputs_file = run.out / "stages" / f"outputs-{path.name}.npy"
    rel = str(outputs_file.relative_to(run.out))
    holder: dict = {}

    def work() -> dict:
        figures, out = measure_artifact(r, path, x, y, reference, task)
        with atomic_path(outputs_file) as tmp, open(tmp, "wb") as f:
            np.save(f, out)
        holder["out"] = out
        return figures

    settings = {"evaluation": _plain(r.evaluation), "bench": r.bench.recipe_dict(), **_preprocess_key(r)}
    against = [run.model(False)] if reference is not None else []
    figures = run.store.run(f"measure-{path.name}", settings, [path, *against, *steps.data_files(r.evaluation.data)],
                            [rel], work)
    out = holder.get("out")
    if out is None:
        out = np.load(outputs_file, allow_pickle=False)
    return figures, out


def compress(recipe: Recipe | str | Path, out_dir: str | Path, *, force: bool = False,
             targets: list[str] | None = None,
             on_stage: Callable[[StageRecord], None] | None = None) -> CompressResult:
    """Run ``recipe`` into ``out_dir`` and write report.json / report.md / report.html there.

    Raises CheckFailed (after writing the report) when the recipe has budgets and no artifact meets them, and
    InputError when another run holds ``out_dir`` (an advisory lock: two runs never mix their results in one folder).
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    chosen = _choose_targets(recipe, targets)
    check_backends(recipe, chosen)
    out = _prepare_out(out_dir)
    with folder_lock(out):
        return _compress(recipe, chosen, out, force, on_stage)


def _compress(recipe: Recipe, chosen: list[TargetConfig], out: Path, force: bool,
              on_stage: Callable[[StageRecord], None] | None) -> CompressResult:
    start = time.perf_counter()
    # first: bad evaluation data stops the run before any stage
    task = None
    if is_detection(recipe):
        task = DetectionEval.load(recipe, steps.data_inputs(recipe))
        x, y = task.x, None
    else:
        x, y = steps.load_data(recipe.evaluation.data, steps.data_inputs(recipe), recipe.preprocess)
    store = StageStore(out, force=force, on_stage=on_stage)
    run = _Run(recipe, out, store)
    run.make_models(any(t.sparsity for t in chosen))
    made = [(t, *run.artifact(t)) for t in chosen]
    ref_figures, ref_out = _measure(run, "reference", run.model(False), x, y, None, task)
    measured: dict[Path, dict] = {run.model(False): ref_figures}
    for t, path, _ in made:
        if path is not None and path not in measured:
            measured[path] = _measure(run, t.name, path, x, y, ref_out, task)[0]
    report = build_report(recipe, out, made, measured, run.model(False), run.results, store.log,
                          time.perf_counter() - start)
    write_report(out, report)
    _enforce_budgets(recipe, report)
    return CompressResult(out, report, store.log)


def _choose_targets(recipe: Recipe, names: list[str] | None) -> list[TargetConfig]:
    if not names:
        return list(recipe.targets)
    known = [t.name for t in recipe.targets]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"target {unknown[0]!r} is not in {recipe.path}", hint=f"targets there: {', '.join(known)}")
    return [t for t in recipe.targets if t.name in names]


def _enforce_budgets(recipe: Recipe, report: dict) -> None:
    budget = recipe.budgets
    if budget.empty:
        return
    verdicts = [v for v in gate_rows(report["rows"], budget) if v.gated]
    if not verdicts:
        warn(f"budgets not checked: no target was measured on this machine ({budget.describe()})")
    elif not any(v.ok for v in verdicts):
        from .report import markdown_table

        raise CheckFailed(f"no artifact meets the recipe's budgets ({budget.describe()}); report in {report['out_dir']}",
                          hint="relax the budgets or add a target (see the table)",
                          details=markdown_table(report))
