"""Files in, files out: atomic writes and content hashes shared by every stage."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import InputError


def check_output_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """Return ``path`` as a Path, or raise InputError when its folder does not exist, it is a folder itself, or it
    is one of ``inputs`` (writing there would replace the file being read)."""
    p = Path(path)
    for source in inputs:
        if source is not None and Path(source).exists() and p.exists() and os.path.samefile(source, p):
            raise InputError(f"output {str(p)!r} is the input file {str(source)!r}; writing it would replace it",
                             hint="choose another -o")
    if p.is_dir():
        raise InputError(f"output {str(p)!r} is an existing folder, not a file path",
                         hint=f"name a file inside it, e.g. {str(p / 'out')!r}, or choose another -o")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(
            f"output folder {str(parent)!r} of {str(p)!r} does not exist", hint=f"create it first: mkdir -p {parent}"
        )
    return p


_ARTIFACT_SUFFIXES = (".onnx", ".tflite", ".engine", ".plan", ".pt", ".pth", ".pt2", ".json", ".npz", ".npy",
                      ".yaml", ".yml", ".toml", ".cache")


def check_output_suffix(path: str | os.PathLike, wanted: tuple[str, ...], what: str) -> None:
    """InputError when ``path`` ends in another artifact's suffix (a .tflite named .onnx: every loader picks the
    format from the suffix, so that file could not be opened). Unknown suffixes and none at all are accepted."""
    suffix = Path(path).suffix.lower()
    if suffix in _ARTIFACT_SUFFIXES and suffix not in wanted:
        raise InputError(f"output {str(path)!r} would be {what} named {suffix}",
                         hint=f"name it {Path(path).with_suffix(wanted[0]).name}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failure (or a crash) never leaves a half-written file under the final name.
    """
    final = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent if str(final.parent) else ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files; give the artifact the usual umask-based mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: object) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
