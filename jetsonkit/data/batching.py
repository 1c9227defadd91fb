"""Model-sized batches: a model with a static batch axis gets exactly that many samples a run.

A static batch-1 model (the usual Jetson export) calibrates from an N-sample ``.npy`` by splitting it into N runs
of one sample, as ONNX Runtime's ``quantize_static`` data readers and TensorRT Model Optimizer do; a static batch
of B gets runs of B (a last, partial batch is left out and reported). A dynamic batch axis takes ``batch_size``
samples a run (default 32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from .._progress import warn
from ..errors import DataError, UsageError
from .inputs import InputInfo, check_batch

__all__ = ["DataStream", "model_batch", "stream_batches", "check_max_samples", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 32


@dataclass
class DataStream:
    """Batches as ``{input name: array}``, checked against the model inputs; ``total`` is the number of samples
    they hold when known in advance."""

    batches: Iterable[dict]
    total: int | None
    label: str
    batch_size: int

    def __iter__(self) -> Iterator[dict]:
        return iter(self.batches)


def check_max_samples(max_samples: int | None) -> None:
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 1):
        raise UsageError(f"--max-samples {max_samples} must be an integer >= 1",
                         hint="leave it out to use every sample")


def model_batch(inputs: Sequence[InputInfo], batch_size: int | None) -> tuple[int, bool]:
    """(samples a run, whether the model fixes it). An explicit ``batch_size`` that contradicts a static batch
    axis is refused with the size that works."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise UsageError(f"--batch-size {batch_size} must be an integer >= 1", hint="e.g. --batch-size 32")
    static = {i.static_batch for i in inputs} - {None}
    if len(static) > 1:
        raise DataError(f"the model's inputs fix different batch sizes ({sorted(static)})",
                        hint="export the model with one batch size for every input")
    if not static:
        return batch_size or DEFAULT_BATCH_SIZE, False
    fixed = static.pop()
    if batch_size not in (None, fixed):
        raise DataError(f"--batch-size {batch_size} does not fit the model's static batch size {fixed}",
                        hint=f"use --batch-size {fixed}, or leave it out (the data is split into batches of {fixed})")
    return fixed, True


def _name(chunk: dict, inputs: Sequence[InputInfo]) -> dict:
    if len(inputs) == 1 and "" in chunk:
        return {inputs[0].name: chunk[""], **{k: v for k, v in chunk.items() if k != ""}}
    return chunk


def _rebatch(chunks: Iterator[dict], size: int) -> Iterator[tuple[dict, int]]:
    """Exactly ``size`` samples a batch, with the count of samples dropped at the end as the last item's second
    value (every other item: 0)."""
    held: list[dict] = []
    count = 0
    for chunk in chunks:
        n = len(next(iter(chunk.values())))
        if not held and n == size:
            yield chunk, 0
            continue
        held.append(chunk)
        count += n
        while count >= size:
            merged = {k: np.concatenate([c[k] for c in held]) for k in held[0]}
            yield {k: v[:size] for k, v in merged.items()}, 0
            count -= size
            held = [{k: v[size:] for k, v in merged.items()}] if count else []
    if count:
        yield {}, count


def stream_batches(source, inputs: Sequence[InputInfo], *, batch_size: int | None = None,
                   max_samples: int | None = None) -> DataStream:
    """Model-sized, checked batches of ``source`` (see the module docstring)."""
    check_max_samples(max_samples)
    size, exact = model_batch(inputs, batch_size)
    label = source.label
    total = source.total if max_samples is None or source.total is None else min(source.total, max_samples)
    if total == 0:
        raise DataError(f"data {label!r} is empty (0 samples)", hint="give at least one sample")
    if exact and total is not None:
        if total < size:
            raise DataError(f"data {label!r} has {total} samples, fewer than the model's static batch size {size}",
                            hint="give more samples, or export the model with a dynamic batch axis")
        total -= total % size

    def checked() -> Iterator[dict]:
        seen = 0
        for index, chunk in enumerate(source.chunks(size, inputs)):
            chunk = check_batch(_name(chunk, inputs), inputs, index, label, free_batch=True, offset=seen)
            n = len(next(iter(chunk.values())))
            if max_samples is not None and seen + n > max_samples:
                chunk, n = {k: v[:max_samples - seen] for k, v in chunk.items()}, max_samples - seen
            seen += n
            if n:
                yield chunk
            if max_samples is not None and seen >= max_samples:
                return

    def batches() -> Iterator[dict]:
        if not exact:
            yield from checked()
            return
        produced = 0
        for batch, dropped in _rebatch(checked(), size):
            if dropped:
                if not produced:
                    raise DataError(f"data {label!r} has {dropped} samples, fewer than the model's static batch "
                                    f"size {size}", hint="give more samples, or export with a dynamic batch axis")
                warn(f"{label}: the last {dropped} samples do not fill a batch of {size} (the model's static "
                     f"batch size) and are left out")
                return
            produced += 1
            yield batch

    return DataStream(batches(), total, label, size)
