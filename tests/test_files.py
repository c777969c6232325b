"""Tests for envsync_hook.files: reading, backups, atomic replacement, locking, restore."""

from __future__ import annotations

import errno
import multiprocessing
import os
import pwd
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from envsync_hook.errors import EnvsyncError
from envsync_hook.files import locking, reading
from envsync_hook.files.atomic import atomic_write
from envsync_hook.files.backups import backup_dir_for, list_backups, make_backup
from envsync_hook.files.locking import env_lock
from envsync_hook.files.reading import file_mode, read_text
from envsync_hook.files.restore import restore
from envsync_hook.files.targets import check_writable_target

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and flock")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOW = datetime(2024, 1, 2, 3, 4, 5)
SECRET = "hunter2-s3cr3t"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def _assert_one_line_naming(exc: BaseException, path: Path) -> str:
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg
    assert str(path) in msg
    assert SECRET not in msg
    return msg


# ------------------------------------------------------------------------------------------
# helpers to run code as an unprivileged user, and in separate processes


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory that an unprivileged user can traverse (pytest's tmp_path is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="envsync-files-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        for sub in [d, *d.rglob("*")]:
            if sub.is_dir() and not sub.is_symlink():
                os.chmod(sub, 0o755)
        shutil.rmtree(d, ignore_errors=True)


def _run_as_nobody(fn: Callable[[], str]) -> str:
    """Run ``fn`` in a forked child whose uid/gid is ``nobody``; return its result string."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            out = fn()
        except BaseException as exc:  # report anything to the parent
            out = f"{type(exc).__name__}: {exc}"
            code = 1
        try:
            os.write(wfd, out.encode("utf-8", "backslashreplace"))
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as fh:
        result = fh.read().decode("utf-8")
    os.waitpid(pid, 0)
    return result


def _expect_error(fn: Callable[[], object]) -> Callable[[], str]:
    def run() -> str:
        try:
            fn()
        except EnvsyncError as exc:
            return f"EnvsyncError: {exc}"
        return "no error"

    return run


# ------------------------------------------------------------------------------------------
# read_text


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"A=1\r\nB=2\r\n", "A=1\r\nB=2\r\n"),
        (b"\xef\xbb\xbfA=1\n", "\ufeffA=1\n"),
        (b"\xef\xbb\xbfA=1\r\nB='x\r\ny'", "\ufeffA=1\r\nB='x\r\ny'"),
        (b"A=1\rB=2\n", "A=1\rB=2\n"),
        (b"A=\xc3\xa9t\xc3\xa9  \n", "A=\u00e9t\u00e9  \n"),
        (b"", ""),
    ],
    ids=["crlf", "bom", "bom-crlf-no-final-eol", "lone-cr", "utf8-trailing-space", "empty"],
)
def test_read_text_is_exact(tmp_path: Path, content: bytes, expected: str) -> None:
    p = _write(tmp_path / ".env", content)
    assert read_text(p) == expected


def _make_missing(tmp_path: Path) -> Path:
    return tmp_path / "nope.env"


def _make_dir(tmp_path: Path) -> Path:
    d = tmp_path / ".env"
    d.mkdir()
    return d


def _make_bad_utf8(tmp_path: Path) -> Path:
    return _write(tmp_path / ".env", f"A={SECRET}\nB=\xff\n".encode("latin-1"))


def _make_nul(tmp_path: Path) -> Path:
    return _write(tmp_path / ".env", f"A={SECRET}\nB=x\x00y\n".encode())


def _make_fifo(tmp_path: Path) -> Path:
    p = tmp_path / ".env"
    os.mkfifo(p)
    return p


def _make_missing_parent(tmp_path: Path) -> Path:
    f = _write(tmp_path / "afile", b"x")
    return f / ".env"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_make_missing, "no such file"),
        (_make_dir, "is a directory"),
        (_make_fifo, "not a regular file"),
        (_make_missing_parent, "not a directory"),
        (_make_bad_utf8, f"not valid UTF-8 (byte offset {len(SECRET) + 5}, line 2)"),
        (_make_nul, f"contains a NUL byte (byte offset {len(SECRET) + 6}, line 2)"),
    ],
    ids=["missing", "directory", "fifo", "parent-is-file", "invalid-utf8", "nul"],
)
def test_read_text_refusals(tmp_path: Path, make: Callable[[Path], Path], fragment: str) -> None:
    p = make(tmp_path)
    with pytest.raises(EnvsyncError) as info:
        read_text(p, "env file")
    msg = _assert_one_line_naming(info.value, p)
    assert msg.startswith("cannot read env file ")
    assert fragment in msg


@posix_only
def test_read_text_unreadable(shared_dir: Path) -> None:
    p = _write(shared_dir / ".env", f"A={SECRET}\n".encode(), 0o000)
    if IS_ROOT:
        # root ignores permission bits: read as 'nobody' in a forked child
        os.chmod(p, 0o600)
        result = _run_as_nobody(_expect_error(lambda: read_text(p, "env file")))
        assert result.startswith("EnvsyncError: ")
        msg = result[len("EnvsyncError: ") :]
    else:
        with pytest.raises(EnvsyncError) as info:
            read_text(p, "env file")
        msg = str(info.value)
    assert "permission denied" in msg
    assert str(p) in msg and SECRET not in msg and "\n" not in msg


def test_error_message_escapes_control_characters_in_path(tmp_path: Path) -> None:
    p = tmp_path / "we\nird.env"
    with pytest.raises(EnvsyncError) as info:
        read_text(p)
    assert "\n" not in str(info.value)
    assert "we\\nird.env" in str(info.value)


# ------------------------------------------------------------------------------------------
# file_mode and backup_dir_for


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
def test_file_mode(tmp_path: Path, mode: int) -> None:
    p = _write(tmp_path / ".env", b"A=1\n", mode)
    link = tmp_path / "link.env"
    link.symlink_to(p.name)
    assert file_mode(p) == mode
    assert file_mode(link) == mode  # the resolved file's mode


def test_file_mode_missing(tmp_path: Path) -> None:
    assert file_mode(tmp_path / "nope") is None
    assert file_mode(_write(tmp_path / "f", b"") / "below") is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "deploy/env-backup"),
        ("bk", "deploy/bk"),
        (Path("a/b"), "deploy/a/b"),
        ("../elsewhere", "deploy/../elsewhere"),
    ],
)
def test_backup_dir_for_relative(tmp_path: Path, given: str | Path | None, expected: str) -> None:
    env = tmp_path / "deploy" / ".env"
    assert backup_dir_for(env, given) == tmp_path / expected


def test_backup_dir_for_absolute(tmp_path: Path) -> None:
    env = tmp_path / "deploy" / ".env"
    assert backup_dir_for(env, tmp_path / "abs") == tmp_path / "abs"
    assert backup_dir_for(env, str(tmp_path / "abs")) == tmp_path / "abs"
    assert backup_dir_for(Path(".env"), None) == Path("env-backup")


# ------------------------------------------------------------------------------------------
# check_writable_target


def _setup_ok_existing(t: Path) -> tuple[Path, Path]:
    _write(t / ".env", b"A=1\n")
    (t / "env-backup").mkdir()
    return t / ".env", t / "env-backup"


def _setup_ok_missing(t: Path) -> tuple[Path, Path]:
    return t / ".env", t / "env-backup"


def _setup_ok_dangling_link(t: Path) -> tuple[Path, Path]:
    (t / "real").mkdir()
    (t / ".env").symlink_to("real/.env")
    return t / ".env", t / "env-backup"


def _setup_env_dir(t: Path) -> tuple[Path, Path]:
    (t / ".env").mkdir()
    return t / ".env", t / "env-backup"


def _setup_env_link_to_dir(t: Path) -> tuple[Path, Path]:
    (t / "d").mkdir()
    (t / ".env").symlink_to("d")
    return t / ".env", t / "env-backup"


def _setup_env_fifo(t: Path) -> tuple[Path, Path]:
    os.mkfifo(t / ".env")
    return t / ".env", t / "env-backup"


def _setup_parent_missing(t: Path) -> tuple[Path, Path]:
    return t / "gone" / ".env", t / "env-backup"


def _setup_dangling_link_missing_dir(t: Path) -> tuple[Path, Path]:
    (t / ".env").symlink_to("gone/.env")
    return t / ".env", t / "env-backup"


def _setup_backup_is_file(t: Path) -> tuple[Path, Path]:
    _write(t / ".env", b"A=1\n")
    _write(t / "env-backup", b"not a dir")
    return t / ".env", t / "env-backup"


def _setup_backup_parent_missing(t: Path) -> tuple[Path, Path]:
    _write(t / ".env", b"A=1\n")
    return t / ".env", t / "x" / "y" / "env-backup"


def _setup_symlink_loop(t: Path) -> tuple[Path, Path]:
    (t / ".env").symlink_to(".env2")
    (t / ".env2").symlink_to(".env")
    return t / ".env", t / "env-backup"


@pytest.mark.parametrize(
    "setup",
    [_setup_ok_existing, _setup_ok_missing, _setup_ok_dangling_link],
    ids=["existing", "missing-env-and-backup-dir", "dangling-link"],
)
def test_check_writable_target_accepts(
    tmp_path: Path, setup: Callable[[Path], tuple[Path, Path]]
) -> None:
    env, bdir = setup(tmp_path)
    before = _tree(tmp_path)
    check_writable_target(env, bdir)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (_setup_env_dir, "is a directory"),
        (_setup_env_link_to_dir, "is a directory"),
        (_setup_env_fifo, "not a regular file"),
        (_setup_parent_missing, "does not exist"),
        (_setup_dangling_link_missing_dir, "does not exist"),
        (_setup_backup_is_file, "not a directory"),
        (_setup_backup_parent_missing, "does not exist"),
        (_setup_symlink_loop, "symbolic links"),
    ],
    ids=[
        "env-is-dir",
        "env-links-to-dir",
        "env-is-fifo",
        "env-parent-missing",
        "dangling-link-missing-dir",
        "backup-dir-is-file",
        "backup-parent-missing",
        "symlink-loop",
    ],
)
def test_check_writable_target_refuses_and_creates_nothing(
    tmp_path: Path, setup: Callable[[Path], tuple[Path, Path]], fragment: str
) -> None:
    env, bdir = setup(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(EnvsyncError) as info:
        check_writable_target(env, bdir)
    msg = str(info.value)
    assert fragment in msg and "\n" not in msg
    assert str(env) in msg or str(bdir) in msg
    assert _tree(tmp_path) == before


@posix_only
@pytest.mark.parametrize("which", ["env-dir", "backup-dir", "backup-parent"])
def test_check_writable_target_unwritable(shared_dir: Path, which: str) -> None:
    env_dir = shared_dir / "deploy"
    env_dir.mkdir()
    env = _write(env_dir / ".env", b"A=1\n", 0o644)
    if which == "env-dir":
        bdir = shared_dir / "bk"
        bdir.mkdir(mode=0o777)
        os.chmod(bdir, 0o777)
        os.chmod(env_dir, 0o555)  # the temp file could not be created here
        os.chmod(env, 0o666)
    elif which == "backup-dir":
        os.chmod(env_dir, 0o777)
        bdir = shared_dir / "bk"
        bdir.mkdir()
        os.chmod(bdir, 0o555)
    else:
        os.chmod(env_dir, 0o777)
        bdir = shared_dir / "ro" / "bk"
        (shared_dir / "ro").mkdir()
        os.chmod(shared_dir / "ro", 0o555)
    if IS_ROOT:
        result = _run_as_nobody(_expect_error(lambda: check_writable_target(env, bdir)))
    else:
        result = _expect_error(lambda: check_writable_target(env, bdir))()
    assert result.startswith("EnvsyncError: ")
    assert "not writable" in result
    assert (str(env_dir) if which == "env-dir" else str(bdir.parent)) in result


# ------------------------------------------------------------------------------------------
# make_backup


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
def test_make_backup_name_bytes_mode(tmp_path: Path, mode: int) -> None:
    data = f"\ufeffA={SECRET}\r\nB='multi\r\nline'".encode()
    env = _write(tmp_path / ".env", data, mode)
    bdir = tmp_path / "env-backup"
    b = make_backup(env, bdir, now=NOW)
    assert b == bdir / ".env.backup_20240102_030405"
    assert b.read_bytes() == data
    assert _mode(b) == mode
    assert _mode(bdir) == 0o700
    assert env.read_bytes() == data and _mode(env) == mode


@posix_only
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_backup_dir_created_0700_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    old = os.umask(umask)
    try:
        make_backup(env, tmp_path / "env-backup", now=NOW)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "env-backup") == 0o700


def test_existing_backup_dir_is_left_alone(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "bk"
    bdir.mkdir()
    os.chmod(bdir, 0o750)
    make_backup(env, bdir, now=NOW)
    assert _mode(bdir) == 0o750


def test_backups_in_the_same_second_all_survive(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "env-backup"
    made = []
    for i in range(1, 5):
        env.write_bytes(f"A={i}\n".encode())
        made.append(make_backup(env, bdir, now=NOW))
    base = ".env.backup_20240102_030405"
    assert [p.name for p in made] == [base, base + "_2", base + "_3", base + "_4"]
    assert [p.read_bytes() for p in made] == [b"A=1\n", b"A=2\n", b"A=3\n", b"A=4\n"]
    assert _listing(bdir) == sorted([p.name for p in made] + [p.name + ".meta" for p in made])


def test_backup_never_overwrites_a_taken_name(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"NEW=1\n")
    bdir = tmp_path / "env-backup"
    bdir.mkdir()
    taken = _write(bdir / ".env.backup_20240102_030405", b"OLD=1\n")
    (bdir / ".env.backup_20240102_030405_2").mkdir()  # even a directory counts as taken
    b = make_backup(env, bdir, now=NOW)
    assert b.name == ".env.backup_20240102_030405_3"
    assert taken.read_bytes() == b"OLD=1\n"
    assert b.read_bytes() == b"NEW=1\n"


@posix_only
def test_backup_of_a_symlinked_env_copies_the_target(tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    real = deploy / "real"
    real.mkdir(parents=True)
    target = _write(real / "prod.env", b"A=target\n", 0o640)
    link = deploy / ".env"
    link.symlink_to(os.path.relpath(target, deploy))
    b = make_backup(link, backup_dir_for(link, None), now=NOW)
    assert b == deploy / "env-backup" / ".env.backup_20240102_030405"
    assert not b.is_symlink() and b.read_bytes() == b"A=target\n"
    assert _mode(b) == 0o640
    assert link.is_symlink()


@posix_only
@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_backup_keeps_the_owner(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    os.chown(env, 65534, 65534)
    b = make_backup(env, tmp_path / "bk", now=NOW)
    assert (os.stat(b).st_uid, os.stat(b).st_gid) == (65534, 65534)


def test_make_backup_of_missing_env_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(EnvsyncError) as info:
        make_backup(tmp_path / ".env", tmp_path / "env-backup", now=NOW)
    _assert_one_line_naming(info.value, tmp_path / ".env")
    assert _listing(tmp_path) == []


def _fsync_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the kind of every fd passed to os.fsync ('file:<inode>' or 'dir:<inode>')."""
    calls: list[str] = []
    real = os.fsync

    def spy(fd: Any) -> None:
        st = os.fstat(fd)
        calls.append(f"{'dir' if stat.S_ISDIR(st.st_mode) else 'file'}:{st.st_ino}")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


@posix_only
def test_make_backup_fsyncs_file_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "bk"
    bdir.mkdir()
    calls = _fsync_spy(monkeypatch)
    b = make_backup(env, bdir, now=NOW)
    assert f"file:{os.stat(b).st_ino}" in calls
    assert f"dir:{os.stat(bdir).st_ino}" in calls
    assert calls.index(f"file:{os.stat(b).st_ino}") < calls.index(f"dir:{os.stat(bdir).st_ino}")


def test_make_backup_failure_leaves_no_partial_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "bk"
    bdir.mkdir()

    def boom(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(EnvsyncError) as info:
        make_backup(env, bdir, now=NOW)
    assert "input/output error" in str(info.value)
    assert _listing(bdir) == []
    assert env.read_bytes() == b"A=1\n"


# ------------------------------------------------------------------------------------------
# list_backups


def test_list_backups_newest_first(tmp_path: Path) -> None:
    bdir = tmp_path / "env-backup"
    bdir.mkdir()
    names = [
        ".env.backup_20240102_030405",
        ".env.backup_20240102_030405_2",
        ".env.backup_20240102_030405_10",
        ".env.backup_20240102_030405_3",
        ".env.backup_20231231_235959",
        ".env.backup_20240102_030406",
        ".env.backup_20250101_000000",
    ]
    # mtimes deliberately in the opposite order of the names' timestamps
    for i, name in enumerate(names):
        p = _write(bdir / name, b"x")
        os.utime(p, (1_000_000 - i * 1000, 1_000_000 - i * 1000))
    for other in [
        "prod.env.backup_20300101_000000",  # another env's backup
        ".env.backup_2024_bad",
        ".env.backup_20300101_000000.tmp",
        ".env",
        "x.env.backup_20300101_000000",
    ]:
        _write(bdir / other, b"x")
    (bdir / ".env.backup_20990101_000000").mkdir()  # not a file
    assert [p.name for p in list_backups(tmp_path / ".env", bdir)] == [
        ".env.backup_20250101_000000",
        ".env.backup_20240102_030406",
        ".env.backup_20240102_030405_10",
        ".env.backup_20240102_030405_3",
        ".env.backup_20240102_030405_2",
        ".env.backup_20240102_030405",
        ".env.backup_20231231_235959",
    ]
    assert [p.name for p in list_backups(tmp_path / "prod.env", bdir)] == [
        "prod.env.backup_20300101_000000"
    ]
    assert all(p.parent == bdir for p in list_backups(tmp_path / ".env", bdir))


def test_list_backups_matches_make_backup(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "env-backup"
    made = [make_backup(env, bdir, now=NOW) for _ in range(11)]
    later = make_backup(env, bdir, now=datetime(2024, 1, 2, 3, 4, 6))
    assert list_backups(env, bdir) == [later, *reversed(made)]


def test_list_backups_missing_dir_and_file(tmp_path: Path) -> None:
    assert list_backups(tmp_path / ".env", tmp_path / "none") == []
    f = _write(tmp_path / "bk", b"")
    with pytest.raises(EnvsyncError) as info:
        list_backups(tmp_path / ".env", f)
    _assert_one_line_naming(info.value, f)


# ------------------------------------------------------------------------------------------
# atomic_write


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path: Path, mode: int) -> None:
    env = _write(tmp_path / ".env", b"OLD=1\n", mode)
    atomic_write(env, "\ufeffNEW=1\r\nB='a\r\nb'")
    assert env.read_bytes() == "\ufeffNEW=1\r\nB='a\r\nb'".encode()
    assert _mode(env) == mode
    assert _listing(tmp_path) == [".env"]


@posix_only
@pytest.mark.parametrize(("mode", "expected"), [(None, 0o600), (0o640, 0o640), (0o600, 0o600)])
def test_atomic_write_new_file_mode(tmp_path: Path, mode: int | None, expected: int) -> None:
    old = os.umask(0)  # the mode must not depend on the umask
    try:
        atomic_write(tmp_path / ".env", "A=1\n", mode=mode)
    finally:
        os.umask(old)
    assert _mode(tmp_path / ".env") == expected
    assert (tmp_path / ".env").read_bytes() == b"A=1\n"
    assert _listing(tmp_path) == [".env"]


@posix_only
def test_atomic_write_mode_argument_does_not_change_an_existing_file(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n", 0o640)
    atomic_write(env, "A=2\n", mode=0o644)
    assert _mode(env) == 0o640


@posix_only
@pytest.mark.parametrize("relative", [True, False])
def test_atomic_write_through_symlink_replaces_target(tmp_path: Path, relative: bool) -> None:
    deploy = tmp_path / "deploy"
    real = deploy / "real"
    real.mkdir(parents=True)
    target = _write(real / "prod.env", b"OLD=1\n", 0o640)
    link = deploy / ".env"
    dest = os.path.relpath(target, deploy) if relative else str(target)
    link.symlink_to(dest)
    atomic_write(link, "NEW=1\n")
    assert link.is_symlink() and os.readlink(link) == dest
    assert target.read_bytes() == b"NEW=1\n"
    assert _mode(target) == 0o640
    assert _listing(deploy) == [".env", "real"]
    assert _listing(real) == ["prod.env"]


@posix_only
@pytest.mark.parametrize("operation", ["atomic_write", "make_backup", "read_env", "restore"])
def test_a_symlink_out_of_its_folder_is_refused_by_every_writer(
    tmp_path: Path, operation: str
) -> None:
    """Called directly (not only through check_writable_target): the module itself refuses a
    symlinked env file whose target is outside the link's folder, and touches nothing."""
    (tmp_path / "elsewhere").mkdir()
    victim = _write(tmp_path / "elsewhere" / "victim.env", b"V=1\n", 0o640)
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    link = deploy / ".env"
    link.symlink_to("../elsewhere/victim.env")
    (deploy / "env-backup").mkdir()
    backup = _write(deploy / "env-backup" / ".env.backup_20240101_000000", b"B=1\n")
    before = _tree(tmp_path)
    calls: dict[str, Callable[[], object]] = {
        "atomic_write": lambda: atomic_write(link, "NEW=1\n"),
        "make_backup": lambda: make_backup(link, deploy / "env-backup", now=NOW),
        "read_env": lambda: reading.read_env(link),
        "restore": lambda: restore(link, backup, deploy / "env-backup"),
    }
    with pytest.raises(EnvsyncError) as info:
        calls[operation]()
    assert "outside" in _assert_one_line_naming(info.value, link)
    assert _tree(tmp_path) == before
    assert victim.read_bytes() == b"V=1\n"


@posix_only
def test_a_backup_that_is_a_symlink_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    secret = _write(tmp_path / "elsewhere" / "secret", b"S=outside\n")
    bdir = tmp_path / "d" / "env-backup"
    bdir.mkdir(parents=True)
    (bdir / ".env.backup_29991231_235959").symlink_to(secret)
    real = _write(bdir / ".env.backup_20240101_000000", b"A=1\n")
    env = tmp_path / "d" / ".env"
    assert list_backups(env, bdir) == [real]  # the link is not a backup
    with pytest.raises(EnvsyncError) as info:
        reading.read_backup(bdir / ".env.backup_29991231_235959")
    assert "symbolic link" in str(info.value)
    with pytest.raises(EnvsyncError):
        restore(env, bdir / ".env.backup_29991231_235959", bdir)
    assert not env.exists()


@posix_only
def test_atomic_write_through_a_chain_of_symlinks(tmp_path: Path) -> None:
    target = _write(tmp_path / "real.env", b"OLD=1\n")
    (tmp_path / "mid.env").symlink_to("real.env")
    (tmp_path / ".env").symlink_to("mid.env")
    atomic_write(tmp_path / ".env", "NEW=1\n")
    assert (tmp_path / ".env").is_symlink() and (tmp_path / "mid.env").is_symlink()
    assert target.read_bytes() == b"NEW=1\n"
    assert _listing(tmp_path) == [".env", "mid.env", "real.env"]


@posix_only
def test_atomic_write_dangling_symlink_creates_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / ".env").symlink_to("real/.env")
    atomic_write(tmp_path / ".env", "A=1\n")
    assert (tmp_path / ".env").is_symlink()
    assert (tmp_path / "real" / ".env").read_bytes() == b"A=1\n"
    assert _mode(tmp_path / "real" / ".env") == 0o600


@posix_only
@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
def test_atomic_write_keeps_the_owner(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n", 0o640)
    os.chown(env, 65534, 65534)
    atomic_write(env, "A=2\n")
    st = os.stat(env)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)


def test_atomic_write_replaces_the_inode(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    hard = tmp_path / "hard"
    os.link(env, hard)
    atomic_write(env, "A=2\n")
    # a new file was renamed into place: the old inode (still reachable) was never modified
    assert hard.read_bytes() == b"A=1\n"
    assert env.read_bytes() == b"A=2\n"


@posix_only
def test_atomic_write_fsyncs_file_then_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    calls = _fsync_spy(monkeypatch)
    atomic_write(env, "A=2\n")
    assert calls == [f"file:{os.stat(env).st_ino}", f"dir:{os.stat(tmp_path).st_ino}"]


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("victim", ["write", "fsync", "replace", "fchmod", "open"])
@pytest.mark.parametrize("existing", [True, False])
def test_atomic_write_failure_leaves_original_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: str, existing: bool
) -> None:
    env = tmp_path / ".env"
    if existing:
        _write(env, f"A={SECRET}\r\n".encode(), 0o640)
    before = _listing(tmp_path)
    monkeypatch.setattr(os, victim, _fail)
    with pytest.raises(EnvsyncError) as info:
        atomic_write(env, "A=new\n")
    monkeypatch.undo()
    msg = _assert_one_line_naming(info.value, env)
    assert msg == f"could not write {env}: no space left on device; {env} is unchanged"
    assert _listing(tmp_path) == before
    if existing:
        assert env.read_bytes() == f"A={SECRET}\r\n".encode()
        assert _mode(env) == 0o640


def test_atomic_write_failure_after_partial_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _write(tmp_path / ".env", b"OLD\n")
    real_write = os.write
    calls = []

    def short_then_fail(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:3]))
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "write", short_then_fail)
    with pytest.raises(EnvsyncError):
        atomic_write(env, "NEW CONTENT\n")
    monkeypatch.undo()
    assert calls == [12, 9]  # the short write was continued, then failed
    assert env.read_bytes() == b"OLD\n"
    assert _listing(tmp_path) == [".env"]


