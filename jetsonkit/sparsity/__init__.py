"""2:4 structured sparsity: prune, keep masks while fine-tuning, permute channels, verify ONNX / Q/DQ graphs.

Nothing heavy is imported here: torch / onnx are imported by the functions that need them.

- :func:`prune_2to4` — magnitude 2:4 masks on every eligible Conv / Linear (rules in :mod:`.eligibility`),
  optional channel permutation (:mod:`.permute`); returns a :class:`PruneResult` with the :class:`MaskSet`.
- :class:`MaskSet` — ``attach(optimizer)`` / ``mask_gradients()`` keep the masks in the user's own loop.
- :func:`finetune` — a short built-in fine-tune (labels, or distillation from the dense model).
- :func:`save_pruned` / :func:`load_pruned` / :func:`restore_pruned` — the checkpoint (``torch.load(weights_only=True)``), verified.
- :func:`run_prune` / :class:`PruneSettings` (:mod:`.stage`) — the whole stage in one call, as ``jetsonkit prune``
  and a recipe run it; :func:`run_sparsity` — the ``jetsonkit sparsity`` report.
- :func:`report_onnx` — per-layer 2:4 report of an ONNX or Q/DQ ONNX model; :func:`prune_onnx_initializers`
  prunes ONNX weights directly, *for speed experiments only* (no fine-tune).
"""

from __future__ import annotations

from .checkpoint import load_pruned, restore_pruned, save_pruned, verify_state
from .eligibility import Eligibility, shape_reason, torch_eligibility
from .finetune import FinetuneResult, distillation_loss, finetune
from .keep import MaskSet
from .masks import holds_2to4, mask_2to4, retained_magnitude, zero_fraction
from .onnx_report import OnnxLayerReport, SparsityReport, prune_onnx_initializers, report_onnx
from .prune import LayerResult, PruneResult, prune_2to4
from .stage import PruneRun, PruneSettings, run_prune, run_sparsity

__all__ = [
    "Eligibility", "FinetuneResult", "LayerResult", "MaskSet", "OnnxLayerReport", "PruneResult", "PruneRun",
    "PruneSettings", "SparsityReport", "run_prune", "run_sparsity",
    "distillation_loss", "finetune", "holds_2to4", "load_pruned", "mask_2to4", "prune_2to4",
    "prune_onnx_initializers", "report_onnx", "restore_pruned", "retained_magnitude", "save_pruned", "shape_reason",
    "torch_eligibility", "verify_state", "zero_fraction",
]
