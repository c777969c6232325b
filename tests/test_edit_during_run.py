"""An edit made to ``.env`` by another program while fix or restore runs is refused, not lost.

Real subprocess runs; ``tests/faults/edit_during_run.py`` appends to the env file after envsync
has read it and written its backup, just before the replace (the hook
``files.atomic.before_replace``).
Each run must exit 2 with one line telling the operator to run again, leave the edited file
exactly as the other program left it, and leave no temp file and no new backup (a failed write
leaves none behind: it is not a state anything replaced).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envsync_hook.errors import EnvsyncError
from envsync_hook.files import atomic

EDIT = Path(__file__).parent / "faults" / "edit_during_run.py"
TEMPLATE = "HOST=localhost\nPORT=8080\nNEW=1\n"
ENV = "HOST=db.internal\nPORT=9090\nMINE=secret-value-1\n"
APPENDED = "DEPLOY_APPENDED=1\n"


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, str(EDIT), APPENDED, "--", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _setup(tmp_path: Path) -> Path:
    (tmp_path / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    env = tmp_path / ".env"
    env.write_text(ENV, encoding="utf-8")
    os.chmod(env, 0o600)
    return env


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.name.endswith(".envsync-tmp")]


def test_fix_refuses_an_edit_made_while_it_runs(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    proc = _run(tmp_path, "fix")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "changed while envsync fix ran" in lines[0] and "run envsync fix again" in lines[0]
    assert "secret-value-1" not in proc.stdout + proc.stderr
    # the other program's edit stands, nothing of the merge replaced it
    assert env.read_text(encoding="utf-8") == ENV + APPENDED
    # the backup made before the refused replace is gone (with its metadata)
    assert sorted((tmp_path / "env-backup").glob(".env.backup_*")) == []
    assert _leftovers(tmp_path) == []


def _backups(tmp_path: Path) -> list[Path]:
    found = (tmp_path / "env-backup").glob(".env.backup_*")
    return sorted(p for p in found if not p.name.endswith(".meta"))


def test_fix_without_an_edit_replaces(tmp_path: Path) -> None:
    """Control: the same run with nothing edited meanwhile writes the merge."""
    env = _setup(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "fix"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert env.read_text(encoding="utf-8").startswith("HOST=db.internal\nPORT=9090\nNEW=1\n")
    # the backup is exactly the text that was merged from
    assert [b.read_text(encoding="utf-8") for b in _backups(tmp_path)] == [ENV]


def test_restore_refuses_an_edit_made_while_it_runs(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    bdir = tmp_path / "env-backup"
    bdir.mkdir(mode=0o700)
    old = bdir / ".env.backup_20260101_000000"
    old.write_text("HOST=old\n", encoding="utf-8")
    os.chmod(old, 0o600)
    proc = _run(tmp_path, "restore")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "run envsync restore again" in proc.stderr
    assert env.read_text(encoding="utf-8") == ENV + APPENDED
    assert sorted(p.name for p in bdir.iterdir()) == [old.name]  # no new backup
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "text"])
@pytest.mark.parametrize("edit", ["append", "same size", "same size and mtime"])
def test_the_check_compares_content(tmp_path: Path, edit: str, as_text: bool) -> None:
    """In process: an edit of the same size, with the mtime put back, is still seen (what
    was read given as bytes, as restore has it, or as text, as fix has it)."""
    env = _setup(tmp_path)
    expect: str | bytes = env.read_text(encoding="utf-8") if as_text else env.read_bytes()
    st = os.stat(env)

    def change(path: Path) -> None:
        data = ENV + "X=1\n" if edit == "append" else ENV.replace("9090", "9091")
        path.write_text(data, encoding="utf-8")
        if edit == "same size and mtime":
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    atomic.before_replace = change
    try:
        with pytest.raises(EnvsyncError, match="changed while envsync fix ran"):
            atomic.atomic_write(env, "HOST=new\n", expect=expect)
    finally:
        atomic.before_replace = None
    assert env.read_text(encoding="utf-8") != ENV and b"HOST=new" not in env.read_bytes()
    assert _leftovers(tmp_path) == []
