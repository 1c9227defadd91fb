"""Keep 2:4 masks in force while the user trains: re-apply after every optimizer step, or mask gradients.

NVIDIA ASP keeps the masks fixed during fine-tuning (Mishra et al. 2021, arXiv:2104.08378, section 3): the pruned
weights stay zero and the kept weights train. :class:`MaskSet` does that for any training loop::

    masks = prune_2to4(model).masks
    handle = masks.attach(optimizer)      # after each optimizer.step() the masks are re-applied
    ...  your own loop ...
    handle.remove()

``attach`` covers optimizers with momentum / weight decay (which move zero weights even with a zero gradient);
``mask_gradients`` only zeroes the gradients, which is enough for plain SGD without weight decay.
"""

from __future__ import annotations

from typing import Iterator

from .._deps import require
from ..errors import CheckFailed


class _Handles:
    """Removes a list of torch hook handles at once."""

    def __init__(self, handles: list):
        self._handles = handles

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


class MaskSet:
    """Boolean 2:4 masks per layer name, bound to the layers' ``weight`` parameters."""

    def __init__(self, modules: dict, masks: dict):
        self._modules = dict(modules)  # name -> nn.Module
        self._masks = dict(masks)  # name -> torch.bool tensor, weight's shape

    @classmethod
    def from_nonzeros(cls, model, layer_names) -> "MaskSet":
        """Rebuild masks from the non-zero pattern of already-pruned weights (e.g. after loading a checkpoint)."""
        mods = dict(model.named_modules())
        return cls({n: mods[n] for n in layer_names}, {n: mods[n].weight.detach() != 0 for n in layer_names})

    @property
    def layer_names(self) -> list[str]:
        return list(self._masks)

    def mask(self, name: str):
        return self._masks[name]

    def __len__(self) -> int:
        return len(self._masks)

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def apply(self) -> None:
        """Zero every masked-out weight in place (no autograd record)."""
        torch = require("torch", purpose="2:4 masks")
        with torch.no_grad():
            for name, mask in self._masks.items():
                weight = self._modules[name].weight
                weight.mul_(mask.to(device=weight.device, dtype=weight.dtype))

    def attach(self, optimizer) -> _Handles:
        """Re-apply the masks after every ``optimizer.step()``; returns a handle with ``.remove()``."""
        handle = optimizer.register_step_post_hook(lambda opt, args, kwargs: self.apply())
        return _Handles([handle])

    def mask_gradients(self) -> _Handles:
        """Multiply each masked weight's gradient by its mask during backward; returns a handle with ``.remove()``."""
        handles = []
        for name, mask in self._masks.items():
            weight = self._modules[name].weight
            handles.append(weight.register_hook(lambda g, m=mask: g * m.to(device=g.device, dtype=g.dtype)))
        return _Handles(handles)

    def violations(self) -> list[str]:
        """Names of layers with a non-zero weight where the mask says zero (the masks were lost)."""
        bad = []
        for name, mask in self._masks.items():
            if bool((self._modules[name].weight.detach()[~mask.to(self._modules[name].weight.device)] != 0).any()):
                bad.append(name)
        return bad

    def verify(self) -> None:
        """Raise CheckFailed naming the layers whose weights no longer respect their masks."""
        bad = self.violations()
        if bad:
            raise CheckFailed(f"2:4 masks lost in {len(bad)} layer(s): {', '.join(bad)}",
                              hint="re-apply them with MaskSet.apply() / attach(optimizer) during training")
