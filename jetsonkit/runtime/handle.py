"""The handle ``Runtime.infer_async`` returns, the same type for every backend.

CPU backends (ONNX Runtime, LiteRT) run the request on the Runtime's worker thread and the handle wraps a
``concurrent.futures.Future``; the TensorRT backend records a CUDA event after the copy-out and the handle polls /
synchronises that event. Either way:

- ``done()`` is True once the outputs are ready (never blocks);
- ``wait(timeout=None)`` blocks, then returns the outputs dict; it is **idempotent**: waiting again returns the very
  same dict (the outputs are copied out of reusable buffers exactly once, on the first wait); an error raised by
  the request is raised again by every ``wait()``;
- ``outputs`` is ``wait()`` as a property;
- ``add_done_callback(fn)`` calls ``fn(handle)`` once the request has finished (or failed), on the thread that
  finished it (CPU backends: the Runtime's worker; TensorRT: one shared watcher thread), or at once on the caller's
  thread when it is already done. ``fn`` may call ``handle.wait()`` (it returns without blocking); an exception
  from ``fn`` is logged, never raised into the backend.
- ``geometry``: for ``infer_frame_async`` handles, where the frame landed in the network input (else None).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as _FutureTimeout
from typing import Callable

import numpy as np

from ..errors import BackendError, JetsonkitError

Outputs = dict[str, np.ndarray]
log = logging.getLogger(__name__)


class _Watcher:
    """One daemon thread that waits for poll-only handles (TensorRT events) and runs their callbacks, in order."""

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def watch(self, handle: "InferHandle") -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="jetsonkit-callbacks", daemon=True)
                self._thread.start()
        self._queue.put(handle)

    def _run(self) -> None:
        while True:
            handle = self._queue.get()
            try:
                handle.wait()
            except BaseException:  # noqa: BLE001 - the error is kept by the handle; the callback sees it on wait()
                pass
            handle._fire()


_WATCHER = _Watcher()


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
        self._callbacks: list[Callable[["InferHandle"], None]] = []
        self._fired = False
        self._future: Future | None = None
        self.geometry = None

    @classmethod
    def from_future(cls, future: Future, label: str = "") -> "InferHandle":
        def finish(timeout: float | None) -> Outputs:
            try:
                return future.result(timeout)
            except _FutureTimeout as exc:
                raise TimeoutError(f"inference on {label} not finished after {timeout} s") from exc

        handle = cls(poll=future.done, finish=finish, label=label)
        handle._future = future
        return handle

    def add_done_callback(self, fn: Callable[["InferHandle"], None]) -> None:
        """Call ``fn(self)`` once the request is done (see the module docstring)."""
        if not callable(fn):
            raise TypeError(f"add_done_callback needs a callable, got {type(fn).__name__}")
        with self._lock:
            if not self._fired:
                self._callbacks.append(fn)
                first = len(self._callbacks) == 1
                fn = None
        if fn is not None:  # already fired: run it here, now
            self._call(fn)
        elif first:
            if self._future is not None:
                self._future.add_done_callback(lambda _f: self._fire())
            elif self.done():
                try:
                    self.wait()
                except BaseException:  # noqa: BLE001 - kept by the handle; the callback sees it on wait()
                    pass
                self._fire()
            else:
                _WATCHER.watch(self)

    def _fire(self) -> None:
        with self._lock:
            if self._fired:
                return
            self._fired = True
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._call(fn)

    def _call(self, fn: Callable[["InferHandle"], None]) -> None:
        try:
            fn(self)
        except Exception:  # noqa: BLE001 - a callback's bug must not kill the backend's worker thread
            log.exception("done callback %r of %s raised", fn, self._label)

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
