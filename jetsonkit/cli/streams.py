"""What the CLI process shows: the ``jetsonkit`` logger's handler, and the native libraries' own output.

Only the command line decides this; the library only logs. :func:`configure_logging` installs one handler on
stderr (INFO lines, ``warning: ...``; WARNING and up with ``--quiet`` / ``--json``). :func:`native_output` is
applied by :func:`jetsonkit.cli.console_main` alone -- the real process -- around the command: C/C++ code (LiteRT's
"INFO: Created TensorFlow Lite XNNPACK delegate", torch's exporter dumps) writes to file descriptors 1 and 2 past
Python, so with ``--quiet`` fd 2 goes to /dev/null (Python's own stderr keeps a copy of the terminal: warnings
and the error line still show), and with ``--json`` fd 1 goes to stderr (stdout holds the JSON object alone). Without ``--quiet`` the native
calls the library marks as chatter (:mod:`jetsonkit._native`: LiteRT's XNNPACK INFO line) run with fd 2 discarded,
for those calls only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import Iterator

__all__ = ["configure_logging", "native_output"]


class _StderrHandler(logging.Handler):
    """Writes each record to the current ``sys.stderr`` (so a test's capture sees it), ``end`` from the record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            prefix = "warning: " if record.levelno >= logging.WARNING else ""
            sys.stderr.write(prefix + record.getMessage() + getattr(record, "end", "\n"))
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)


def configure_logging(quiet: bool) -> None:
    """One handler on the ``jetsonkit`` logger (replacing the one a previous call installed)."""
    logger = logging.getLogger("jetsonkit")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    logger.addHandler(_StderrHandler())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


@contextlib.contextmanager
def native_output(quiet: bool, as_json: bool) -> Iterator[None]:
    """Redirect fds 1 / 2 of this process for the block (see the module docstring); a no-op without real fds."""
    from .. import _native

    with contextlib.ExitStack() as stack:
        if as_json:
            stack.enter_context(_fd_pointed(1, 2))
        if quiet:
            stack.enter_context(_stderr_kept_fd_discarded())
        else:
            _native.set_guard(_stderr_kept_fd_discarded)
            stack.callback(_native.set_guard, None)
        yield


@contextlib.contextmanager
def _fd_pointed(fd: int, target: int) -> Iterator[None]:
    try:
        sys.stdout.flush()
        saved = os.dup(fd)
    except (OSError, ValueError, io.UnsupportedOperation):
        yield
        return
    try:
        os.dup2(target, fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def _stderr_kept_fd_discarded() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, io.UnsupportedOperation):
        yield
        return
    python_stderr = sys.stderr
    sys.stderr = open(saved, "w", buffering=1, closefd=False)  # Python's writes still reach the terminal
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        sys.stderr.close()
        sys.stderr = python_stderr
        os.close(saved)
