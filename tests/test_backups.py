"""Backups as the operator meets them, through real CLI runs: what made each one (fix or
restore), a second ``restore`` that goes further back instead of undoing the first, backup
directories shared by two deployments, backups of older versions (no metadata), a read-only
env file, and a write that fails after its backup was made (DESIGN.md section 7)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def write(path: Path, data: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8"))  # as given: no newline translation (3.9 has no newline=)
    os.chmod(path, mode)
    return path


def backups(bdir: Path, name: str = ".env") -> list[Path]:
    """The backup files (not their metadata), any order."""
    if not bdir.is_dir():
        return []
    return [
        p for p in bdir.iterdir() if p.name.startswith(f"{name}.backup_") and p.suffix != ".meta"
    ]


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def listed(cwd: Path, *args: str) -> list[str]:
    proc = run(cwd, "restore", "--list", *args)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.strip()]


def three_versions(tmp_path: Path) -> list[str]:
    """``.env`` through v0 -> v1 -> v2 by two fixes (each adds a key); the versions' texts."""
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    v0 = "A=mine-v0\n"
    write(tmp_path / ".env", v0)
    assert run(tmp_path, "fix").returncode == 1
    v1 = (tmp_path / ".env").read_text()
    write(tmp_path / ".env.example", "A=1\nB=2\nC=3\n")
    assert run(tmp_path, "fix").returncode == 1
    v2 = (tmp_path / ".env").read_text()
    assert len({v0, v1, v2}) == 3
    return [v0, v1, v2]


def test_restore_twice_goes_further_back_then_says_nothing_older(tmp_path: Path) -> None:
    v0, v1, v2 = three_versions(tmp_path)
    env = tmp_path / ".env"

    first = run(tmp_path, "restore")
    assert first.returncode == 0, first.stderr
    assert env.read_text() == v1

    second = run(tmp_path, "restore")  # not back to v2: to the state before v1
    assert second.returncode == 0, second.stderr
    assert env.read_text() == v0

    before = snapshot(tmp_path)
    third = run(tmp_path, "restore")
    assert third.returncode == 2
    assert len(third.stderr.splitlines()) == 1
    assert "nothing older to restore" in third.stderr
    assert "mine-v0" not in third.stderr + third.stdout
    assert snapshot(tmp_path) == before

    # every state is still in a backup: v2 in the one the first restore made
    contents = sorted(p.read_text() for p in backups(tmp_path / "env-backup"))
    assert contents == sorted([v0, v1, v2, v1])


def test_the_backup_a_restore_made_undoes_it(tmp_path: Path) -> None:
    _, v1, v2 = three_versions(tmp_path)
    assert run(tmp_path, "restore").returncode == 0
    newest = listed(tmp_path)[0]
    assert "made by restore" in newest
    proc = run(tmp_path, "restore", "--from", newest.split("  ")[0])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_text() == v2


def test_fix_after_restore_is_restored_first(tmp_path: Path) -> None:
    """A fix after a restore makes a fix backup: the next restore takes that one."""
    _, v1, _ = three_versions(tmp_path)
    assert run(tmp_path, "restore").returncode == 0
    assert (tmp_path / ".env").read_text() == v1
    assert run(tmp_path, "fix").returncode == 1
    assert run(tmp_path, "restore").returncode == 0
    assert (tmp_path / ".env").read_text() == v1


def test_list_shows_time_size_and_what_made_each(tmp_path: Path) -> None:
    three_versions(tmp_path)
    assert run(tmp_path, "restore").returncode == 0
    lines = listed(tmp_path)
    assert len(lines) == 3
    made = [line.split("bytes  ", 1)[1] for line in lines]
    assert made[0].startswith("made by restore (")
    assert made[1:] == ["made by fix", "made by fix"]
    for line in lines:
        path, when, size = line.split("  ")[:3]
        assert (tmp_path / path).is_file()
        stamp = Path(path).name.split(".backup_")[1][:15]
        assert when.replace("-", "").replace(":", "").replace(" ", "_") == stamp
        assert size == f"{(tmp_path / path).stat().st_size} bytes"
        assert "mine-v0" not in line


