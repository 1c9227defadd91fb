"""The handle ``Runtime.infer_async`` returns, the same type for every backend.

CPU backends (ONNX Runtime, LiteRT) run the request on the Runtime's worker thread and the handle wraps a
``concurrent.futures.Future``; the TensorRT backend records a CUDA event after the copy-out and the handle polls /
synchronises that event. Either way:

- ``done()`` is True once the outputs are ready (never blocks);
- ``wait(timeout=None)`` blocks, then returns the outputs dict; it is **idempotent**: waiting again returns the very
  same dict (the outputs are copied out of reusable buffers exactly once, on the first wait); an error raised by
  the request is raised again by every ``wait()``;
- ``outputs`` is ``wait()`` as a property.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as _FutureTimeout
from typing import Callable

import numpy as np

from ..errors import BackendError, JetsonkitError

Outputs = dict[str, np.ndarray]


class InferHandle:
    """An inference in flight; see the module docstring for the wait/done contract."""

    def __init__(self, *, poll: Callable[[], bool], finish: Callable[[float | None], Outputs], label: str = ""):
        self._poll = poll
        self._finish = finish
        self._label = label
        self._lock = threading.Lock()
        self._result: Outputs | None = None
        self._error: BaseException | None = None
        self._settled = False

    @classmethod
    def from_future(cls, future: Future, label: str = "") -> "InferHandle":
        def finish(timeout: float | None) -> Outputs:
            try:
                return future.result(timeout)
            except _FutureTimeout as exc:
                raise TimeoutError(f"inference on {label} not finished after {timeout} s") from exc

        return cls(poll=future.done, finish=finish, label=label)

    def done(self) -> bool:
        """True when the outputs are ready (or the request failed); never blocks."""
        return self._settled or bool(self._poll())

    def wait(self, timeout: float | None = None) -> Outputs:
        """Block until the outputs are ready and return them (the same dict on every call)."""
        with self._lock:
            if not self._settled:
                try:
                    self._result = self._finish(timeout)
                except TimeoutError:
                    raise  # not settled: the caller may wait again
                except BaseException as exc:  # noqa: BLE001 - kept and re-raised on every wait
                    self._error = exc
                self._settled = True
        if self._error is not None:
            if isinstance(self._error, JetsonkitError):
                raise self._error
            raise BackendError(f"inference on {self._label} failed: {type(self._error).__name__}: {self._error}") \
                from self._error
        assert self._result is not None
        return self._result

    @property
    def outputs(self) -> Outputs:
        return self.wait()

    def __repr__(self) -> str:
        state = "done" if self.done() else "pending"
        return f"<InferHandle {self._label} {state}>"