def test_atomic_write_short_writes_are_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def one_byte(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(os, "write", one_byte)
    atomic_write(tmp_path / ".env", "A=\u00e9\r\n")
    monkeypatch.undo()
    assert (tmp_path / ".env").read_bytes() == "A=\u00e9\r\n".encode()


@pytest.mark.parametrize(
    ("setup", "text", "fragment"),
    [
        (_setup_env_dir, "A=1\n", "is a directory"),
        (_setup_parent_missing, "A=1\n", "no such file"),
        (_setup_ok_missing, "A=\ud800\n", "not encodable"),
        (_setup_symlink_loop, "A=1\n", "symbolic links"),
    ],
    ids=["directory", "parent-missing", "lone-surrogate", "symlink-loop"],
)
def test_atomic_write_refusals_create_nothing(
    tmp_path: Path, setup: Callable[[Path], tuple[Path, Path]], text: str, fragment: str
) -> None:
    env, _ = setup(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(EnvsyncError) as info:
        atomic_write(env, text)
    msg = _assert_one_line_naming(info.value, env)
    assert fragment in msg
    assert _tree(tmp_path) == before


# ------------------------------------------------------------------------------------------
# env_lock

fork_only = pytest.mark.skipif(
    sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods(),
    reason="needs fork and flock",
)


def _log(path: Path, line: str) -> None:
    with open(path, "a") as fh:
        fh.write(f"{line} {time.monotonic():.6f}\n")


def _holder(env: str, log: str, locked: Any, b_waiting: Any) -> None:
    with env_lock(Path(env)):
        _log(Path(log), "A-acquired")
        locked.set()
        b_waiting.wait(10)
        time.sleep(0.5)  # B is blocked in env_lock for at least this long
        _log(Path(log), "A-releasing")


def _contender(env: str, log: str, b_waiting: Any) -> None:
    _log(Path(log), "B-waiting")
    b_waiting.set()
    with env_lock(Path(env)):
        _log(Path(log), "B-acquired")


@fork_only
@pytest.mark.parametrize("via_symlink", [False, True])
def test_env_lock_serialises_two_processes(tmp_path: Path, via_symlink: bool) -> None:
    ctx = multiprocessing.get_context("fork")
    env = _write(tmp_path / ".env", b"A=1\n")
    other = env
    if via_symlink:  # a link elsewhere to the same file locks the same directory
        (tmp_path / "links").mkdir()
        other = tmp_path / "links" / ".env"
        other.symlink_to(env)
    log = tmp_path / "lock.log"
    locked, b_waiting = ctx.Event(), ctx.Event()
    a = ctx.Process(target=_holder, args=(str(env), str(log), locked, b_waiting))
    a.start()
    assert locked.wait(10)
    b = ctx.Process(target=_contender, args=(str(other), str(log), b_waiting))
    b.start()
    a.join(20)
    b.join(20)
    assert (a.exitcode, b.exitcode) == (0, 0)
    entries = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in entries] == ["A-acquired", "B-waiting", "A-releasing", "B-acquired"]
    times = {e[0]: float(e[1]) for e in entries}
    assert times["B-acquired"] >= times["A-releasing"]
    assert times["B-acquired"] - times["B-waiting"] >= 0.4
    assert _listing(tmp_path) == sorted([".env", "lock.log"] + (["links"] if via_symlink else []))


def _hold_forever(env: str, locked: Any) -> None:
    with env_lock(Path(env)):
        locked.set()
        time.sleep(60)


def _acquire_once(env: str, done: Any) -> None:
    with env_lock(Path(env)):
        done.set()


@fork_only
def test_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    env = _write(tmp_path / ".env", b"A=1\n")
    locked, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_forever, args=(str(env), locked))
    holder.start()
    assert locked.wait(10)
    waiter = ctx.Process(target=_acquire_once, args=(str(env), done))
    waiter.start()
    assert not done.wait(0.5)  # really held
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    assert holder.exitcode == -signal.SIGKILL
    assert done.wait(10)  # the kernel dropped the lock of the killed process
    waiter.join(10)
    assert waiter.exitcode == 0
    assert _listing(tmp_path) == [".env"]


