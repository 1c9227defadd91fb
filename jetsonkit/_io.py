"""Files in, files out: atomic writes and content hashes shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import secrets
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import EnvironmentFailure, InputError

# errors that say the machine refused, not that jetsonkit or the command line is wrong (exit 4)
ENVIRONMENT_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EFBIG,
                                errno.EIO, errno.EMFILE, errno.ENFILE})
_WRITE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def from_os_error(exc: OSError, path: object = None) -> InputError | EnvironmentFailure | None:
    """The jetsonkit error for an OSError that is not a bug: a name too long (exit 2, the user picks another) or the
    machine's refusal (exit 4: read-only, full, permission); None for any other OSError."""
    where = path if path is not None else exc.filename
    if exc.errno == errno.ENAMETOOLONG:
        return InputError(f"path {str(where)!r} has a name longer than the file system takes",
                          hint="choose a shorter name")
    if exc.errno in ENVIRONMENT_ERRNOS:
        return EnvironmentFailure.from_os_error(exc, where, "write" if exc.errno in _WRITE_ERRNOS else "open")
    return None


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name (in bytes) the file system of ``folder`` takes (255 on ext4, XFS, tmpfs)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_writable(folder: str | os.PathLike, what: str = "output folder") -> None:
    """EnvironmentFailure unless a file can be created in ``folder`` (a read-only mount, no permission, ``/proc``):
    called before long work, so a calibration or a fine-tune never runs only to fail at the end."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".jk-probe-", dir=folder)
    except OSError as exc:
        raise EnvironmentFailure(f"{what} {str(folder)!r} is not writable: {exc.strerror or exc}",
                                 hint="choose a folder you can write to") from exc
    os.close(fd)
    os.unlink(probe)


def check_name_length(path: str | os.PathLike) -> Path:
    """``path`` as a Path; InputError when its last name is longer than its folder's file system takes."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    limit = name_max(parent) if parent.is_dir() else 255
    size = len(os.fsencode(p.name))
    if size > limit:
        raise InputError(f"output name {p.name[:24]!r}... is {size} bytes, longer than the {limit} bytes a file "
                         f"name can have in {str(parent)!r}", hint="choose a shorter name")
    return p


def check_output_path(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """Return ``path`` as a Path, or raise InputError when its folder does not exist, it is a folder itself, its name
    is longer than the file system takes, or it is one of ``inputs`` (writing there would replace the file being
    read); EnvironmentFailure when its folder is not writable."""
    p = check_name_length(path)
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
    check_writable(parent)
    return p


def _temp_name(final: Path) -> str:
    """A hidden temporary name beside ``final`` that never exceeds NAME_MAX: ``.<final name, cut>.<8 hex>.tmp``."""
    tail = f".{secrets.token_hex(4)}.tmp"
    room = name_max(final.parent if str(final.parent) else ".") - 1 - len(tail)
    stem = os.fsencode(final.name)[:max(room, 0)].decode("utf-8", errors="ignore")
    return f".{stem}{tail}"


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
    tmp_path = final.parent / _temp_name(final)
    try:
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask-based mode
        yield tmp_path
        os.replace(tmp_path, final)
    except OSError as exc:
        mapped = from_os_error(exc, final)  # disk full, read-only, ...: name the final path, not the temp file
        if mapped is None:
            raise
        raise mapped from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def strict_json(obj: object) -> object:
    """``obj`` with every NaN / Infinity float replaced by None: JSON has no NaN, and a reader must see "missing"."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if type(obj).__module__ == "numpy" and hasattr(obj, "item"):  # numpy scalars
        return strict_json(obj.item())
    return obj


def write_json_atomic(path: str | os.PathLike, obj: object) -> Path:
    """Strict JSON (NaN / Infinity written as null), written atomically."""
    return write_text_atomic(path, json.dumps(strict_json(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def named_files(value: object) -> list[Path]:
    """The existing files (or folders) a command-line value names: a path, ``file.py:factory``, ``data.npz:key``,
    or a list of those."""
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in named_files(v)]
    if not isinstance(value, (str, os.PathLike)):
        return []
    text = os.fspath(value)
    candidates = [text, text.rpartition(":")[0], text.partition(":")[0]] if ":" in text else [text]
    return [Path(c) for c in dict.fromkeys(candidates) if c and os.path.exists(c)]


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting_inputs(outputs: dict[str, object], inputs: dict[str, object]) -> None:
    """InputError when an output (``{"-o": path}``) is one of the files an input names, or two outputs are one file:
    checked before any work, so no command ever replaces its own model, spec, weights, table, plan or data."""
    named = [(flag, value, p) for flag, value in inputs.items() for p in named_files(value)]
    seen: list[tuple[str, Path]] = []
    for flag, out in outputs.items():
        if out is None or not isinstance(out, (str, os.PathLike)):
            continue
        out = check_name_length(out)
        for in_flag, value, p in named:
            if _same(out, p):
                raise InputError(f"{flag} {str(out)!r} is the input {in_flag} {str(value)!r}; writing it would "
                                 "replace it", hint=f"choose another {flag}")
        for other_flag, other in seen:
            if _same(out, other):
                raise InputError(f"{flag} and {other_flag} both name {str(out)!r}; one would replace the other",
                                 hint=f"choose another {flag}")
        seen.append((flag, out))
