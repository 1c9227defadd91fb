"""The pruned checkpoint: a plain dict that ``torch.load(path, weights_only=True)`` reads.

Layout::

    {"format": "jetsonkit-sparse/1", "pattern": "2:4",
     "sparse_layers": ["features.3", ...],      # layers whose weight must hold 2:4
     "state_dict": {...}, "meta": {...}}        # tensors; meta holds only str / int / float / bool / lists

The masks are the zero pattern of the listed weights; :func:`verify_state` fails (naming the layer) when a listed
weight no longer holds 2:4 — the sign that masks were lost, e.g. fine-tuning without re-applying them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._deps import require
from .._io import atomic_path
from ..errors import CheckFailed, ModelLoadError
from .masks import bad_group_fraction, holds_2to4

FORMAT = "jetsonkit-sparse/1"


def save_pruned(model, path: str | os.PathLike, sparse_layers: list[str], meta: dict | None = None) -> Path:
    """Write ``model``'s state and the list of 2:4 layers atomically; returns the path."""
    torch = require("torch", purpose="saving the pruned checkpoint")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "pattern": "2:4", "sparse_layers": list(sparse_layers), "state_dict": state,
               "meta": _plain(dict(meta or {}))}
    verify_state(payload, where=str(path))
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _plain(obj):
    """``obj`` with only the types ``weights_only`` loading accepts (paths and other objects become strings)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def load_pruned(path: str | os.PathLike, verify: bool = True) -> dict:
    """Read a pruned checkpoint with ``weights_only=True``; check its layout and (by default) its 2:4 layers."""
    torch = require("torch", purpose="loading the pruned checkpoint")
    import zipfile

    if Path(path).is_file() and not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{str(path)!r} is not a pruned checkpoint: not a torch zip archive (truncated or another "
                             f"format)", hint="it must be written by jetsonkit prune / save_pruned")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError as exc:
        raise ModelLoadError(f"pruned checkpoint {str(path)!r} does not exist", hint="check the path") from exc
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""  # torch's messages run to many lines
        raise ModelLoadError(f"cannot read pruned checkpoint {str(path)!r}: {type(exc).__name__}: {first}",
                             hint="it must be written by jetsonkit prune / save_pruned") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise ModelLoadError(f"{str(path)!r} is not a jetsonkit pruned checkpoint (no format {FORMAT!r})",
                             hint="write it with jetsonkit prune or jetsonkit.sparsity.save_pruned")
    if verify:
        verify_state(payload, where=str(path))
    return payload


def lost_mask_layers(payload: dict) -> dict[str, float]:
    """Listed layers whose weight breaks 2:4, with the fraction of groups of 4 that break it."""
    state, bad = payload["state_dict"], {}
    for layer in payload.get("sparse_layers", []):
        w = state.get(f"{layer}.weight")
        if w is None:
            bad[layer] = 1.0
            continue
        arr = w.float().numpy() if hasattr(w, "numpy") else np.asarray(w)
        if not holds_2to4(arr, axis=1):
            bad[layer] = bad_group_fraction(arr, axis=1)
    return bad


def verify_state(payload: dict, where: str = "checkpoint") -> None:
    """Raise CheckFailed naming each listed layer whose weight is missing or no longer 2:4."""
    bad = lost_mask_layers(payload)
    if bad:
        parts = ", ".join(f"{k} ({v:.1%} of groups of 4 have > 2 non-zeros)" for k, v in bad.items())
        raise CheckFailed(f"2:4 verification failed in {where}: masks lost in layer(s) {parts}",
                          hint="re-prune, or keep masks during training with MaskSet.attach(optimizer)")


def restore_pruned(model, path: str | os.PathLike):
    """Load a verified pruned checkpoint into ``model`` and return its :class:`MaskSet` (to keep training sparse)."""
    from .keep import MaskSet

    payload = load_pruned(path)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelLoadError(f"pruned checkpoint {str(path)!r} does not fit the model: {first}",
                             hint="build the same architecture the checkpoint was pruned from") from exc
    return MaskSet.from_nonzeros(model, payload["sparse_layers"])
