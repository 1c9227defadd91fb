"""An advisory lock on an output folder, so that two runs never write one folder at the same time.

``<folder>/.jetsonkit.lock`` holds the owner's pid, host and start time (JSON) and is ``flock``-ed while the run
lasts. A second run finds the lock held and stops with the owner's pid before writing anything. The kernel drops a
``flock`` when its process dies, however it dies (kill -9 included), so a lock file left by a dead run is stale by
construction: the next run takes it over and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Iterator

from ._progress import warn
from .errors import InputError

__all__ = ["LOCK_NAME", "folder_lock"]

LOCK_NAME = ".jetsonkit.lock"


def _owner(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        owner = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _describe(owner: dict) -> str:
    if not owner:
        return "another jetsonkit run"
    return f"jetsonkit pid {owner.get('pid')} on {owner.get('host')} (started {owner.get('started')})"


def _acquire(path: Path) -> tuple[int, dict]:
    """(fd holding the flock on ``path``, the previous owner's record if the file was left by a dead run)."""
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise InputError(f"output folder {str(path.parent)!r} is in use by {_describe(owner)}",
                             hint="wait for that run to finish, or choose another -o") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file the previous owner unlinked while we waited for it
            return fd, _owner(fd)
        os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of ``folder`` (which must exist) for the ``with`` block; InputError when another run holds it.
    A lock file left by a run that died is taken over with a warning naming its pid."""
    path = Path(folder) / LOCK_NAME
    fd, stale = _acquire(path)
    try:
        if stale:
            warn(f"taking over the lock of {str(folder)!r} from {_describe(stale)}, which is no longer running; "
                 "its unfinished stages run again")
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(record).encode("utf-8"))
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
