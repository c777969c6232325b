"""``envsync restore`` as a whole process: list backups newest first, restore the newest or a
chosen one byte for byte, and back up the current env file first (DESIGN.md section 7)."""

from __future__ import annotations

import os
import random
import stat
import sys
from pathlib import Path

import pytest
from cli_run import run

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symlinks")


def write(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# (name suffix, content) in the order newest first; contents are deliberately awkward bytes
HISTORY = [
    ("20240301_120000_3", b'A=newest\r\nPEM="x\ny"\r\n'),
    ("20240301_120000_2", b"A=second\n"),
    ("20240301_120000", b"\xef\xbb\xbfA=third-with-bom\n"),
    ("20240229_235959", b"A=fourth-no-final-newline"),
    ("20231231_000000", b"# only a comment\n"),
]


def make_history(bdir: Path, env_name: str = ".env") -> list[Path]:
    """Backups named with timestamps in the past, created in shuffled order, with
    modification times that disagree with their names (the order must come from the names)."""
    bdir.mkdir(mode=0o700, exist_ok=True)
    paths = [bdir / f"{env_name}.backup_{suffix}" for suffix, _ in HISTORY]
    order = list(range(len(HISTORY)))
    random.Random(7).shuffle(order)
    for i in order:
        write(paths[i], HISTORY[i][1])
    for i, p in enumerate(paths):
        os.utime(p, (1_000_000 + i * 1000, 1_000_000 + i * 1000))  # oldest mtime = newest name
    # things that are not backups of this env file
    write(bdir / "other.env.backup_20990101_000000", b"X=1\n")
    write(bdir / f"{env_name}.backup_notadate", b"X=1\n")
    (bdir / f"{env_name}.backup_20990101_000001").mkdir()
    return paths


def test_list_newest_first(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=current\n")
    paths = make_history(tmp_path / "env-backup")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    proc = run(tmp_path, "restore", "--list")
    assert proc.returncode == 0, proc.stderr
    listed = [Path(line.split("  ")[0]).name for line in proc.stdout.splitlines() if line.strip()]
    assert listed == [p.name for p in paths]
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_list_with_no_backups(tmp_path: Path) -> None:
    write(tmp_path / ".env", "A=current\n")
    proc = run(tmp_path, "restore", "--list")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    assert not (tmp_path / "env-backup").exists()


def _backups(bdir: Path) -> set[str]:
    """Backup names (their ``.meta`` sidecars left out)."""
    return {
        p.name
        for p in bdir.iterdir()
        if p.name.startswith(".env.backup_") and not p.name.endswith(".meta")
    }


@posix_only
def test_restore_newest_backs_up_current_first(tmp_path: Path) -> None:
    current = b"A=current-state\r\nB=2"
    env = write(tmp_path / ".env", current, 0o640)
    bdir = tmp_path / "env-backup"
    make_history(bdir)
    names_before = _backups(bdir)
    proc = run(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert env.read_bytes() == HISTORY[0][1]
    assert mode_of(env) == 0o640
    new = _backups(bdir) - names_before
    assert len(new) == 1, new
    saved = bdir / new.pop()
    assert saved.read_bytes() == current
    assert mode_of(saved) == 0o640
    # the saved current state is now the newest backup: listed first
    listed = run(tmp_path, "restore", "--list").stdout.splitlines()
    assert Path(listed[0].split("  ")[0]).name == saved.name


@pytest.mark.parametrize("index", range(len(HISTORY)))
@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_restore_from_a_chosen_backup(tmp_path: Path, index: int, how: str) -> None:
    write(tmp_path / ".env", "A=current\n")
    paths = make_history(tmp_path / "env-backup")
    chosen = paths[index]
    arg = str(chosen) if how == "absolute" else str(chosen.relative_to(tmp_path))
    proc = run(tmp_path, "restore", "--from", arg)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_bytes() == HISTORY[index][1]
    assert chosen.read_bytes() == HISTORY[index][1]  # the backup itself is untouched
    saved = [
        p
        for p in (tmp_path / "env-backup").iterdir()
        if p.is_file() and p.read_bytes() == b"A=current\n"
    ]
    assert len(saved) == 1


def test_restore_identical_writes_nothing(tmp_path: Path) -> None:
    paths = make_history(tmp_path / "env-backup")
    write(tmp_path / ".env", HISTORY[0][1])
    names_before = _backups(tmp_path / "env-backup")
    proc = run(tmp_path, "restore", "--from", str(paths[0]))
    assert proc.returncode == 0, proc.stderr
    assert _backups(tmp_path / "env-backup") == names_before


def test_restore_when_env_is_missing(tmp_path: Path) -> None:
    make_history(tmp_path / "env-backup")
    proc = run(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_bytes() == HISTORY[0][1]


def test_fix_then_restore_round_trips(tmp_path: Path) -> None:
    original = b"# mine\r\nA=5\r\nX='operator only'\r\nPEM=\"l1\nl2\""
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    write(tmp_path / ".env", original)
    assert run(tmp_path, "fix").returncode == 1
    assert (tmp_path / ".env").read_bytes() != original
    proc = run(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_bytes() == original


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_restore_with_backup_dir(tmp_path: Path, where: str) -> None:
    write(tmp_path / ".env", "A=current\n")
    bdir = tmp_path / "saved"
    paths = make_history(bdir)
    arg = str(bdir) if where == "absolute" else "saved"
    listed = run(tmp_path, "restore", "--list", "--backup-dir", arg)
    assert [Path(x.split("  ")[0]).name for x in listed.stdout.splitlines()] == [
        p.name for p in paths
    ]
    proc = run(tmp_path, "restore", "--backup-dir", arg)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").read_bytes() == HISTORY[0][1]
    assert not (tmp_path / "env-backup").exists()


def test_restore_named_env_file(tmp_path: Path) -> None:
    sub = tmp_path / "deploy"
    sub.mkdir()
    write(sub / "prod.env", "A=current\n")
    paths = make_history(sub / "env-backup", env_name="prod.env")
    make_history(sub / "env-backup", env_name=".env")  # another env file's backups
    listed = run(tmp_path, "restore", "deploy/prod.env", "--list")
    assert [Path(x.split("  ")[0]).name for x in listed.stdout.splitlines()] == [
        p.name for p in paths
    ]
    proc = run(tmp_path, "restore", "deploy/prod.env")
    assert proc.returncode == 0, proc.stderr
    assert (sub / "prod.env").read_bytes() == HISTORY[0][1]


@posix_only
def test_restore_keeps_a_symlinked_env(tmp_path: Path) -> None:
    real = write(tmp_path / "real.env", "A=current\n")
    os.symlink("real.env", tmp_path / ".env")
    make_history(tmp_path / "env-backup")
    proc = run(tmp_path, "restore")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".env").is_symlink() and os.readlink(tmp_path / ".env") == "real.env"
    assert real.read_bytes() == HISTORY[0][1]


@pytest.mark.parametrize(
    ("setup", "args"),
    [
        ("none", []),
        ("history", ["--from", "env-backup/.env.backup_20000101_000000"]),
        ("bad-backup", ["--from", "env-backup/.env.backup_20990101_000000"]),
    ],
    ids=["no backups", "missing --from", "backup with invalid UTF-8"],
)
def test_restore_refusals(tmp_path: Path, setup: str, args: list[str]) -> None:
    write(tmp_path / ".env", "A=current-planted-33\n")
    if setup == "history":
        make_history(tmp_path / "env-backup")
    if setup == "bad-backup":
        (tmp_path / "env-backup").mkdir(mode=0o700)
        write(tmp_path / "env-backup" / ".env.backup_20990101_000000", b"A=\xff\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    proc = run(tmp_path, "restore", *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert "planted-33" not in proc.stdout + proc.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
