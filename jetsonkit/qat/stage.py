"""The whole QAT stage as one call: prepare -> fine-tune -> export -> measure; used by the CLI and pipelines.

Returns a JSON-able dict (prepare summary, training curve, export result, top-1 figures), so a pipeline stage
(``jetsonkit compress``) can record it as is and show the exported model as its own row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibrators.methods import DEFAULT_METHOD

from .._train import FinetuneSettings
from ..errors import DataError
from ..settings import option

__all__ = ["QatSettings", "run_qat", "result_text"]


def _methods() -> tuple:
    import calibrators

    return calibrators.METHODS


@dataclass(frozen=True)
class QatSettings(FinetuneSettings):
    """The fine-tuning budget and options: ``jetsonkit qat``'s flags and a recipe's ``stages.qat`` section are read
    off these fields (:mod:`jetsonkit.settings`), so their defaults and checks are these. The fine-tune knobs
    (epochs, lr, batch size, steps, distillation, loss) are :class:`jetsonkit._train.FinetuneSettings`, shared with
    2:4 fine-tuning; the rest are QAT's own."""

    scale_lr: float = option(1e-2, "learning rate of the log2 scales (--learn-scales)", positive=True)
    learn_scales: bool = option(False, "train the quantization scales (TQT / LSQ)")
    batchnorm: str = option("fold", "fold BatchNorm into the conv before QAT, or freeze its statistics",
                            choices=("fold", "freeze"))
    method: str = option(DEFAULT_METHOD, "calibration method when --calib is data", choices=_methods, recipe=False)


def run_qat(model: Any, example_inputs: Any, calib: Any, train: tuple, output: str | os.PathLike,
            settings: QatSettings = QatSettings(), *, plan: Any = None, eval_data: tuple | None = None,
            input_names: Any = ("input",), output_names: Any = None, dynamic: Any = True) -> dict:
    """QAT ``model`` (in place) on ``train`` = (x, y or None) arrays and write the Q/DQ ONNX to ``output``.

    ``calib``: a table (a .json file, CalibrationTable, mapping) or calibration data (an array or a data spec such
    as ``mnist:train:1000``). ``eval_data`` = (x, y) adds the
    per-epoch top-1 of the fake-quantized model and the exported file's top-1 in ONNX Runtime.
    ``input_names`` / ``output_names`` / ``dynamic`` must be those the table's ONNX was exported with.
    """
    from .._io import check_output_path
    from ..evaluate import top1
    from ..sparsity.torchdata import batches
    from .instrument import prepare
    from .to_onnx import export
    from .train import finetune, summary

    check_output_path(output)
    x, y = train
    if y is None and not settings.distill and settings.loss is None:
        raise DataError("QAT training data has no labels", hint="give labels (y), or distil from the FP32 model")
    if eval_data is not None and eval_data[1] is None:
        raise DataError("QAT evaluation data has no labels", hint="pass labelled data, e.g. mnist:test")
    prepare(model, calib, example_inputs, plan, learn_scales=settings.learn_scales, batchnorm=settings.batchnorm,
            input_names=input_names, output_names=output_names, dynamic=dynamic, method=settings.method)
    keep_y = settings.loss is not None or not settings.distill  # a task's own loss may use labels and a teacher
    loader = batches(np.asarray(x), y if keep_y else None, batch_size=settings.batch_size)
    trained = finetune(model, loader, distill=settings.distill, epochs=settings.epochs, lr=settings.lr,
                       scale_lr=settings.scale_lr, max_steps=settings.max_steps, eval_data=eval_data,
                       loss=settings.loss)
    result = export(model, example_inputs, output)
    out = {"output": str(output), "settings": dict(settings.__dict__), "prepare": summary(model).as_dict(),
           "train": trained.as_dict(), "export": result.as_dict()}
    if eval_data is not None:
        out["top1_torch"] = trained.epoch_top1[-1] if trained.epoch_top1 else None
        out["top1_onnxruntime"] = top1(output, *eval_data)
    return out


def result_text(result: dict, eval_label: str | None = None) -> str:
    """:func:`run_qat`'s result for people: the prepared sites, the top-1 figures, the file written."""
    from .state import QatSummary

    lines = [QatSummary(**result["prepare"]).text()]
    if "top1_onnxruntime" in result:
        lines.append(f"top-1 on {eval_label}: fake-quant torch {100 * result['top1_torch']:.2f} %, exported Q/DQ "
                     f"in ONNX Runtime {100 * result['top1_onnxruntime']:.2f} %")
    ex = result["export"]
    lines.append(f"wrote {result['output']}: {ex['nodes']} nodes, {ex['size_bytes'] / 1e6:.2f} MB, "
                 f"{len(ex['simulated_sites'])} activation scales "
                 + ("learned" if result["prepare"]["learn_scales"] else "from the calibration table")
                 + (f", 2:4 kept in {', '.join(ex['sparse_layers'])}" if ex["sparse_layers"] else ""))
    return "\n".join(lines)
