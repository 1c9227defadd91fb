"""``jetsonkit qat``: quantization-aware fine-tuning of a PyTorch model, written as the Q/DQ ONNX of ``quantize``."""

from __future__ import annotations

import argparse

from ...qat.stage import QatSettings
from ...settings import add_arguments as add_settings_arguments
from ...settings import from_args
from .. import CommandResult
from ..args import input_path, output_path, add_data_argument, add_precision_plan_argument

NAME = "qat"
HELP = "quantization-aware training: fake-quant on the Q/DQ sites, short fine-tune, export the Q/DQ ONNX"
DESCRIPTION = (HELP + ". The exported file has the structure `jetsonkit quantize` writes for the same model "
               "(same sites, same plan), with the trained scales; a 2:4-pruned checkpoint (--weights) keeps its "
               "pattern. Example: jetsonkit qat jetsonkit.examples.sensitive:build_model --calib calib.json "
               "--data mnist:train:20000 --epochs 2 --eval mnist:test -o sensitive.qat.onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    input_path(parser, "model", help="model spec: package.module:factory or file.py:factory")
    input_path(parser, "--weights", help="state_dict or pruned checkpoint to load (weights_only=True)")
    input_path(parser, "--calib", required=True,
                        help="calibration table (calib.json from `jetsonkit calibrate` on this model's ONNX), or "
                             "calibration data (mnist:train:1000, .npy, .npz, a folder) to calibrate here")
    add_data_argument(parser, "training data", required=True)
    add_settings_arguments(parser, QatSettings)
    add_precision_plan_argument(parser, "layers it keeps in fp16 / fp32 get no fake-quant")
    parser.add_argument("--input", metavar="NAME:SHAPE[:DTYPE]",
                        help="example input, e.g. input:1x1x28x28 (default: one sample of --data, named input)")
    input_path(parser, "--eval", metavar="DATA", help="labelled data for per-epoch top-1 and the exported "
                                                       "model's ONNX Runtime top-1, e.g. mnist:test")
    output_path(parser, "-o", "--output", required=True, help="Q/DQ ONNX file to write (e.g. model.qat.onnx)")


def _example(args: argparse.Namespace, x):
    if args.input:
        from ...specs import parse_input_spec

        spec = parse_input_spec(args.input)
        return spec.name, spec.example()
    return "input", x[:1].astype("float32")


def run(args: argparse.Namespace) -> CommandResult:
    from ...data import load_xy
    from ...modelspec import load_model
    from ...qat.stage import result_text, run_qat

    settings = from_args(QatSettings, args)
    model = load_model(args.model, args.weights)
    x, y = load_xy(args.data)
    name, example = _example(args, x)
    data = run_qat(model, example, args.calib, (x, y), args.output, settings, plan=args.plan,
                   eval_data=load_xy(args.eval) if args.eval else None, input_names=[name])
    return CommandResult(data=data, text=result_text(data, args.eval))

