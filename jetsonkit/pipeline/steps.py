"""The stages ``compress`` runs, each a function of files in, files out, called through :class:`StageStore`.

Each ``*_stage`` function returns a JSON-able result dict; the artifacts it writes go into the output folder
under fixed names (``<name>.onnx``, ``<name>.2to4.onnx``, ``<stem>.calib.json``, ``<stem>.qdq.onnx``, ...).
The work is done by the stage libraries (export, sparsity, calibrate, quantize, convert, build); this module only
wires them together.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._io import atomic_path, write_json_atomic, write_text_atomic
from .recipe import Recipe, TargetConfig

__all__ = ["load_data", "data_inputs", "data_files", "export_stage", "prune_stage", "calibrate_stage", "quantize_stage",
           "qat_stage", "fp16_onnx_stage", "tflite_stage", "tensorrt_stage", "tensorrt_buildable"]


@lru_cache(maxsize=8)
def load_data(spec: str, inputs: tuple | None = None, preprocess: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) for a recipe data spec (anything :class:`jetsonkit.data.DataSpec` parses; the recipe has
    resolved paths). ``inputs``: the model's :class:`~jetsonkit.data.InputInfo` s, which size image folders;
    ``preprocess``: the recipe's :class:`~jetsonkit.preprocess.PreprocessSpec` for them."""
    from ..data import DataSpec

    x, y = DataSpec.parse(spec, preprocess=preprocess).load_xy(inputs)
    from ..evaluate import check_finite

    check_finite(x, f"data {spec!r}")
    if x.dtype.kind == "f" and x.dtype != np.float32:
        x = x.astype(np.float32)  # the models take float32; float64 arrays are common in saved .npz files
    return x, y


def data_inputs(recipe: Recipe) -> tuple:
    """The recipe's inputs as the data layer sees them (they size image folders)."""
    from ..data import InputInfo

    return tuple(InputInfo(i.name, (None if i.dynamic_batch else i.shape[0], *i.shape[1:]), np.dtype(i.dtype))
                 for i in recipe.inputs)


def data_files(*specs: str | None) -> list[Path]:
    """The files data specs read (their hashes go into the stage keys; a folder: every file in it)."""
    from ..data import DataSpec

    return [f for s in specs if s for f in DataSpec.parse(s).files()]


def _example_inputs(recipe: Recipe) -> tuple:
    torch = require("torch", purpose="exporting the recipe's model")
    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in recipe.inputs)


def _dynamic(recipe: Recipe) -> dict | None:
    dynamic = {i.name: {0: "batch"} for i in recipe.inputs if i.dynamic_batch}
    if dynamic:
        dynamic["*"] = {0: "batch"}
    return dynamic or None


def _export(recipe: Recipe, model: Any, path: Path) -> dict:
    from ..export import export_onnx

    dynamic = _dynamic(recipe)
    ex = _example_inputs(recipe)
    result = export_onnx(model, ex if len(ex) > 1 else ex[0], path, input_names=[i.name for i in recipe.inputs],
                         output_names=list(recipe.outputs), dynamic=dynamic or None, random_trials=1)
    if recipe.preprocess is not None:  # the model carries its pre-processing (calibration and runtime read it)
        _store_preprocess(path, recipe.preprocess)
    return {"exporter": result.exporter, "parity_max_abs": result.parity.max_abs,
            "size_bytes": path.stat().st_size}


def _store_preprocess(path: Path, spec: Any) -> None:
    from ..preprocess.metadata import set_onnx

    onnx = require("onnx", purpose="storing the pre-processing spec")
    model = set_onnx(onnx.load(str(path)), spec)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))


def export_stage(recipe: Recipe, out: Path) -> dict:
    """Export the recipe's PyTorch model to ``<name>.onnx`` (parity-checked against torch)."""
    from ..modelspec import load_model

    return _export(recipe, load_model(recipe.model.spec, recipe.model.weights), out / f"{recipe.name}.onnx")


