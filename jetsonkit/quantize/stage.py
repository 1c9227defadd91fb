"""The quantize stage as one call: precision plan (a file, or the one the sensitivity search finds for a budget)
-> Q/DQ ONNX (or the FP16 graph with the plan's fp32 islands); used by ``jetsonkit quantize`` and ``compress``.

:class:`QuantizeSettings` holds the stage's options, defaults and checks: ``jetsonkit quantize``'s flags and a
recipe's ``stages.quantize`` section are read off its fields (:mod:`jetsonkit.settings`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import CheckFailed, UsageError
from ..settings import SettingError, check, option

__all__ = ["QuantizeSettings", "QuantizeResult", "run_quantize", "MODES", "WEIGHTS"]

MODES = ("all_but_one", "one_at_a_time")
WEIGHTS = ("int8", "qdq")


@dataclass(frozen=True)
class QuantizeSettings:
    """How the stage quantizes; the model, the table, the data and the files written are its inputs and outputs."""

    plan: str | None = option(None, "precision plan file (.yaml / .toml / .json): layers kept in fp16/fp32")
    weights: str = option("int8", "store weights as int8 + DequantizeLinear, or as fp32 + Q/DQ", choices=WEIGHTS)
    auto_budget: float | None = option(
        None, "automatic mixed precision: keep the fewest layers out of INT8 so that the top-1 drop stays <= this "
        "many points (labelled data) or the relative output error <= it (unlabelled); replaces plan", minimum=0)
    mode: str | None = option(None, "sensitivity mode of auto_budget (default all_but_one: on one batch, the fast "
                              "one)", choices=MODES)
    requantize: bool = option(False, "replace Q/DQ already in the model", recipe=False)
    fp16: bool = option(False, "instead of Q/DQ, write the FP16 graph with the plan's fp32 layers fenced by Casts "
                        "(strongly typed TensorRT 11); no calibration table", recipe=False)

    def validate(self) -> None:
        if self.plan is not None and self.auto_budget is not None:
            raise SettingError("auto_budget", "auto_budget finds the plan: give plan or auto_budget, not both",
                               hint="drop one of them")
        if self.mode is not None and self.auto_budget is None:
            raise SettingError("mode", "mode is the sensitivity search's: it needs auto_budget",
                               hint="add auto_budget, or drop mode")
        if self.fp16 and (self.auto_budget is not None or self.requantize or self.weights != "int8"):
            raise SettingError("fp16", "fp16 writes a float graph: auto_budget, requantize and weights do not "
                               "apply", hint="drop them, or drop fp16")

    @property
    def search_mode(self) -> str:
        return self.mode or MODES[0]


@dataclass
class QuantizeResult:
    """What :func:`run_quantize` did: the plan applied, the search that found it, the file written."""

    plan: Any = None  # PrecisionPlan or None (every layer INT8 / FP16)
    qdq: Any = None  # QdqResult of the Q/DQ model written
    report: Any = None  # SensitivityReport of the auto_budget search
    plan_out: str | None = None  # where the search's plan went
    plan_table: str | None = None  # and its sensitivity table
    fp16: dict | None = None  # {"path", "casts"} of the FP16 graph written
    explanation: str | None = None
    layers: dict | None = None  # per node: op, precision, the rule that decided it

    def as_dict(self) -> dict:
        out: dict = dict(self.fp16 or {})
        if self.report is not None:
            r = self.report
            out["sensitivity"] = {"kept": r.kept, "metric": r.metric, "full_int8": r.full_int8, "final": r.final,
                                  "met": r.met, "plan": self.plan_out, "evaluations": r.evaluations,
                                  "cost_in_fp32_passes": r.cost_in_fp32_passes}
        if self.layers is not None:
            out["layers"] = self.layers
        if self.qdq is not None:
            out.update(self.qdq.summary())
        return out

    def text(self) -> str:
        lines = []
        if self.report is not None:
            lines += [self.report.table(), f"wrote plan {self.plan_out}"
                      + (f" and table {self.plan_table}" if self.plan_table else "")]
        if self.explanation is not None:
            lines.append(self.explanation)
        if self.fp16 is not None:
            lines.append(f"wrote {self.fp16['path']}: fp16 graph with {len(self.fp16['casts'])} Cast node(s)")
        if self.qdq is not None:
            s = self.qdq.summary()
            lines.append(
                f"wrote {s['path']}: {s['activation_sites']} activation + {s['weight_sites']} weight Q/DQ sites; "
                f"weights {s['weights_fp32_bytes'] / 1e6:.2f} MB fp32 -> {s['weights_int8_bytes'] / 1e6:.2f} MB "
                f"int8; model {s['source_model_bytes'] / 1e6:.2f} MB -> {s['qdq_model_bytes'] / 1e6:.2f} MB"
                + (f"; kept out of INT8: {', '.join(sorted(s['kept_float']))}" if s["kept_float"] else ""))
        return "\n".join(lines)


def run_quantize(model: Any, settings: QuantizeSettings = QuantizeSettings(), *, calib: Any = None,
                 output: str | os.PathLike | None = None, data: Any = None, plan_out: str | os.PathLike | None = None,
                 explain: bool = False, allow_other_model: bool = False, strict_budget: bool = True,
                 plan_table: bool = True) -> QuantizeResult:
    """Quantize ``model`` (an ONNX path) with ``settings``: the Q/DQ model from the calibration table ``calib`` to
    ``output``, or with ``settings.fp16`` the FP16 graph; ``explain`` adds every layer's precision and its rule
    (alone, it writes nothing).

    ``settings.auto_budget`` searches the plan on ``data`` (a data spec or an (x, y) pair; labelled: top-1 drop)
    and writes it to ``plan_out`` (default ``<output>.plan.yaml``; with ``plan_table`` also its table as
    ``<plan_out>.txt``); a budget no plan meets is CheckFailed before the model is written, unless not
    ``strict_budget`` (then ``result.report.met`` says so).
    """
    settings = check(settings)
    _check_io(model, settings, calib, output, data, plan_out, explain)
    from .plan import PrecisionPlan

    result = QuantizeResult(plan=PrecisionPlan.load(settings.plan) if settings.plan else None)
    if settings.auto_budget is not None:
        result.plan_out = str(plan_out or f"{output}.plan.yaml")
        result.plan_table = f"{result.plan_out}.txt" if plan_table else None
        result.report = _search(model, calib, data, settings, result.plan_out, result.plan_table, strict_budget)
        result.plan = result.report.plan()
    if settings.fp16:
        result.fp16, proto = _write_fp16(model, result.plan, output)
        if explain:
            result.explanation = result.plan.explain(proto)  # the layers the plan keeps fp32 in the graph written
        return result
    if explain:
        _explain(model, result)
    if calib is not None:
        from .qdq import quantize_qdq

        result.qdq = quantize_qdq(model, calib, output, plan=result.plan or PrecisionPlan(),
                                  weights=settings.weights, requantize=settings.requantize,
                                  allow_other_model=allow_other_model)
    return result


def _check_io(model: Any, s: QuantizeSettings, calib: Any, output: Any, data: Any, plan_out: Any,
              explain: bool) -> None:
    """UsageError for inputs and outputs that do not go together, before anything is read or written."""
    from .._io import check_output_path, check_output_suffix

    if s.auto_budget is None and (data is not None or plan_out):
        raise UsageError("--data and --plan-out belong to --auto-budget", hint="add --auto-budget B or drop them")
    if s.fp16:
        if calib or not output:
            raise UsageError("--fp16 writes a float graph: pass -o and no --calib",
                             hint="jetsonkit quantize model.onnx --fp16 --plan plan.yaml -o model.fp16.onnx")
        check_output_suffix(output, (".onnx",), "an FP16 ONNX model")
        check_output_path(output, inputs=(model, s.plan))
        if explain and not s.plan:
            raise UsageError("--fp16 --explain shows the layers a --plan keeps in fp32, and no --plan was given",
                             hint="add --plan plan.yaml, or drop --explain (without a plan every layer is fp16)")
        return
    if not explain and not (calib and output):
        raise UsageError("quantize needs --calib and -o/--output (or --explain alone to only show the plan)",
                         hint="jetsonkit quantize model.onnx --calib calib.json -o model.qdq.onnx")
    if not calib and (s.requantize or s.weights != "int8"):
        raise UsageError("--requantize and --weights shape the Q/DQ model written with --calib and -o; --explain "
                         "alone writes nothing", hint="add --calib calib.json -o model.qdq.onnx, or drop them")
    if bool(calib) != bool(output):
        raise UsageError("--calib and -o/--output go together", hint="pass both, or neither with --explain")
    if s.auto_budget is not None and (data is None or not calib):
        raise UsageError("--auto-budget needs --data, --calib and -o",
                         hint="jetsonkit quantize m.onnx --calib c.json -o m.qdq.onnx --auto-budget 0.3 --data mnist:val")
    if output:
        check_output_suffix(output, (".onnx",), "a Q/DQ ONNX model")
        check_output_path(output, inputs=(model, calib, s.plan))
        if plan_out:
            check_output_suffix(plan_out, (".yaml", ".yml", ".json"), "a precision plan (YAML, or JSON)")
            check_output_path(plan_out, inputs=(model, calib, s.plan, output))


def _search(model: Any, calib: Any, data: Any, settings: QuantizeSettings, plan_out: str, plan_table: str | None,
            strict: bool) -> Any:
    from ..data import load_xy
    from .sensitivity import search_mixed_precision

    x, y = data if isinstance(data, tuple) else load_xy(data)
    report = search_mixed_precision(model, calib, x, y, budget=settings.auto_budget, mode=settings.search_mode)
    report.save(plan_out, plan_table)
    if strict and not report.met:
        raise CheckFailed(f"no plan met the budget {settings.auto_budget:g} ({report.metric}); best "
                          f"{report.final:.4g} keeping {len(report.kept)} layer(s)", hint=f"see {plan_table or plan_out}",
                          details=report.table())
    return report


def _explain(model: Any, result: QuantizeResult) -> None:
    from ..artifacts import onnx_source
    from .plan import PrecisionPlan

    plan = result.plan or PrecisionPlan()
    proto, _, _ = onnx_source(model)
    result.explanation = plan.explain(proto)
    result.layers = {n: {"op": d.op, "precision": d.precision, "rule": d.rule}
                     for n, d in plan.resolve(proto).items()}


def _write_fp16(model: Any, plan: Any, output: Any) -> tuple[dict, Any]:
    from .._deps import require
    from .._io import atomic_path
    from .fp16 import to_fp16

    proto = to_fp16(model, plan)
    with atomic_path(output) as tmp:
        require("onnx").save(proto, str(tmp))
    return {"path": str(output), "casts": sorted(n.name for n in proto.graph.node if n.op_type == "Cast")}, proto
