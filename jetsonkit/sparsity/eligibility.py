"""Which layers may be pruned 2:4 — the rules, stated once, for PyTorch modules and for ONNX nodes.

Rules (the layer is eligible only if all hold):

1. The layer is a weighted matrix product: ``Linear``, ``Conv1d`` / ``Conv2d`` / ``Conv3d`` (PyTorch) or
   ``Gemm`` / ``MatMul`` / ``Conv`` with a constant weight (ONNX).
2. ``groups == 1``: grouped and depthwise convolutions have too few input channels per output for sparse tensor
   cores and are skipped by NVIDIA ASP as well.
3. Output channels a multiple of 8 and input channels (per group) a multiple of 16 — the shape rule of NVIDIA ASP
   (``apex.contrib.sparsity``, ``ASP.init_model_for_pruning``: it skips weights whose ``out % 8`` or ``in % 16`` is
   non-zero), which is what TensorRT's sparse kernels accept.
4. The user's ``include`` patterns (if any) match the layer name and no ``exclude`` pattern does
   (shell-style patterns, :func:`fnmatch.fnmatchcase`).

The 2:4 groups run along the input-channel axis: in every 4 consecutive input channels at most 2 non-zeros
(Linear ``[out, in]`` along ``in``; Conv ``[K, C, *kernel]`` along ``C`` for each ``k`` and kernel position).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import InputError

OUT_MULTIPLE = 8
IN_MULTIPLE = 16
GROUP = 4  # N:M with M = 4
KEEP = 2  # ... and N = 2

TORCH_KINDS = ("Linear", "Conv1d", "Conv2d", "Conv3d")
TRANSPOSED_KINDS = ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")  # listed as not eligible, with why
ONNX_KINDS = ("Gemm", "MatMul", "Conv")


@dataclass(frozen=True)
class Eligibility:
    """The verdict for one layer: ``reason`` says why not when ``eligible`` is False."""

    name: str
    kind: str
    out_channels: int | None
    in_channels: int | None
    eligible: bool
    reason: str = ""

    def as_dict(self) -> dict:
        return {"layer": self.name, "kind": self.kind, "out": self.out_channels, "in": self.in_channels,
                "eligible": self.eligible, "reason": self.reason}


def shape_reason(out_channels: int, in_channels: int, groups: int = 1) -> str:
    """Why a weight of this shape cannot be 2:4 sparse on the tensor cores, or ``""`` when it can (rules 2–3)."""
    if groups != 1:
        return f"grouped/depthwise conv (groups={groups}) is not accelerated; excluded"
    problems = []
    if out_channels % OUT_MULTIPLE:
        problems.append(f"out={out_channels} is not a multiple of {OUT_MULTIPLE}")
    if in_channels % IN_MULTIPLE:
        problems.append(f"in={in_channels} is not a multiple of {IN_MULTIPLE}")
    return "; ".join(problems)


def torch_layer_eligibility(name: str, module) -> Eligibility | None:
    """Eligibility of a PyTorch module, or None when it is not a weighted layer at all (ReLU, pooling, ...)."""
    kind = type(module).__name__
    weight = getattr(module, "weight", None)
    if kind in TRANSPOSED_KINDS and weight is not None:
        return Eligibility(name, kind, None, None, False, "transposed conv: not pruned (no 2:4 rule for it here)")
    if kind not in TORCH_KINDS or weight is None or weight.dim() < 2:
        return None
    out_c, in_c = int(weight.shape[0]), int(weight.shape[1])  # conv weight is [K, C/groups, *kernel]
    reason = shape_reason(out_c, in_c, int(getattr(module, "groups", 1)))
    return Eligibility(name, kind, out_c, in_c, not reason, reason)


def check_patterns_match(patterns: Sequence[str] | None, names: Iterable[str], option: str) -> None:
    """Raise InputError naming the first pattern that matches no layer (a typo must not prune silently nothing)."""
    names = list(names)
    for pattern in patterns or ():
        if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
            shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
            raise InputError(f"{option} pattern {pattern!r} matches no weighted layer",
                             hint=f"layer names are: {shown or 'none'}")


def apply_patterns(verdict: Eligibility, include: Sequence[str] | None, exclude: Sequence[str] | None) -> Eligibility:
    """Rule 4: narrow an eligible verdict by the user's include / exclude patterns."""
    if not verdict.eligible:
        return verdict
    if include and not any(fnmatch.fnmatchcase(verdict.name, p) for p in include):
        return _replace(verdict, "not matched by --include")
    hit = next((p for p in exclude or () if fnmatch.fnmatchcase(verdict.name, p)), None)
    if hit:
        return _replace(verdict, f"excluded by pattern {hit!r}")
    return verdict


def _replace(verdict: Eligibility, reason: str) -> Eligibility:
    return Eligibility(verdict.name, verdict.kind, verdict.out_channels, verdict.in_channels, False, reason)


def torch_eligibility(model, include: Sequence[str] | None = None,
                      exclude: Sequence[str] | None = None) -> list[Eligibility]:
    """Every weighted layer of ``model`` with its verdict, in module order; bad patterns raise InputError."""
    verdicts = [v for name, m in model.named_modules() if (v := torch_layer_eligibility(name, m)) is not None]
    names = [v.name for v in verdicts]
    check_patterns_match(include, names, "--include")
    check_patterns_match(exclude, names, "--exclude")
    return [apply_patterns(v, include, exclude) for v in verdicts]
