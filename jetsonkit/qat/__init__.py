"""Quantization-aware training with the placement, arithmetic and export of jetsonkit's post-training INT8 path.

- :func:`prepare` — fake quantization on exactly the tensors ``jetsonkit quantize`` quantizes (per-channel
  weights, per-tensor activations), scales from the calibration table, optional LSQ scales, BatchNorm folded or
  frozen, the precision plan respected; the model stays the user's own ``nn.Module``.
- :func:`finetune` — a short built-in loop (labels, or distillation from the FP32 model), per-epoch accuracy.
- :func:`export` — the Q/DQ ONNX, node for node what ``jetsonkit quantize`` writes, with the trained scales.
- :func:`sparsity_masks` — the 2:4 masks of a pruned model, bound to the weights QAT trains.

Names resolve lazily: importing this package needs numpy alone.
"""

from __future__ import annotations

from .._lazy import lazy_names

_LAZY = {
    "prepare": "jetsonkit.qat.instrument",
    "export": "jetsonkit.qat.to_onnx",
    "QatExport": "jetsonkit.qat.to_onnx",
    "finetune": "jetsonkit.qat.train",
    "QatTrainResult": "jetsonkit.qat.train",
    "sparsity_masks": "jetsonkit.qat.train",
    "fp32_model": "jetsonkit.qat.train",
    "summary": "jetsonkit.qat.train",
    "fake_quant": "jetsonkit.qat.fakequant",
    "run_qat": "jetsonkit.qat.stage",
    "QatSettings": "jetsonkit.qat.stage",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