def _nested(env: str, link: str, done: Any) -> None:
    with env_lock(Path(env)), env_lock(Path(link)), env_lock(Path(env)):
        pass
    if locking._held_locks == {}:
        done.set()


@fork_only
def test_env_lock_nests_in_one_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    env = _write(tmp_path / ".env", b"A=1\n")
    (tmp_path / "alias.env").symlink_to(".env")
    done = ctx.Event()
    p = ctx.Process(target=_nested, args=(str(env), str(tmp_path / "alias.env"), done))
    p.start()
    ok = done.wait(5)
    p.join(5)
    if p.is_alive():
        p.kill()
        p.join()
    assert ok and p.exitcode == 0


@fork_only
def test_env_lock_locks_the_resolved_directory(tmp_path: Path) -> None:
    import fcntl

    real = tmp_path / "real"
    real.mkdir()
    target = _write(real / ".env", b"A=1\n")
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    (deploy / ".env").symlink_to(target)

    def try_lock(directory: Path) -> bool:
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    with env_lock(deploy / ".env"):
        assert not try_lock(real)
        assert try_lock(deploy)
    assert try_lock(real)
    assert locking._held_locks == {}


@posix_only
def test_env_lock_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(EnvsyncError) as info, env_lock(tmp_path / "gone" / ".env"):
        pass  # pragma: no cover
    _assert_one_line_naming(info.value, tmp_path / "gone" / ".env")


