"""2:4 magnitude pruning of a PyTorch model: pick the eligible layers, optionally permute channels, apply masks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from .._deps import require
from ..errors import CheckFailed, InputError
from . import masks as _masks
from .eligibility import torch_eligibility
from .keep import MaskSet
from .permute import PermutationInfo, permute_for_2to4


@dataclass
class LayerResult:
    """One weighted layer after pruning: verdict, and for pruned layers the kept magnitude and zero fraction."""

    name: str
    kind: str
    out_channels: int | None
    in_channels: int | None
    eligible: bool
    reason: str
    pruned: bool = False
    retained: float | None = None  # share of |W| kept by the mask, without permutation
    retained_permuted: float | None = None  # ... with the channel permutation (None when not searched)
    zero_fraction: float = 0.0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PruneResult:
    """What :func:`prune_2to4` did: one :class:`LayerResult` per weighted layer and the masks to keep."""

    layers: list[LayerResult]
    masks: MaskSet
    permutations: dict[str, PermutationInfo] = field(default_factory=dict)

    @property
    def pruned_layers(self) -> list[str]:
        return [r.name for r in self.layers if r.pruned]

    def as_dict(self) -> dict:
        return {"pattern": "2:4", "pruned_layers": self.pruned_layers, "layers": [r.as_dict() for r in self.layers],
                "permutations": {k: v.as_dict() for k, v in self.permutations.items()}}

    def _perm_note(self, name: str) -> str:
        p = self.permutations.get(name)
        if p is None:
            return ""
        return f"permuted with {p.producer} ({p.seconds:.1f} s)" if p.applied else f"not permuted: {p.reason}"

    def table(self) -> str:
        """A per-layer text table for people."""
        rows = [f"{'layer':<24} {'kind':<7} {'out':>5} {'in':>5} {'pruned':<6} {'kept|W|':>8} {'+perm':>7} {'zeros':>6}  note"]
        for r in self.layers:
            kept = f"{r.retained:.4f}" if r.retained is not None else "-"
            perm = f"{r.retained_permuted:.4f}" if r.retained_permuted is not None else "-"
            note = r.reason if not r.eligible else self._perm_note(r.name)
            rows.append(f"{r.name:<24} {r.kind:<7} {r.out_channels!s:>5} {r.in_channels!s:>5} "
                        f"{'yes' if r.pruned else 'no':<6} {kept:>8} {perm:>7} {r.zero_fraction:>6.3f}  {note}")
        return "\n".join(rows)


def prune_2to4(model, *, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
               permute: bool = False, example_input=None, permute_budget_s: float = 5.0) -> PruneResult:
    """Prune every eligible Conv / Linear of ``model`` in place to 2:4 by magnitude and return the masks.

    ``permute=True`` first reorders channels (needs ``example_input`` to trace the graph) so that the masks keep
    more magnitude; the model's function is unchanged by that step. Raises CheckFailed when no layer is eligible.
    """
    torch = require("torch", purpose="2:4 pruning")
    verdicts = torch_eligibility(model, include, exclude)
    targets = [v.name for v in verdicts if v.eligible]
    if not targets:
        reasons = "; ".join(f"{v.name}: {v.reason}" for v in verdicts) or "the model has no Conv/Linear layer"
        raise CheckFailed(f"no layer is eligible for 2:4 sparsity ({reasons})",
                          hint="2:4 needs Conv/Linear with out % 8 == 0, in % 16 == 0, groups == 1")
    mods = dict(model.named_modules())
    before = {n: _masks.retained_magnitude(mods[n].weight.detach().cpu().numpy()) for n in targets}
    perms: dict[str, PermutationInfo] = {}
    if permute:
        if example_input is None:
            raise InputError("prune_2to4(permute=True) needs example_input to trace the model",
                             hint="pass an input tensor of the model's shape, e.g. torch.zeros(1, 3, 224, 224)")
        perms = permute_for_2to4(model, example_input, targets, permute_budget_s)
    layer_masks = {}
    for name in targets:
        weight = mods[name].weight
        mask = _masks.mask_2to4(weight.detach().cpu().numpy(), axis=1)
        layer_masks[name] = torch.from_numpy(mask).to(weight.device)
    mask_set = MaskSet({n: mods[n] for n in targets}, layer_masks)
    mask_set.apply()
    results = []
    for v in verdicts:
        r = LayerResult(v.name, v.kind, v.out_channels, v.in_channels, v.eligible, v.reason)
        if v.eligible:
            r.pruned = True
            r.retained = before[v.name]
            r.retained_permuted = perms[v.name].retained_after if v.name in perms else None
        r.zero_fraction = _masks.zero_fraction(mods[v.name].weight.detach().cpu().numpy())
        results.append(r)
    return PruneResult(results, mask_set, perms)
