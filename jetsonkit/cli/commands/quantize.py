"""``jetsonkit quantize``: write the explicit-INT8 (Q/DQ) ONNX model from a calibration table."""

from __future__ import annotations

import argparse

from ...quantize.stage import QuantizeSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import add_calib_arguments, add_data_argument, add_precision_plan_argument, input_path, output_path

NAME = "quantize"
HELP = "insert Q/DQ (explicit INT8) into an ONNX model from a calibration table and a precision plan"
DESCRIPTION = (HELP + ". Placement follows TensorRT's rules: inputs of Conv/ConvTranspose/Gemm/MatMul (weights "
               "per-channel), residual Add inputs, average-pool inputs. --explain prints every layer's precision "
               "and the rule that decided it. --auto-budget searches the plan (sensitivity) on --data; --fp16 "
               "writes the FP16 graph instead (needs -o, not --calib).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="FP32 ONNX model")
    add_calib_arguments(parser)
    output_path(parser, "-o", "--output", help="where to write the Q/DQ model (e.g. model.qdq.onnx)")
    parser.add_argument("--explain", action="store_true", help="print every layer's final precision and why")
    add_precision_plan_argument(parser, "the layers it names stay in fp16 / fp32, the rest INT8")
    add_settings_arguments(parser, QuantizeSettings, skip=("plan",))  # --plan: a file read, declared above
    add_data_argument(parser, "validation data for --auto-budget")
    output_path(parser, "--plan-out", help="where --auto-budget writes the plan found (default <output>.plan.yaml)")


def run(args: argparse.Namespace) -> CommandResult:
    from ...quantize.stage import run_quantize

    result = run_quantize(args.model, from_args(QuantizeSettings, args), calib=args.calib, output=args.output,
                          data=args.data, plan_out=args.plan_out, explain=args.explain,
                          allow_other_model=args.allow_other_model)
    return CommandResult(data=result.as_dict(), text=result.text())
