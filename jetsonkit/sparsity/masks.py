"""2:4 magnitude masks and pattern checks on plain numpy arrays (shared by the PyTorch and ONNX paths).

2:4 structured sparsity (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", arXiv:2104.08378):
in every group of 4 consecutive weights along the input-channel axis at most 2 are non-zero. The magnitude mask
keeps the 2 largest ``|w|`` of each group (ties: the lower index wins, so the mask is deterministic).
"""

from __future__ import annotations

import numpy as np

from .eligibility import GROUP, KEEP


def _groups(w: np.ndarray, axis: int) -> np.ndarray:
    """View ``w`` as ``[..., n_groups, 4]`` with the grouped axis last (a copy when the axis is moved)."""
    moved = np.moveaxis(np.asarray(w), axis, -1)
    if moved.shape[-1] % GROUP:
        raise ValueError(f"axis {axis} has {moved.shape[-1]} channels, not a multiple of {GROUP}")
    return moved.reshape(*moved.shape[:-1], moved.shape[-1] // GROUP, GROUP)


def mask_2to4(w: np.ndarray, axis: int = 1) -> np.ndarray:
    """Boolean mask of ``w``'s shape keeping the 2 largest magnitudes in every 4 along ``axis``."""
    g = _groups(w, axis)
    order = np.argsort(-np.abs(g), axis=-1, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :KEEP], True, axis=-1)
    moved_shape = np.moveaxis(np.asarray(w), axis, -1).shape
    return np.moveaxis(keep.reshape(moved_shape), -1, axis)


def holds_2to4(w: np.ndarray, axis: int = 1) -> bool:
    """True when every group of 4 along ``axis`` has at most 2 non-zeros."""
    return bool(((_groups(w, axis) != 0).sum(axis=-1) <= KEEP).all())


def bad_group_fraction(w: np.ndarray, axis: int = 1) -> float:
    """Fraction of groups of 4 along ``axis`` with more than 2 non-zeros (0.0 when the pattern holds)."""
    nz = (_groups(w, axis) != 0).sum(axis=-1)
    return float((nz > KEEP).mean()) if nz.size else 0.0


def zero_fraction(w: np.ndarray) -> float:
    w = np.asarray(w)
    return float((w == 0).mean()) if w.size else 0.0


def retained_magnitude(w: np.ndarray, axis: int = 1) -> float:
    """Share of the total ``|w|`` that the 2:4 magnitude mask keeps (1.0 for an all-zero weight)."""
    a = np.abs(np.asarray(w, dtype=np.float64))
    total = a.sum()
    return float((a * mask_2to4(a, axis)).sum() / total) if total else 1.0
