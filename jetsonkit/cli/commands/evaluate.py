"""``jetsonkit evaluate``: top-1 on labelled data and agreement with an FP32 reference, in ONNX Runtime."""

from __future__ import annotations

import argparse

from .. import EXIT_CHECK_FAILED, CommandResult

NAME = "evaluate"
HELP = "top-1 accuracy on labelled data and agreement (top-1, cosine, max abs) with a reference model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model to evaluate (.onnx; other formats through jetsonkit.runtime)")
    parser.add_argument("--data", default="mnist:test",
                        help="mnist:<train|val|test>[:limit] or an .npz with x (and y); default mnist:test")
    parser.add_argument("--reference", help="reference model (e.g. the FP32 .onnx) for agreement figures")
    parser.add_argument("--min-top1", type=float, help="fail (exit 1) when top-1 is below this fraction")
    parser.add_argument("--max-drop", type=float,
                        help="fail (exit 1) when top-1 is more than this many points below the reference's")


def run(args: argparse.Namespace) -> CommandResult:
    from ...evaluate import agreement_of_outputs, fit_input_layout, load_data, predict
    from ...errors import UsageError

    if args.max_drop is not None and not args.reference:
        raise UsageError("--max-drop needs --reference", hint="pass the FP32 model with --reference")
    if args.min_top1 is not None and not 0 <= args.min_top1 <= 1:
        percent = 1 < args.min_top1 <= 100
        raise UsageError(f"--min-top1 {args.min_top1:g} is not a fraction in [0, 1]",
                         hint=f"e.g. --min-top1 {args.min_top1 / 100:g} for {args.min_top1:g} %" if percent
                         else "e.g. --min-top1 0.98")
    x, y = load_data(args.data)
    if y is None and (args.min_top1 is not None or args.max_drop is not None):
        raise UsageError(f"--min-top1 / --max-drop need labels, and {args.data!r} has no y",
                         hint="save the labels with numpy.savez(path, x=inputs, y=labels), or drop the gate")
    x_model, note = fit_input_layout(args.model, x)
    out = predict(args.model, x_model)
    data: dict = {"model": args.model, "data": args.data, "samples": int(len(x))}
    lines = [f"{args.model} on {args.data} ({len(x)} samples)"]
    notes = [note] if note else []
    failures = []
    if y is not None:
        data["top1"] = float((out.reshape(len(x), -1).argmax(1) == y).mean())
        lines.append(f"  top-1 {100 * data['top1']:.2f} %")
        if args.min_top1 is not None and data["top1"] < args.min_top1:
            failures.append(f"top-1 {data['top1']:.4f} < {args.min_top1}")
    if args.reference:
        x_ref, ref_note = fit_input_layout(args.reference, x)
        notes += [ref_note] if ref_note else []
        ref = predict(args.reference, x_ref)
        agree = agreement_of_outputs(out, ref)
        data["agreement"] = agree.as_dict()
        lines.append(f"  vs {args.reference}: top-1 agreement {100 * agree.top1_agreement:.2f} %, "
                     f"cosine {agree.cosine:.5f}, max abs error {agree.max_abs_error:.4g}")
        if y is not None:
            data["reference_top1"] = float((ref.reshape(len(x), -1).argmax(1) == y).mean())
            drop = 100 * (data["reference_top1"] - data["top1"])
            data["drop_points"] = drop
            lines.append(f"  reference top-1 {100 * data['reference_top1']:.2f} % (drop {drop:+.2f} points)")
            if args.max_drop is not None and drop > args.max_drop:
                failures.append(f"drop {drop:.2f} points > {args.max_drop}")
    if notes:
        data["notes"] = notes
        lines += [f"  note: {n}" for n in notes]
    if failures:
        data["failures"] = failures
        lines.append("  FAILED: " + "; ".join(failures))
    return CommandResult(data=data, text="\n".join(lines), exit_code=EXIT_CHECK_FAILED if failures else 0)
