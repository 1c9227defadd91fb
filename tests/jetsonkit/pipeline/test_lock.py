"""Two runs never write one output folder at once: the second stops with the owner's pid before writing anything;
a lock left by a run that died is taken over with a note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jetsonkit._lock import LOCK_NAME, folder_lock
from jetsonkit.cli import main
from jetsonkit.errors import InputError

REPO = Path(__file__).resolve().parents[3]
HOLD = ("import sys, time; from jetsonkit._lock import folder_lock\n"
        "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")


@pytest.fixture
def held(tmp_path):
    """A real second process holding the lock of tmp_path/out."""
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_second_compress_into_a_held_folder_stops_before_writing(capsys, held):
    out, proc = held
    before = sorted(os.listdir(out))
    recipe = REPO / "jetsonkit" / "examples" / "mnist_recipe.yaml"
    assert main(["compress", str(recipe), "-o", str(out), "--target", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"output folder {str(out)!r} is in use by jetsonkit pid {proc.pid}" in err, err
    assert sorted(os.listdir(out)) == before == [LOCK_NAME]


def test_the_lock_is_released_and_removed(tmp_path):
    with folder_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(InputError, match="is in use by jetsonkit pid"):
            with folder_lock(tmp_path):  # a second holder, even in the same process (a new open file)
                pass
    assert list(tmp_path.iterdir()) == []
    with folder_lock(tmp_path):
        pass


def test_a_stale_lock_from_a_dead_process_is_taken_over_with_a_note(capsys, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": "h", "started": "then"}))
    with folder_lock(tmp_path) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert f"taking over the lock of {str(tmp_path)!r} from jetsonkit pid {pid}" in err, err
