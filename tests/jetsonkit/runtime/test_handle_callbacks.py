"""add_done_callback on a poll-only handle (the TensorRT kind: a CUDA event polled, no future): the shared
watcher thread fires it once the request is done, errors included."""

from __future__ import annotations

import threading

import numpy as np

from jetsonkit.errors import BackendError
from jetsonkit.runtime import InferHandle


def _event_handle(result=None, error=None):
    ready = threading.Event()

    def finish(timeout):
        if not ready.wait(timeout):
            raise TimeoutError("not yet")
        if error is not None:
            raise error
        return result

    return InferHandle(poll=ready.is_set, finish=finish, label="gpu slot 0"), ready


def test_poll_only_handle_fires_its_callback_from_the_watcher_once_done():
    handle, ready = _event_handle({"y": np.arange(3)})
    fired, seen = threading.Event(), []
    handle.add_done_callback(lambda h: (seen.append((h.wait()["y"].sum(), threading.current_thread().name)),
                                        fired.set()))
    assert not fired.wait(0.05) and seen == []  # not before the request is done
    ready.set()
    assert fired.wait(5)
    assert seen == [(3, "jetsonkit-callbacks")]


def test_poll_only_handle_already_done_fires_at_once_and_errors_reach_the_callback():
    handle, ready = _event_handle(error=RuntimeError("illegal address"))
    ready.set()
    errors = []

    def done(h):
        try:
            h.wait()
        except BackendError as exc:
            errors.append(str(exc))

    handle.add_done_callback(done)
    assert errors == ["inference on gpu slot 0 failed: RuntimeError: illegal address"]