def prune_stage(recipe: Recipe, out: Path) -> dict:
    """2:4-prune the model, fine-tune it with the masks held, save the checkpoint and export ``<name>.2to4.onnx``
    (:func:`jetsonkit.sparsity.stage.run_prune`; the recipe's prune section is its settings)."""
    from ..sparsity.stage import run_prune

    cfg, ft = recipe.stages.prune, recipe.stages.prune.finetune
    train = None
    if ft is not None and _boxes(ft.data):  # detection: (x, boxes, labels) batches for the recipe's detection loss
        from .detection import training_targets

        train = training_targets(recipe, ft.data, data_inputs(recipe)).loader(ft.batch_size)
    elif ft is not None:
        train = load_data(ft.data, data_inputs(recipe), recipe.preprocess)
    pruned = run_prune(recipe.model.spec, cfg, ft, train=train, weights=recipe.model.weights,
                       example_input=_example_inputs(recipe)[0] if cfg.permute else None,
                       output=out / f"{recipe.name}.2to4.pt", meta={"recipe": recipe.path},
                       label="compress: fine-tune (2:4 masks held)")
    result = {**pruned.as_dict(), "output": f"{recipe.name}.2to4.pt"}
    result["export"] = _export(recipe, pruned.model, out / f"{recipe.name}.2to4.onnx")
    return result


def _boxes(spec: str) -> bool:
    """Whether a data spec is detection data (mnist_det, a COCO or a YOLO folder)."""
    from ..data import DataSpec
    from ..data.spec import DETECTION_KINDS

    return DataSpec.parse(spec).kind in DETECTION_KINDS


def calibrate_stage(recipe: Recipe, onnx_path: Path, table_path: Path) -> dict:
    """One calibration of ``onnx_path`` on the recipe's calibration data; every target of this model shares it."""
    from ..calibrate import run_calibrate

    c = recipe.calibration  # the stage's CalibrationSettings, plus its data
    table = run_calibrate(onnx_path, c.data, c, output=table_path, preprocess=recipe.preprocess).table
    return {"method": c.method, "tensors": len(table.amaxes()), "samples": int(table.samples)}


def quantize_stage(recipe: Recipe, onnx_path: Path, table_path: Path, qdq_path: Path) -> dict:
    """Q/DQ ONNX with the recipe's precision plan, or with the plan the sensitivity search finds for the budget."""
    from ..quantize.stage import run_quantize

    q = recipe.stages.quantize  # the stage's QuantizeSettings, plus the search's validation data
    search = q.auto_budget is not None
    done = run_quantize(onnx_path, q, calib=table_path, output=qdq_path,
                        data=load_data(q.data, data_inputs(recipe), recipe.preprocess) if search else None,
                        plan_out=qdq_path.with_suffix(".plan.yaml") if search else None, strict_budget=False,
                        plan_table=False)
    result: dict[str, Any] = {"plan": q.plan} if q.plan else {}
    if done.report is not None:
        report = done.report
        result.update(plan=Path(done.plan_out).name, kept_float=report.kept, budget_met=report.met,
                      sensitivity=[{"layer": s.layer, "op": s.op, "sensitivity": s.sensitivity,
                                    "decision": report.keep_precision if s.layer in report.kept else "int8"}
                                   for s in report.scores],
                      sensitivity_mode=report.mode)
    result["summary"] = done.qdq.summary()
    return result


def qat_stage(recipe: Recipe, weights: str | None, table_path: Path, out_path: Path) -> dict:
    """Quantization-aware training of the recipe's model -> ``out_path`` (Q/DQ ONNX, ``jetsonkit quantize``'s
    structure with the trained scales).

    ``weights``: the recipe's weights (dense) or the ``<name>.2to4.pt`` checkpoint (sparse: its 2:4 masks are held
    through training and export). ``table_path``: that model's calibration table, the one its PTQ targets use.
    Every layer is INT8 unless ``stages.quantize.plan`` keeps some out (the ``auto_budget`` search is PTQ's
    alternative to QAT, so its plan is not applied here).
    """
    from ..modelspec import load_model
    from ..qat.stage import QatSettings, run_qat

    cfg = recipe.stages.qat
    model = load_model(recipe.model.spec, weights)
    # the recipe's qat section is a QatSettings (plus its data); the calibration method is the recipe's one
    settings = QatSettings(**{**{f.name: getattr(cfg, f.name) for f in fields(QatSettings)},
                              "method": recipe.calibration.method})
    ex = _example_inputs(recipe)
    data = load_data(cfg.data, data_inputs(recipe), recipe.preprocess)
    result = run_qat(model, ex if len(ex) > 1 else ex[0], str(table_path), data, out_path, settings,
                     plan=recipe.stages.quantize.plan, input_names=[i.name for i in recipe.inputs],
                     output_names=list(recipe.outputs), dynamic=_dynamic(recipe))
    result["output"] = out_path.name
    result["calibration_table"] = table_path.name
    result["weights"] = Path(weights).name if weights else None
    return result


