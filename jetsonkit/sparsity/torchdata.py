"""Numpy arrays to training batches, and top-1 of a PyTorch model — the glue the CLI and tests need."""

from __future__ import annotations

import numpy as np

from .._deps import require
from ..errors import DataError


def batches(x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 64, shuffle: bool = True, seed: int = 0):
    """A re-iterable DataLoader of ``(x, y)`` (or ``(x,)`` without labels) float32 / int64 torch batches."""
    torch = require("torch", purpose="fine-tuning data")
    x = np.asarray(x)
    if x.ndim < 2 or len(x) == 0:
        raise DataError(f"fine-tuning data of shape {x.shape} is empty or has no batch axis",
                        hint="give x as [N, ...] with N > 0")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"fine-tuning inputs are {x.dtype}, not floating point", hint="convert to float32")
    tensors = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))]
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"fine-tuning labels of shape {y.shape} / {y.dtype} do not fit inputs of shape {x.shape}",
                            hint="labels must be integer class indices, one per input")
        tensors.append(torch.from_numpy(y.astype(np.int64)))
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=batch_size,
                                       shuffle=shuffle, generator=gen)


def top1(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy of a PyTorch model on arrays (eval mode, no grad)."""
    torch = require("torch", purpose="evaluating a PyTorch model")
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out = model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)))
            correct += int((out.argmax(1).numpy() == y[i:i + batch_size]).sum())
    return correct / max(len(x), 1)
