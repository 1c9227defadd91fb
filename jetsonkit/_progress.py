"""Messages and progress of long work, through the ``jetsonkit`` logger (:mod:`logging`).

Library code reports with :func:`info` (INFO), :func:`warn` (WARNING) and :func:`progress` (INFO lines); it never
prints and never touches file descriptors. What is shown is the application's choice: the CLI installs a handler
on stderr (INFO, or WARNING with ``--quiet`` / ``--json``, see :mod:`jetsonkit.cli.streams`); a program using the
library configures ``logging`` as it likes (``logging.getLogger("jetsonkit")``).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")

logger = logging.getLogger("jetsonkit")


def info(message: str) -> None:
    """One line of status (INFO)."""
    logger.info(message)


def warn(message: str) -> None:
    """A warning (WARNING): something that may change what the user does."""
    logger.warning(message)


def progress(items: Iterable[T], label: str, total: int | None = None, every: float | None = None) -> Iterator[T]:
    """Yield ``items`` while logging ``label i/total (rate)`` at most every ``every`` seconds (INFO).

    On a terminal the line redraws in place every 0.5 s (the record carries ``end="\r"``, which the CLI's handler
    honours); in a log (CI) a new line every 10 s, plus the last.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start = last = time.perf_counter()
    i = 0
    tty = sys.stderr.isatty()
    if every is None:
        every = 0.5 if tty else 10.0
    shown = logger.isEnabledFor(logging.INFO)
    for i, item in enumerate(items, 1):
        yield item
        now = time.perf_counter()
        if shown and (now - last >= every or (total is not None and i == total)):
            last = now
            of = f"/{total}" if total else ""
            rate = i / max(now - start, 1e-9)
            end = "\r" if tty and (total is None or i < total) else "\n"
            logger.info(f"{label} {i}{of} ({rate:.1f}/s)", extra={"end": end})
    if shown and tty and total is not None and i and i < total:
        logger.info("", extra={"end": "\n"})