def fp16_onnx_stage(onnx_path: Path, out_path: Path, precision_plan: str | None = None) -> dict:
    """The graph in fp16 (inputs / outputs stay fp32), for an ONNX Runtime fp16 target; the layers the recipe's
    precision plan (``stages.quantize.plan``) keeps in fp32 stay fp32."""
    onnx = require("onnx", purpose="FP16 ONNX")
    from ..quantize.fp16 import to_fp16
    from ..quantize.plan import PrecisionPlan

    plan = PrecisionPlan.load(precision_plan) if precision_plan else None
    with atomic_path(out_path) as tmp:
        onnx.save(to_fp16(onnx_path, plan), str(tmp))
    return {"size_bytes": out_path.stat().st_size}


def tflite_stage(recipe: Recipe, target: TargetConfig, onnx_path: Path, table_path: Path | None,
                 out_path: Path) -> dict:
    """The convert stage (:func:`~jetsonkit.convert.stage.run_convert`) with the target's settings; int8 takes its
    ranges from the shared calibration table (tensors outside it from the recipe's calibration data)."""
    from ..convert.stage import run_convert

    int8 = target.precision == "int8"
    data = load_data(recipe.calibration.data, data_inputs(recipe), recipe.preprocess)[0] if int8 else None
    if data is not None and recipe.calibration.max_samples:
        data = data[:recipe.calibration.max_samples]
    r = run_convert(onnx_path, out_path, target.convert_settings(), data=data,
                    calib=str(table_path) if int8 else None)
    return {"size_bytes": r.size_bytes, "ops": r.ops, "ranges_source": r.ranges_source}


def tensorrt_buildable() -> str | None:
    """None when this machine can build TensorRT engines, else the reason it cannot."""
    import ctypes
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed here; it ships with JetPack and NVIDIA's TensorRT containers"
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA GPU driver here (libcuda.so.1 not found)"
    return None


def build_settings(recipe: Recipe, target: TargetConfig):
    """The build stage's settings for a tensorrt target: the target's own (:meth:`TargetConfig.build_settings`),
    one optimization profile per dynamic-batch input (1 .. bench batch .. ``max_batch``) and, below fp32, the
    recipe's precision plan."""
    from ..engine import InputRange

    profile = {i.name: InputRange(i.name, (1, *i.shape[1:]), (recipe.bench.batch, *i.shape[1:]),
                                  (target.max_batch, *i.shape[1:])) for i in recipe.inputs if i.dynamic_batch}
    precision_plan = recipe.stages.quantize.plan if target.precision != "fp32" else None
    return target.build_settings(profiles=[profile] if profile else [], precision_plan=precision_plan)


def finish_command(recipe: Recipe, target: TargetConfig, onnx_name: str) -> str:
    """The command that builds this target's engine on the device (the precision plan beside the ONNX)."""
    settings = build_settings(recipe, target)
    if settings.precision_plan:
        settings = replace(settings, precision_plan=Path(settings.precision_plan).name)
    return " ".join(["jetsonkit build", onnx_name, "-o", f"{target.name}.engine", *settings.argv()])


def tensorrt_stage(recipe: Recipe, target: TargetConfig, onnx_path: Path, out: Path) -> dict:
    """Build the engine where TensorRT and a GPU exist (with the installed TensorRT); elsewhere write the build
    spec for the target's ``trt_version`` and how to finish on the device."""
    from ..engine import run_build

    settings = build_settings(recipe, target)
    reason = tensorrt_buildable()
    finish = finish_command(recipe, target, onnx_path.name)
    if reason is None:
        built = run_build(onnx_path, replace(settings, trt_version=None), out / f"{target.name}.engine")
        return {"status": "built", "engine": Path(built.engine_path).name, "build_spec": built.spec.to_dict()}
    spec = run_build(onnx_path, settings, dry_run=True).spec
    stem = f"{target.name}.build-spec"
    write_text_atomic(out / f"{stem}.txt", spec.to_text() + f"\n\nfinish on the device:\n  {finish}\n")
    write_json_atomic(out / f"{stem}.json", {"target": target.name, "onnx": onnx_path.name, "reason": reason,
                                             "finish": finish, "build_spec": spec.to_dict()})
    return {"status": "not built here", "reason": reason, "finish": finish, "build_spec_file": f"{stem}.txt",
            "trt_version": target.trt_version}
