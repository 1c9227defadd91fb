"""``jetsonkit demo``: ``jetsonkit compress`` on the bundled MNIST recipe, every artifact measured, one report."""

from __future__ import annotations

from ..args import output_path

NAME = "demo"
HELP = ("the bundled MNIST recipe through compress: FP32 ONNX, Q/DQ INT8, 2:4 sparse INT8, QAT INT8, "
        "TFLite fp32/fp16/int8, "
        "TensorRT plan; prints the table and writes the report")


def add_arguments(parser) -> None:
    output_path(parser, "-o", "--output", default="jetsonkit-demo", help="output folder (default jetsonkit-demo/)")
    parser.add_argument("--force", action="store_true", help="rerun every stage even when it is up to date")
    parser.add_argument("--task", choices=("classify", "detect"), default="classify",
                        help="classify: the MNIST CNN recipe (default); detect: the bundled MNIST detector recipe "
                        "(jetsonkit/examples/mnist_det_recipe.yaml) through compress: FP32 / INT8 / 2:4+INT8 / TFLite / "
                        "Jetson build spec, mAP per target")


def run(args):
    if args.task == "detect":
        return _run_detect(args)
    from ..._io import write_json_atomic
    from ...pipeline import bundled_recipe, compress
    from .. import CommandResult

    result = compress(bundled_recipe(), args.output, force=args.force)
    export = result.report["stage_results"].get("export", {})
    values = {"fp32_top1": result.report["reference"]["accuracy"], "parity_max_abs": export.get("parity_max_abs"),
              "exporter": export.get("exporter")}
    # results.json: the demo's summary (kept from demo v1); report.json holds every figure.
    write_json_atomic(result.out_dir / "results.json", {"out_dir": str(result.out_dir), "values": values,
                                                        "rows": result.rows})
    head = (f"jetsonkit demo: bundled MNIST CNN -> {result.out_dir}/ (recipe {bundled_recipe().name})\n"
            f"export: mnist.onnx, parity max abs ({values['exporter']}) {values['parity_max_abs']:.2e} vs torch; "
            f"FP32 top-1 {100 * values['fp32_top1']:.2f}% on the MNIST test split\n")
    return CommandResult(data={**result.report, "values": values}, text=head + result.summary_text())


def _run_detect(args):
    from ...pipeline import bundled_recipe, compress
    from .. import CommandResult

    out = args.output if args.output != "jetsonkit-demo" else "jetsonkit-demo-detect"
    result = compress(bundled_recipe("detect"), out, force=args.force)
    ref = result.report["reference"]
    head = (f"jetsonkit demo --task detect: bundled MNIST detector -> {result.out_dir}/ (recipe "
            f"{bundled_recipe('detect').name}; {ref['samples']} held-back frames of "
            f"{result.report['evaluation_data']}, FP32 mAP@0.5 {100 * ref['map50']:.2f}% "
            f"±{100 * ref['map50_half_width']:.2f})\n")
    return CommandResult(data=result.report, text=head + result.summary_text())
