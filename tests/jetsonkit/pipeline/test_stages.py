"""Content-hashed, resumable stages: reuse when nothing changed, rerun when an input or an output changed."""

from __future__ import annotations

import json

import pytest

from jetsonkit._io import write_text_atomic
from jetsonkit.pipeline.stages import StageStore


def _stage(store, src, calls, settings=None):
    def work():
        calls.append(1)
        write_text_atomic(store.out_dir / "out.txt", src.read_text().upper())
        return {"chars": len(src.read_text())}

    return store.run("upper", settings or {"mode": "upper"}, [src], ["out.txt"], work)


def test_reused_when_nothing_changed(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    calls = []
    assert _stage(StageStore(tmp_path / "o"), src, calls) == {"chars": 3}
    store = StageStore(tmp_path / "o")
    assert _stage(store, src, calls) == {"chars": 3}
    assert len(calls) == 1 and [r.status for r in store.log] == ["reused"]


def test_rerun_when_input_settings_or_output_change(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    calls = []
    _stage(StageStore(tmp_path / "o"), src, calls)
    src.write_text("abcd")  # input content changed
    assert _stage(StageStore(tmp_path / "o"), src, calls) == {"chars": 4} and len(calls) == 2
    _stage(StageStore(tmp_path / "o"), src, calls, settings={"mode": "other"})  # settings changed
    assert len(calls) == 3
    (tmp_path / "o" / "out.txt").write_text("tampered")  # output no longer what the manifest recorded
    _stage(StageStore(tmp_path / "o"), src, calls, settings={"mode": "other"})
    assert len(calls) == 4 and (tmp_path / "o" / "out.txt").read_text() == "ABCD"
    _stage(StageStore(tmp_path / "o", force=True), src, calls, settings={"mode": "other"})
    assert len(calls) == 5


def test_interrupted_stage_leaves_no_manifest_and_no_half_file(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    store = StageStore(tmp_path / "o")

    def interrupted():
        from jetsonkit._io import atomic_path

        with atomic_path(store.out_dir / "out.txt") as tmp:
            tmp.write_text("AB")  # half of the work, then Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.run("upper", {"mode": "upper"}, [src], ["out.txt"], interrupted)
    assert not (tmp_path / "o" / "out.txt").exists()
    assert not (tmp_path / "o" / "stages" / "upper.json").exists()
    assert not list((tmp_path / "o").glob(".out.txt.*"))
    calls = []
    _stage(StageStore(tmp_path / "o"), src, calls)
    assert calls == [1]
    manifest = json.loads((tmp_path / "o" / "stages" / "upper.json").read_text())
    assert set(manifest) >= {"key", "outputs", "result"} and list(manifest["outputs"]) == ["out.txt"]


def test_same_stage_twice_in_one_run_runs_once(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("abc")
    store, calls = StageStore(tmp_path / "o"), []
    _stage(store, src, calls)
    _stage(store, src, calls)
    assert calls == [1] and [r.status for r in store.log] == ["ran"]