def test_env_lock_released_after_exception(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"")
    with pytest.raises(RuntimeError), env_lock(env):
        raise RuntimeError("boom")
    assert locking._held_locks == {}


# ------------------------------------------------------------------------------------------
# restore


@posix_only
def test_restore_gives_back_exact_bytes_and_backs_up_current(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"CURRENT=1\n", 0o640)
    bdir = tmp_path / "env-backup"
    bdir.mkdir(mode=0o700)
    old = _write(bdir / ".env.backup_20200101_000000", b"\xef\xbb\xbfOLD=1\r\nX='a\r\nb'", 0o600)
    saved = restore(env, old, bdir)
    assert env.read_bytes() == b"\xef\xbb\xbfOLD=1\r\nX='a\r\nb'"
    assert _mode(env) == 0o640  # the env file keeps its mode
    assert saved is not None and saved.parent == bdir
    assert saved.read_bytes() == b"CURRENT=1\n"
    assert _mode(saved) == 0o640
    assert old.read_bytes() == b"\xef\xbb\xbfOLD=1\r\nX='a\r\nb'"
    assert list_backups(env, bdir) == [saved, old]
    assert _listing(tmp_path) == [".env", "env-backup"]


def test_restore_twice_round_trips(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"B=2\n")
    bdir = tmp_path / "env-backup"
    first = make_backup(env, bdir, now=NOW)
    env.write_bytes(b"C=3\n")
    saved = restore(env, first, bdir)
    assert saved is not None and env.read_bytes() == b"B=2\n"
    assert restore(env, saved, bdir) is not None
    assert env.read_bytes() == b"C=3\n"