@posix_only
def test_metadata_is_written_beside_each_backup_with_the_backups_protection(
    tmp_path: Path,
) -> None:
    three_versions(tmp_path)
    bdir = tmp_path / "env-backup"
    for b in backups(bdir):
        meta = b.with_name(b.name + ".meta")
        assert meta.is_file()
        assert stat.S_IMODE(meta.stat().st_mode) == 0o600
        text = meta.read_text()
        assert "made-by fix" in text
        assert f"env {tmp_path.resolve() / '.env'}" in text
        assert "mine-v0" not in text
    assert stat.S_IMODE(bdir.stat().st_mode) == 0o700


def two_deployments(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Deployments ``a`` and ``b`` with one ``--backup-dir`` ``shared``; each fixed once, ``b``
    last (its backup is the newest in the directory)."""
    shared = tmp_path / "shared"
    a, b = tmp_path / "a", tmp_path / "b"
    for d, secret in ((a, "secret-of-a"), (b, "secret-of-b")):
        write(d / ".env.example", "TOKEN=\nNEW=1\n")
        write(d / ".env", f"TOKEN={secret}\n")
    assert run(a, "fix", "--backup-dir", str(shared)).returncode == 1
    assert run(b, "fix", "--backup-dir", str(shared)).returncode == 1
    return a, b, shared


def test_shared_backup_dir_never_restores_the_other_deployments_backup(tmp_path: Path) -> None:
    a, b, shared = two_deployments(tmp_path)
    assert len(backups(shared)) == 2
    lines = listed(a, "--backup-dir", str(shared))
    assert len(lines) == 1
    proc = run(a, "restore", "--backup-dir", str(shared))
    assert proc.returncode == 0, proc.stderr
    assert (a / ".env").read_text() == "TOKEN=secret-of-a\n"
    assert run(b, "restore", "--backup-dir", str(shared)).returncode == 0
    assert (b / ".env").read_text() == "TOKEN=secret-of-b\n"


def test_restore_from_the_other_deployments_backup_is_refused(tmp_path: Path) -> None:
    a, b, shared = two_deployments(tmp_path)
    theirs = listed(b, "--backup-dir", str(shared))[0].split("  ")[0]
    before = snapshot(tmp_path)
    proc = run(a, "restore", "--backup-dir", str(shared), "--from", str(b / theirs))
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert "another env file" in proc.stderr
    assert "secret-of" not in proc.stderr + proc.stdout
    assert snapshot(tmp_path) == before


def test_a_moved_deployment_keeps_its_backups(tmp_path: Path) -> None:
    """The metadata names the directory by device and inode too: a renamed folder is the same."""
    write(tmp_path / "app/.env.example", "TOKEN=\nNEW=1\n")
    write(tmp_path / "app/.env", "TOKEN=kept\n")
    assert run(tmp_path / "app", "fix", "--backup-dir", str(tmp_path / "bk")).returncode == 1
    (tmp_path / "app").rename(tmp_path / "app-moved")
    proc = run(tmp_path / "app-moved", "restore", "--backup-dir", str(tmp_path / "bk"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "app-moved/.env").read_text() == "TOKEN=kept\n"


def old_version_backup(bdir: Path, stamp: str, text: str) -> Path:
    """A backup as envsync before 0.3 made it: no metadata."""
    bdir.mkdir(mode=0o700, exist_ok=True)
    return write(bdir / f".env.backup_{stamp}", text)


def test_old_backups_in_the_deployments_own_folder_are_restored(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=now\n")
    old_version_backup(tmp_path / "env-backup", "20240101_000000", "A=old\n")
    assert "made by an older envsync" in listed(tmp_path)[0]
    proc = run(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_text() == "A=old\n"


@pytest.mark.parametrize("where", ["outside", "shared"])
def test_old_backups_of_unclear_owner_are_listed_but_only_restored_by_name(
    tmp_path: Path, where: str
) -> None:
    """Outside the deployment folder, or beside another env file's backups, a backup without
    metadata could be anyone's: plain restore refuses, --from restores it."""
    app = tmp_path / "app"
    write(app / ".env", "A=now\n")
    if where == "outside":
        bdir = tmp_path / "backups"
    else:
        bdir = app / "env-backup"
        other = tmp_path / "other"
        write(other / ".env.example", "A=1\nB=2\n")
        write(other / ".env", "A=other-secret\n")
        assert run(other, "fix", "--backup-dir", str(bdir)).returncode == 1
    old = old_version_backup(bdir, "20240101_000000", "A=old\n")
    lines = listed(app, "--backup-dir", str(bdir))
    assert len(lines) == 1 and "not surely this env file's" in lines[0]
    before = snapshot(tmp_path)
    proc = run(app, "restore", "--backup-dir", str(bdir))
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "--from" in proc.stderr
    assert snapshot(tmp_path) == before
    proc = run(app, "restore", "--backup-dir", str(bdir), "--from", str(old))
    assert proc.returncode == 0, proc.stderr
    assert (app / ".env").read_text() == "A=old\n"


def test_the_sync_record_folder_is_not_a_backup(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=now\n")
    record = tmp_path / "env-backup" / ".env.sync"
    write(record / ".env.example", "A=template\n")
    write(tmp_path / "env-backup" / ".env.sync.meta", "envsync-backup 1\nmade-by fix\n")
    assert listed(tmp_path) == []
    proc = run(tmp_path, "restore")
    assert proc.returncode == 2
    assert (tmp_path / ".env").read_text() == "A=now\n"


@posix_only
@pytest.mark.parametrize("extra", [[], ["--dry-run"], ["--diff"]])
def test_fix_refuses_a_read_only_env_file(tmp_path: Path, extra: list[str]) -> None:
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    write(tmp_path / ".env", "A=ro-value\n", 0o400)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", *extra)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert "read-only" in proc.stderr and "--force" in proc.stderr
    assert "ro-value" not in proc.stderr + proc.stdout
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "env-backup").exists()


@posix_only
def test_fix_force_changes_a_read_only_env_file_and_keeps_its_mode(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    env = write(tmp_path / ".env", "A=ro-value\n", 0o400)
    proc = run(tmp_path, "fix", "--force")
    assert proc.returncode == 1, proc.stderr
    assert env.read_text() == "A=ro-value\nB=2\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o400
    assert [p.read_text() for p in backups(tmp_path / "env-backup")] == ["A=ro-value\n"]


@posix_only
def test_a_read_only_env_file_in_sync_is_fine(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "A=1\n")
    write(tmp_path / ".env", "A=1\n", 0o400)
    assert run(tmp_path, "fix").returncode == 0
    assert run(tmp_path, "check").returncode == 0


@posix_only
def test_restore_refuses_a_read_only_env_file_unless_forced(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=now\n", 0o440)
    old_version_backup(tmp_path / "env-backup", "20240101_000000", "A=old\n")
    before = snapshot(tmp_path)
    proc = run(tmp_path, "restore")
    assert proc.returncode == 2 and "read-only" in proc.stderr
    assert snapshot(tmp_path) == before
    proc = run(tmp_path, "restore", "--force")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_text() == "A=old\n"


# os.replace fails as on a full disk: the backup is made (hard link), the env file's write fails
FULL_DISK = """
import errno, os, sys
def full(src, dst, *a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")
os.replace = full
from envsync_hook.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["fix", "restore"])
def test_a_failed_write_leaves_no_new_backup(tmp_path: Path, command: str) -> None:
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    write(tmp_path / ".env", "A=mine\n")
    old_version_backup(tmp_path / "env-backup", "20240101_000000", "A=old\n")
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "No space left on device" in proc.stderr or "no space" in proc.stderr.lower()
    # nothing new: no backup, no metadata, no temp file; the env file unchanged
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "env-backup").iterdir()) == [
        ".env.backup_20240101_000000"
    ]
