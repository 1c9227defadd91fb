"""Content-hashed, resumable stage outputs: a stage whose inputs did not change is not run again.

Each stage has a key: the SHA-256 of its name, the jetsonkit version, its settings and the SHA-256 of every input
file. After the stage ran, ``<out>/stages/<name>.json`` (the manifest) records that key, the SHA-256 of every file
it wrote and its JSON result; the manifest is written last and atomically. On the next run the stage is skipped
when its manifest has the same key and every output still has the recorded hash. A run interrupted inside a stage
leaves no manifest for it, so that stage (and only that stage) runs again; the stage functions write their files
through temporary names (``jetsonkit._io.atomic_path`` or the stage libraries' own atomic writes), so no file under
a final name is ever half-written. The idea is make's / DVC's: outputs are a pure function of hashed inputs.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__
from .._io import sha256_bytes, sha256_file, write_json_atomic
from .._progress import info

__all__ = ["StageStore", "StageRecord", "stage_key"]


@dataclass
class StageRecord:
    """What happened to one stage in this run: ``ran`` or ``reused`` (from a previous run).

    ``made`` is when the stage's outputs were written (UTC), by this run or by the one that is reused.
    """

    name: str
    status: str
    seconds: float
    outputs: dict[str, str] = field(default_factory=dict)  # file (relative to out) -> sha256
    made: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 3), "outputs": self.outputs,
                "made": self.made}


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def stage_key(name: str, settings: Any, inputs: list[Path]) -> str:
    """SHA-256 over the stage's name, jetsonkit's version, its settings (JSON) and its input files' hashes."""
    payload = {"stage": name, "jetsonkit": __version__, "settings": settings,
               "inputs": {p.name: sha256_file(p) for p in inputs}}
    return sha256_bytes(json.dumps(payload, sort_keys=True, default=str).encode())


def _plain_value(value: Any) -> Any:
    """numpy scalars / arrays and paths as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


class StageStore:
    """Runs stages into ``out_dir`` and remembers them in ``out_dir/stages/``; ``log`` lists what each did."""

    def __init__(self, out_dir: Path, *, force: bool = False,
                 on_stage: Callable[[StageRecord], None] | None = None):
        self.out_dir = Path(out_dir)
        self.dir = self.out_dir / "stages"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.force = force
        self.on_stage = on_stage
        self.log: list[StageRecord] = []
        self._this_run: dict[str, tuple[str, dict]] = {}  # name -> (key, result): a stage asked for twice runs once

    def _manifest(self, name: str) -> Path:
        return self.dir / f"{name.replace('/', '_')}.json"

    def _reusable(self, name: str, key: str) -> dict | None:
        path = self._manifest(name)
        if self.force or not path.is_file():
            return None
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if manifest.get("key") != key:
            return None
        for rel, digest in manifest.get("outputs", {}).items():
            f = self.out_dir / rel
            if not f.is_file() or sha256_file(f) != digest:
                return None
        return manifest

    def run(self, name: str, settings: Any, inputs: list[Path], outputs: list[str],
            fn: Callable[[], dict]) -> dict:
        """Return ``fn()``'s result, running it only if the key or an output changed.

        ``outputs`` are file names relative to the output folder that ``fn`` writes.
        """
        key = stage_key(name, settings, [Path(p) for p in inputs])
        if name in self._this_run and self._this_run[name][0] == key:
            return self._this_run[name][1]
        manifest = self._reusable(name, key)
        if manifest is not None:
            # manifests written before "made" was recorded: the manifest file's time is when the stage finished
            made = manifest.get("made") or _utc(self._manifest(name).stat().st_mtime)
            record = StageRecord(name, "reused", 0.0, manifest["outputs"], made)
            info(f"compress: {name}: up to date (reused from a previous run)")
            self._this_run[name] = (key, manifest["result"])
            self._done(record)
            return manifest["result"]
        info(f"compress: {name} ...")
        start = time.perf_counter()
        result = json.loads(json.dumps(fn(), default=_plain_value))
        seconds = time.perf_counter() - start
        hashes = {rel: sha256_file(self.out_dir / rel) for rel in outputs}
        made = _utc(time.time())
        write_json_atomic(self._manifest(name), {"stage": name, "key": key, "outputs": hashes,
                                                 "seconds": seconds, "made": made, "result": result})
        self._this_run[name] = (key, result)
        self._done(StageRecord(name, "ran", seconds, hashes, made))
        return result

    def _done(self, record: StageRecord) -> None:
        self.log.append(record)
        if self.on_stage is not None:
            self.on_stage(record)