def test_restore_identical_does_nothing(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"A=1\n")
    bdir = tmp_path / "env-backup"
    b = make_backup(env, bdir, now=NOW)
    ino = os.stat(env).st_ino
    assert restore(env, b, bdir) is None
    assert os.stat(env).st_ino == ino  # not rewritten
    assert list_backups(env, bdir) == [b]


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_restore_missing_env_takes_backup_mode(tmp_path: Path, mode: int) -> None:
    bdir = tmp_path / "env-backup"
    bdir.mkdir()
    b = _write(bdir / ".env.backup_20200101_000000", b"A=1\n", mode)
    env = tmp_path / ".env"
    assert restore(env, b, bdir) is None
    assert env.read_bytes() == b"A=1\n"
    assert _mode(env) == mode
    assert _listing(bdir) == [b.name]


@posix_only
def test_restore_through_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = _write(tmp_path / "real" / ".env", b"NOW=1\n")
    link = tmp_path / ".env"
    link.symlink_to("real/.env")
    bdir = tmp_path / "env-backup"
    bdir.mkdir()
    b = _write(bdir / ".env.backup_20200101_000000", b"THEN=1\n")
    saved = restore(link, b, bdir)
    assert link.is_symlink() and target.read_bytes() == b"THEN=1\n"
    assert saved is not None and saved.read_bytes() == b"NOW=1\n"
    assert saved.name.startswith(".env.backup_")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"A=\xff\n", "not valid UTF-8"), (b"A=\x00\n", "NUL")],
)
def test_restore_refuses_a_bad_backup_and_writes_nothing(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    env = _write(tmp_path / ".env", b"CURRENT=1\n")
    bdir = tmp_path / "env-backup"
    bdir.mkdir()
    b = _write(bdir / ".env.backup_20200101_000000", content)
    with pytest.raises(EnvsyncError) as info:
        restore(env, b, bdir)
    assert fragment in str(info.value) and str(b) in str(info.value)
    assert env.read_bytes() == b"CURRENT=1\n"
    assert _listing(bdir) == [b.name]


def test_restore_missing_backup(tmp_path: Path) -> None:
    env = _write(tmp_path / ".env", b"CURRENT=1\n")
    with pytest.raises(EnvsyncError) as info:
        restore(env, tmp_path / "nope", tmp_path / "env-backup")
    _assert_one_line_naming(info.value, tmp_path / "nope")
    assert _listing(tmp_path) == [".env"]


def test_restore_refuses_when_env_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    b = _write(tmp_path / "b", b"A=1\n")
    with pytest.raises(EnvsyncError) as info:
        restore(tmp_path / ".env", b, tmp_path / "env-backup")
    assert "is a directory" in str(info.value)
    assert _listing(tmp_path) == [".env", "b"]


@posix_only
def test_restore_into_unwritable_directory_creates_no_backup(shared_dir: Path) -> None:
    deploy = shared_dir / "deploy"
    deploy.mkdir()
    env = _write(deploy / ".env", b"CURRENT=1\n", 0o666)
    bdir = shared_dir / "bk"
    bdir.mkdir()
    b = _write(bdir / ".env.backup_20200101_000000", b"OLD=1\n", 0o644)
    os.chmod(bdir, 0o777)
    os.chmod(deploy, 0o555)  # the env file cannot be replaced: refuse before backing up
    run = _expect_error(lambda: restore(env, b, bdir))
    result = _run_as_nobody(run) if IS_ROOT else run()
    assert result.startswith("EnvsyncError: cannot write ")
    assert "not writable" in result
    assert _listing(bdir) == [b.name]
    assert env.read_bytes() == b"CURRENT=1\n"


def test_backup_dir_created_by_a_concurrent_run_during_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run (holding the lock) creates env-backup/ between this check's looks: that is
    a directory, not "not a directory" (seen with 6 concurrent fixes under load)."""
    env = tmp_path / ".env"
    env.write_text("A=1\n", encoding="utf-8")
    bdir = tmp_path / "env-backup"
    real_stat = os.stat
    raced = []

    def racing_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if Path(path) == bdir and not raced:
            raced.append(True)
            os.mkdir(bdir, 0o700)  # the other run, right after this look missed it
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", racing_stat)
    check_writable_target(env, bdir)
    assert raced and bdir.is_dir()


# --- large files: read into an anonymous mapping, with the same results and messages ---------

_BIG_LINE = b"# " + b"x" * 98 + b"\n"  # 101 bytes


@pytest.mark.parametrize(
    ("tail", "fragment"),
    [
        (b"A=\xc3\xa9t\xc3\xa9\r\nB=2", None),  # UTF-8, CRLF, no final newline: read as is
        (b"A=1\nB=\xff\n", "not valid UTF-8 (byte offset {at}, line {line})"),
        (b"A=1\nB=x\x00y\n", "contains a NUL byte (byte offset {at}, line {line})"),
    ],
    ids=["valid", "invalid-utf8", "nul"],
)
def test_read_text_large_file(tmp_path: Path, tail: bytes, fragment: str | None) -> None:
    lines = reading._LARGE // len(_BIG_LINE) + 10
    data = b"\xef\xbb\xbf" + _BIG_LINE * lines + tail
    assert len(data) >= reading._LARGE
    p = _write(tmp_path / ".env", data)
    if fragment is None:
        assert read_text(p, "env file") == data.decode("utf-8")
        return
    bad = data.find(b"\xff") if b"\xff" in tail else data.find(b"\x00")
    want = fragment.format(at=bad, line=data.count(b"\n", 0, bad) + 1)
    with pytest.raises(EnvsyncError) as info:
        read_text(p, "env file")
    assert want in str(info.value) and "\n" not in str(info.value)


def test_read_text_large_file_that_changes_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that is not the size ``fstat`` said by the time it is read is read the usual way."""
    data = _BIG_LINE * (reading._LARGE // len(_BIG_LINE) + 10)
    p = _write(tmp_path / ".env", data)
    real_fstat = os.fstat

    def fstat_reporting_more(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        fields = list(st)
        fields[6] = st.st_size + 100  # st_size: the file looks 100 bytes longer
        return os.stat_result(fields)

    monkeypatch.setattr(reading.os, "fstat", fstat_reporting_more)
    assert read_text(p, "env file") == data.decode("utf-8")
