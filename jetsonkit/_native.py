"""Native libraries' chatter: the informational lines C/C++ code prints straight to file descriptor 2.

LiteRT prints ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` from C++ when an interpreter first applies
its default delegate (once per process, at ``allocate_tensors``); no environment variable or Python API of
ai-edge-litert 2.3 turns it off (``TF_CPP_MIN_LOG_LEVEL`` does not reach TFLite's minimal logger). Library code
wraps such calls in :func:`chatter`, which does nothing by itself: the library never touches file descriptors.
The application decides: the ``jetsonkit`` process installs a guard (:func:`set_guard`) that discards fd 2 for the
duration of those calls only (errors still arrive, as the Python exceptions LiteRT raises with their text).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator

__all__ = ["chatter", "set_guard"]

_guard: Callable[[], ContextManager] | None = None


def set_guard(guard: Callable[[], ContextManager] | None) -> None:
    """Run every :func:`chatter` block inside ``guard()`` (None: as is); returns nothing, replaces the previous."""
    global _guard
    _guard = guard


@contextlib.contextmanager
def chatter() -> Iterator[None]:
    """A block of native calls known to print informational lines on fd 2 (see the module docstring)."""
    if _guard is None:
        yield
        return
    with _guard():
        yield
