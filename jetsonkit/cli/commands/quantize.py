"""``jetsonkit quantize``: write the explicit-INT8 (Q/DQ) ONNX model from a calibration table."""

from __future__ import annotations

import argparse

from .. import CommandResult
from ...errors import UsageError
from ..args import input_path, output_path

NAME = "quantize"
HELP = "insert Q/DQ (explicit INT8) into an ONNX model from a calibration table and a precision plan"
DESCRIPTION = (HELP + ". Placement follows TensorRT's rules: inputs of Conv/ConvTranspose/Gemm/MatMul (weights "
               "per-channel), residual Add inputs, average-pool inputs. --explain prints every layer's precision "
               "and the rule that decided it.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="FP32 ONNX model")
    input_path(parser, "--calib", help="calibration table (calib.json from `jetsonkit calibrate`)")
    output_path(parser, "-o", "--output", help="where to write the Q/DQ model (e.g. model.qdq.onnx)")
    input_path(parser, "--plan", help="precision plan file (.yaml / .toml / .json): layers kept in fp16/fp32")
    parser.add_argument("--explain", action="store_true", help="print every layer's final precision and why")
    parser.add_argument("--weights", choices=("int8", "qdq"), default="int8",
                        help="store weights as int8 + DequantizeLinear (default) or fp32 + Q/DQ")
    parser.add_argument("--requantize", action="store_true", help="replace Q/DQ already in the model")
    auto = parser.add_argument_group("automatic mixed precision (sensitivity search)")
    auto.add_argument("--auto-budget", type=float, metavar="B",
                      help="keep the fewest layers out of INT8 so that the top-1 drop stays <= B points (labelled "
                           "--data) or the relative output error <= B (unlabelled); writes the plan it found")
    input_path(auto, "--data", help="validation data for --auto-budget: mnist:<split>[:limit] or an .npz (x, y)")
    auto.add_argument("--mode", choices=("one_at_a_time", "all_but_one"),
                      help="sensitivity mode (default all_but_one: on one batch, the fast one)")
    output_path(auto, "--plan-out", help="where to write the plan found (default: <output>.plan.yaml)")
    parser.add_argument("--fp16", action="store_true",
                        help="instead of Q/DQ, write the FP16 graph with the plan's fp32 layers fenced by Casts "
                             "(strongly typed TensorRT 11); needs -o, not --calib")


def run(args: argparse.Namespace) -> CommandResult:
    from ...quantize.plan import PrecisionPlan
    from ...artifacts import onnx_source
    from ...quantize.qdq import quantize_qdq

    if args.auto_budget is None and (args.data or args.plan_out or args.mode):
        raise UsageError("--data, --plan-out and --mode belong to --auto-budget",
                         hint="add --auto-budget B or drop them")
    if args.fp16:
        if args.auto_budget is not None or args.requantize or args.weights != "int8":
            raise UsageError("--fp16 writes a float graph: --auto-budget, --requantize and --weights do not apply",
                             hint="drop them, or drop --fp16")
        return _run_fp16(args)
    if not args.explain and not (args.calib and args.output):
        raise UsageError("quantize needs --calib and -o/--output (or --explain alone to only show the plan)",
                         hint="jetsonkit quantize model.onnx --calib calib.json -o model.qdq.onnx")
    if not args.calib and (args.requantize or args.weights != "int8"):
        raise UsageError("--requantize and --weights shape the Q/DQ model written with --calib and -o; --explain "
                         "alone writes nothing", hint="add --calib calib.json -o model.qdq.onnx, or drop them")
    if bool(args.calib) != bool(args.output):
        raise UsageError("--calib and -o/--output go together", hint="pass both, or neither with --explain")
    if args.output:
        from ..._io import check_output_path, check_output_suffix

        check_output_suffix(args.output, (".onnx",), "a Q/DQ ONNX model")
        check_output_path(args.output, inputs=(args.model, args.calib, args.plan))
        if args.plan_out:
            check_output_suffix(args.plan_out, (".yaml", ".yml", ".json"), "a precision plan (YAML, or JSON)")
            check_output_path(args.plan_out, inputs=(args.model, args.calib, args.plan, args.output))
    plan = PrecisionPlan.load(args.plan) if args.plan else PrecisionPlan()
    data: dict = {}
    text: list[str] = []
    if args.auto_budget is not None:
        plan = _auto_plan(args, data, text)
    if args.explain:
        proto, _, _ = onnx_source(args.model)
        text.append(plan.explain(proto))
        data["layers"] = {n: {"op": d.op, "precision": d.precision, "rule": d.rule}
                          for n, d in plan.resolve(proto).items()}
    if args.calib:
        result = quantize_qdq(args.model, args.calib, args.output, plan=plan,
                              weights=args.weights, requantize=args.requantize)
        s = result.summary()
        data.update(s)
        text.append(
            f"wrote {s['path']}: {s['activation_sites']} activation + {s['weight_sites']} weight Q/DQ sites; "
            f"weights {s['weights_fp32_bytes'] / 1e6:.2f} MB fp32 -> {s['weights_int8_bytes'] / 1e6:.2f} MB int8; "
            f"model {s['source_model_bytes'] / 1e6:.2f} MB -> {s['qdq_model_bytes'] / 1e6:.2f} MB"
            + (f"; kept out of INT8: {', '.join(sorted(s['kept_float']))}" if s["kept_float"] else ""))
    return CommandResult(data=data, text="\n".join(text))


def _run_fp16(args: argparse.Namespace) -> CommandResult:
    from ..._io import atomic_path
    from ..._deps import require
    from ...quantize.fp16 import to_fp16
    from ...quantize.plan import PrecisionPlan

    if args.calib or not args.output:
        raise UsageError("--fp16 writes a float graph: pass -o and no --calib",
                         hint="jetsonkit quantize model.onnx --fp16 --plan plan.yaml -o model.fp16.onnx")
    from ..._io import check_output_path, check_output_suffix

    check_output_suffix(args.output, (".onnx",), "an FP16 ONNX model")
    check_output_path(args.output, inputs=(args.model, args.plan))
    if args.explain and not args.plan:
        raise UsageError("--fp16 --explain shows the layers a --plan keeps in fp32, and no --plan was given",
                         hint="add --plan plan.yaml, or drop --explain (without a plan every layer is fp16)")
    plan = PrecisionPlan.load(args.plan) if args.plan else None
    proto = to_fp16(args.model, plan)
    with atomic_path(args.output) as tmp:
        require("onnx").save(proto, str(tmp))
    islands = sorted(n.name for n in proto.graph.node if n.op_type == "Cast")
    text = plan.explain(proto) + "\n" if (plan and args.explain) else ""
    return CommandResult(data={"path": args.output, "casts": islands},
                         text=text + f"wrote {args.output}: fp16 graph with {len(islands)} Cast node(s)")


def _auto_plan(args: argparse.Namespace, data: dict, text: list[str]):
    from ...data import load_xy
    from ...quantize.sensitivity import search_mixed_precision

    if args.plan or not (args.data and args.calib and args.output):
        raise UsageError("--auto-budget needs --data, --calib and -o, and replaces --plan",
                         hint="jetsonkit quantize m.onnx --calib c.json -o m.qdq.onnx --auto-budget 0.3 --data mnist:val")
    x, y = load_xy(args.data)
    report = search_mixed_precision(args.model, args.calib, x, y, budget=args.auto_budget,
                                    mode=args.mode or "all_but_one")
    plan_out = args.plan_out or f"{args.output}.plan.yaml"
    report.save(plan_out, f"{plan_out}.txt")
    data["sensitivity"] = {"kept": report.kept, "metric": report.metric, "full_int8": report.full_int8,
                           "final": report.final, "met": report.met, "plan": plan_out,
                           "evaluations": report.evaluations, "cost_in_fp32_passes": report.cost_in_fp32_passes}
    text.append(report.table())
    text.append(f"wrote plan {plan_out} and table {plan_out}.txt")
    if not report.met:
        from ...errors import CheckFailed

        raise CheckFailed(f"no plan met the budget {args.auto_budget:g} ({report.metric}); best {report.final:.4g} "
                          f"keeping {len(report.kept)} layer(s)", hint=f"see {plan_out}.txt", details=report.table())
    return report.plan()
