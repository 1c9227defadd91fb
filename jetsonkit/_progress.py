"""Progress and messages for long work, silenced by ``--quiet`` / ``--json``.

Library code reports through :func:`progress` and :func:`info`; the CLI decides whether anything is shown.
Output goes to stderr so that ``--json`` keeps stdout machine-readable.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    return _state["quiet"]


def info(message: str) -> None:
    """One line of human-readable status on stderr (nothing when quiet)."""
    if not _state["quiet"]:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning line on stderr; shown even when quiet, since it may change what the user does."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


def progress(items: Iterable[T], label: str, total: int | None = None, every: float | None = None) -> Iterator[T]:
    """Yield ``items`` while printing ``label i/total (rate)`` on stderr at most every ``every`` seconds.

    On a terminal the line redraws in place every 0.5 s; in a log (CI) a new line is written every 10 s, plus the last.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start = last = time.perf_counter()
    i = 0
    tty = sys.stderr.isatty()
    if every is None:
        every = 0.5 if tty else 10.0
    for i, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if not _state["quiet"] and (now - last >= every or (total is not None and i == total)):
            last = now
            of = f"/{total}" if total else ""
            rate = i / max(now - start, 1e-9)
            end = "\r" if tty and (total is None or i < total) else "\n"
            print(f"{label} {i}{of} ({rate:.1f}/s)", end=end, file=sys.stderr, flush=True)
    if not _state["quiet"] and tty and total is not None and i and i < total:
        print(file=sys.stderr)


@contextlib.contextmanager
def fd_discarded(fd: int) -> Iterator[None]:
    """Point file descriptor ``fd`` (1 or 2) at /dev/null for the block: native code (C++ in torch's exporter,
    LiteRT) writes there directly, past Python's sys.stdout / sys.stderr. Without a real fd, nothing is redirected."""
    stream = sys.stdout if fd == 1 else sys.stderr
    try:
        stream.flush()
        saved = os.dup(fd)
    except (OSError, ValueError):  # no real fd (embedded interpreters): nothing to redirect
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """While quiet, discard what native libraries print on stderr (e.g. LiteRT's "INFO: Created TensorFlow Lite
    XNNPACK delegate"); errors they raise as Python exceptions still propagate."""
    if not _state["quiet"]:
        yield
        return
    with fd_discarded(2):
        yield
