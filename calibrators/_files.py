"""Atomic text writes for calibrators' files (no jetsonkit import: this package stands alone)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it: never a half-written file under ``path``.

    The file gets the usual umask-based mode (mkstemp alone would leave it readable by its owner only).
    """
    path = Path(path)
    # ".<name>.<8 random>.tmp" cut to the file system's NAME_MAX, so a legal 255-byte name stays writable
    try:
        limit = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    stem = os.fsencode(path.name)[:max(limit - 14, 0)].decode("utf-8", errors="ignore")
    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="\n") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:  # disk full, read-only: name the final path, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
