"""``envsync fix`` as a whole process: first-time setup, backups, symlinks, dry runs and diffs,
refusals and exit codes (DESIGN.md sections 6-8). Every run is ``python -m envsync_hook``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest
from cli_run import run

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symlinks")
BACKUP_NAME = re.compile(r"^(?P<env>.+)\.backup_(?P<stamp>\d{8}_\d{6})(?:_(?P<n>\d+))?$")


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Everything under ``root``: kind, content (or link target) and mode, by relative path."""
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p), 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write(path: Path, data: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.chmod(path, mode)
    return path


def backups(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if BACKUP_NAME.match(p.name))


TEMPLATE = "# App\nLOG_LEVEL=INFO\nNEW_KEY=fresh\n"
OLD_ENV = "LOG_LEVEL=DEBUG\n"


# --------------------------------------------------------------------------------------------
# first-time setup


@posix_only
@pytest.mark.parametrize(
    "template",
    ["A=1\nB=2\n", "# c\r\nA=1\r\nB='x y'", "\ufeffA=1\n"],
    ids=["lf", "crlf-no-final-newline", "bom"],
)
def test_first_time_setup_copies_the_template(tmp_path: Path, template: str) -> None:
    write(tmp_path / ".env.example", template, 0o644)
    proc = run(tmp_path, "fix")
    assert proc.returncode == 1, proc.stderr
    env = tmp_path / ".env"
    assert env.read_bytes() == template.encode("utf-8")
    assert mode_of(env) == 0o600
    # nothing to back up; only the sync record of what the env file was made from (issue 11)
    assert [p.name for p in (tmp_path / "env-backup").iterdir()] == [".env.sync"]
    # and the copy is in sync: a second run changes nothing
    before = snapshot(tmp_path)
    again = run(tmp_path, "fix")
    assert again.returncode == 0, again.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("flags", [["--dry-run"], ["--diff"], ["--if-missing", "skip"]])
def test_first_time_setup_writes_nothing_when_asked_not_to(
    tmp_path: Path, flags: list[str]
) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", *flags)
    assert snapshot(tmp_path) == before
    assert proc.returncode == (0 if "skip" in flags else 1), proc.stderr


# --------------------------------------------------------------------------------------------
# backups


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
@pytest.mark.parametrize(
    ("template_name", "env_name"),
    [(".env.example", ".env"), ("middleware.env.example", "middleware.env")],
)
def test_backup_name_bytes_and_mode(
    tmp_path: Path, mode: int, template_name: str, env_name: str
) -> None:
    write(tmp_path / template_name, TEMPLATE)
    old = '# mine\r\nLOG_LEVEL=DEBUG\r\nPEM="a\nb"\r\nEXTRA=1'  # CRLF, no final newline
    env = write(tmp_path / env_name, old, mode)
    started = datetime.now().replace(microsecond=0)
    proc = run(tmp_path, "fix", template_name)
    finished = datetime.now()
    assert proc.returncode == 1, proc.stderr
    bdir = tmp_path / "env-backup"
    assert mode_of(bdir) == 0o700
    made = backups(bdir)
    assert len(made) == 1
    m = BACKUP_NAME.match(made[0].name)
    assert m is not None and m.group("env") == env_name and m.group("n") is None
    stamp = datetime.strptime(m.group("stamp"), "%Y%m%d_%H%M%S")
    assert started - timedelta(seconds=1) <= stamp <= finished + timedelta(seconds=1)
    assert made[0].read_bytes() == old.encode("utf-8")
    assert mode_of(made[0]) == mode
    assert mode_of(env) == mode  # the env file keeps its mode too
    assert env.read_bytes() != old.encode("utf-8")


def test_no_backup_and_exit_0_when_nothing_changes(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", "LOG_LEVEL=DEBUG\nNEW_KEY=mine\n# extra comment lines are fine\n")
    fixed = run(tmp_path, "fix")
    assert fixed.returncode == 1, fixed.stderr
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix")
    assert proc.returncode == 0, proc.stderr
    assert snapshot(tmp_path) == before
    assert len(backups(tmp_path / "env-backup")) == 1


def test_in_sync_from_the_start_creates_no_backup_dir(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", "# App\nLOG_LEVEL=DEBUG\nNEW_KEY=fresh\n")
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix")
    assert proc.returncode == 0, proc.stderr
    # no backup: only the sync record of what the env file is in sync with (issue 11)
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("env-backup")} == before
    assert [p.name for p in (tmp_path / "env-backup").iterdir()] == [".env.sync"]


def _wait_for_a_new_second() -> None:
    while time.time() % 1 > 0.05:
        time.sleep(0.01)


def test_two_fixes_in_one_second_keep_both_backups(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "A=1\n")
    first_env = "A=5\nX=1\n"
    write(tmp_path / ".env", first_env)
    _wait_for_a_new_second()
    one = run(tmp_path, "fix")
    second_env = (tmp_path / ".env").read_text()
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    two = run(tmp_path, "fix")
    assert (one.returncode, two.returncode) == (1, 1), (one.stderr, two.stderr)
    made = backups(tmp_path / "env-backup")
    assert len(made) == 2
    contents = sorted(p.read_text() for p in made)
    assert contents == sorted([first_env, second_env])
    stamps = [BACKUP_NAME.match(p.name).group("stamp") for p in made]  # type: ignore[union-attr]
    if stamps[0] == stamps[1]:  # the usual case: both in one second
        assert sorted(p.name for p in made) == sorted(
            [f".env.backup_{stamps[0]}", f".env.backup_{stamps[0]}_2"]
        )


def test_a_taken_backup_name_is_never_overwritten(tmp_path: Path) -> None:
    """Backups already named for every second around the run: the new one gets ``_2``."""
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", OLD_ENV)
    bdir = tmp_path / "env-backup"
    bdir.mkdir(mode=0o700)
    now = datetime.now()
    decoys = {}
    for delta in range(-2, 30):
        stamp = (now + timedelta(seconds=delta)).strftime("%Y%m%d_%H%M%S")
        decoys[f".env.backup_{stamp}"] = f"decoy {stamp}\n".encode()
        write(bdir / f".env.backup_{stamp}", decoys[f".env.backup_{stamp}"])
    proc = run(tmp_path, "fix")
    assert proc.returncode == 1, proc.stderr
    for name, data in decoys.items():
        assert (bdir / name).read_bytes() == data
    new = [p for p in backups(bdir) if p.name not in decoys]
    assert len(new) == 1
    assert new[0].name.endswith("_2") and new[0].name[: -len("_2")] in decoys
    assert new[0].read_bytes() == OLD_ENV.encode()


# --------------------------------------------------------------------------------------------
# symlinks


@posix_only
@pytest.mark.parametrize("target", ["real.env", "ABSOLUTE"])
def test_symlinked_env_stays_a_symlink(tmp_path: Path, target: str) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    real = write(tmp_path / "real.env", OLD_ENV, 0o600)
    link_text = str(real) if target == "ABSOLUTE" else target
    os.symlink(link_text, tmp_path / ".env")
    proc = run(tmp_path, "fix")
    assert proc.returncode == 1, proc.stderr
    env = tmp_path / ".env"
    assert env.is_symlink() and os.readlink(env) == link_text
    assert real.read_text() != OLD_ENV
    assert "LOG_LEVEL=DEBUG" in real.read_text() and "NEW_KEY=fresh" in real.read_text()
    assert mode_of(real) == 0o600
    made = backups(tmp_path / "env-backup")
    assert len(made) == 1 and made[0].read_text() == OLD_ENV
    assert not made[0].is_symlink()
    # nothing else appeared beside it (no temp file left behind)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".env",
        ".env.example",
        "env-backup",
        "real.env",
    ]


# --------------------------------------------------------------------------------------------
# --dry-run and --diff: nothing written, values masked

DIFF_TEMPLATE = """\
# Application
LOG_LEVEL=INFO
APP_COLOR=blue
NEW_FEATURE_FLAG=innocent-new-default-4d
DB_PASSWORD=
API_TOKEN=
NEW_SECRET_KEY=planted-template-secret-9f
DATABASE_URL=postgres://user:pass@db/app
"""
DIFF_ENV = """\
LOG_LEVEL=DEBUG
APP_COLOR=innocent-purple-7a
DB_PASSWORD=planted-db-secret-1a
API_TOKEN="planted-api-token-3c"
DATABASE_URL=postgres://dify:planted-url-password-8b@db/app
MULTI="planted-multi-line-5e
planted-second-line-6f"
"""
SECRET_TOKENS = [
    "planted-template-secret-9f",
    "planted-db-secret-1a",
    "planted-api-token-3c",
    "planted-url-password-8b",
]
INNOCENT_TOKENS = ["innocent-new-default-4d", "innocent-purple-7a"]
ALL_TOKENS = [*SECRET_TOKENS, *INNOCENT_TOKENS, "planted-multi-line-5e", "planted-second-line-6f"]


@pytest.mark.parametrize("flags", [["--dry-run"], ["--diff"], ["--diff", "--dry-run"]])
def test_dry_run_and_diff_write_nothing_and_mask_values(tmp_path: Path, flags: list[str]) -> None:
    write(tmp_path / ".env.example", DIFF_TEMPLATE)
    write(tmp_path / ".env", DIFF_ENV)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", *flags)
    assert snapshot(tmp_path) == before
    assert proc.returncode == 1, proc.stderr  # it would change the file
    out = proc.stdout + proc.stderr
    for token in ALL_TOKENS:
        assert token not in out
    if "--diff" in flags:
        lines = proc.stdout.splitlines()
        assert any(line.startswith("--- ") for line in lines)
        assert any(line.startswith("+++ ") for line in lines)
        assert any(line.startswith("@@ ") for line in lines)
        # the change is visible by key: the new keys arrive, the operator's keys stay
        added = [line for line in lines if line.startswith("+") and not line.startswith("+++")]
        assert any("NEW_FEATURE_FLAG" in line for line in added)
        assert any("NEW_SECRET_KEY" in line for line in added)


def test_diff_show_values_masks_secrets_only(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", DIFF_TEMPLATE)
    write(tmp_path / ".env", DIFF_ENV)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", "--diff", "--show-values")
    assert snapshot(tmp_path) == before
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout + proc.stderr
    for token in INNOCENT_TOKENS:
        assert token in proc.stdout
    for token in SECRET_TOKENS:
        assert token not in out


def test_diff_when_nothing_changes_is_empty(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", "A=1\n")
    write(tmp_path / ".env", "A=planted-value-0c\n")
    proc = run(tmp_path, "fix", "--diff")
    assert proc.returncode == 0, proc.stderr
    assert "@@" not in proc.stdout and "planted-value-0c" not in proc.stdout + proc.stderr


def test_a_real_fix_prints_no_values(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", DIFF_TEMPLATE)
    write(tmp_path / ".env", DIFF_ENV)
    proc = run(tmp_path, "fix")
    assert proc.returncode == 1, proc.stderr
    for token in ALL_TOKENS:
        assert token not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# refusals: exit 2, one line naming the file, nothing written

GOOD_TEMPLATE = "A=1\nB=2\n"
GOOD_ENV = "A=planted-good-value-11\n"  # would change (B is missing): a fix would write


def _bad_template(content: bytes) -> Callable[[Path], str]:
    def setup(d: Path) -> str:
        write(d / ".env.example", content)
        write(d / ".env", GOOD_ENV)
        return ".env.example"

    return setup


def _bad_env(content: bytes) -> Callable[[Path], str]:
    def setup(d: Path) -> str:
        write(d / ".env.example", GOOD_TEMPLATE)
        write(d / ".env", content)
        return ".env"

    return setup


def _env_is_a_directory(d: Path) -> str:
    write(d / ".env.example", GOOD_TEMPLATE)
    (d / ".env").mkdir()
    (d / ".env" / "inside").write_text("x")
    return ".env"


def _template_is_a_directory(d: Path) -> str:
    (d / ".env.example").mkdir()
    write(d / ".env", GOOD_ENV)
    return ".env.example"


def _template_missing(d: Path) -> str:
    write(d / ".env", GOOD_ENV)
    return ".env.example"


def _backup_dir_is_a_file(d: Path) -> str:
    write(d / ".env.example", GOOD_TEMPLATE)
    write(d / ".env", GOOD_ENV)
    write(d / "env-backup", b"not a directory\n")
    return "env-backup"


def _backup_dir_is_a_dangling_symlink(d: Path) -> str:
    write(d / ".env.example", GOOD_TEMPLATE)
    write(d / ".env", GOOD_ENV)
    os.symlink("nowhere", d / "env-backup")
    return "env-backup"


def _env_symlink_to_a_directory(d: Path) -> str:
    write(d / ".env.example", GOOD_TEMPLATE)
    (d / "conf").mkdir()
    os.symlink("conf", d / ".env")
    return ".env"


REFUSALS: list[tuple[str, Callable[[Path], str]]] = [
    ("template: unterminated quote", _bad_template(b'A=1\nB="planted-secret-22\n')),
    ("env: unterminated quote", _bad_env(b'A=1\nDB_PASSWORD="planted-secret-22\n')),
    ("env: unterminated single quote", _bad_env(b"A='planted-secret-22\n")),
    ("env: malformed ${", _bad_env(b"A=x${planted-secret-22\n")),
    ("template: malformed ${", _bad_template(b"A=1\nB=${planted-secret-22\n")),
    ("env: space in a key", _bad_env(b"A=1\nMY KEY=planted-secret-22\n")),
    ("env: bad key character", _bad_env(b"A=1\nKEY@X=planted-secret-22\n")),
    ("env: invalid UTF-8", _bad_env(b"A=planted-secret-22\xff\xfe\n")),
    ("template: invalid UTF-8", _bad_template(b"A=1\nB=\xc3\x28\n")),
    ("env: NUL byte", _bad_env(b"A=planted-secret-22\x00\n")),
    ("template: NUL byte", _bad_template(b"A=1\x00\nB=2\n")),
    ("env is a directory", _env_is_a_directory),
    ("env is a symlink to a directory", _env_symlink_to_a_directory),
    ("template is a directory", _template_is_a_directory),
    ("template missing", _template_missing),
    ("backup dir is a file", _backup_dir_is_a_file),
    ("backup dir is a dangling symlink", _backup_dir_is_a_dangling_symlink),
]


@pytest.mark.parametrize("setup", [r[1] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
@pytest.mark.parametrize("flags", [[], ["--dry-run"]], ids=["fix", "dry-run"])
def test_refusals(tmp_path: Path, setup: Callable[[Path], str], flags: list[str]) -> None:
    named = setup(tmp_path)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", *flags)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert named in lines[0]
    assert "planted-secret-22" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before


def test_refusal_backup_dir_parent_missing(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", GOOD_TEMPLATE)
    write(tmp_path / ".env", GOOD_ENV)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", "--backup-dir", "no/such/dir")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "no/such/dir" in proc.stderr
    assert snapshot(tmp_path) == before


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the unprivileged user ``nobody`` may use (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="envsync-fixcli-"))
    os.chmod(d, 0o777)
    try:
        yield d
    finally:
        for p in sorted(d.rglob("*"), reverse=True):
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o700)
                p.rmdir()
            else:
                p.unlink()
        d.rmdir()


def _nobody_can_run_python() -> bool:
    if not IS_ROOT:
        return False
    try:
        proc = subprocess.run(
            [sys.executable, "-c", "import envsync_hook"],
            user="nobody",
            cwd="/",
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, KeyError):
        return False
    return proc.returncode == 0


@posix_only
@pytest.mark.parametrize("what", ["backup dir", "env dir"])
def test_refusal_unwritable_directories(shared_dir: Path, what: str) -> None:
    # root may write anywhere: the refusal is only observable as an unprivileged user
    if not _nobody_can_run_python():
        pytest.skip("needs root, and a Python (with envsync_hook) that 'nobody' can run")
    work = shared_dir / "work"
    work.mkdir()
    write(work / ".env.example", GOOD_TEMPLATE, 0o644)
    write(work / ".env", GOOD_ENV, 0o666)
    if what == "backup dir":
        (work / "env-backup").mkdir()
        os.chmod(work / "env-backup", 0o555)
        os.chmod(work, 0o777)
        named = "env-backup"
    else:
        os.chmod(work, 0o555)
        named = str(work)
    before = snapshot(work)
    proc = run(work, "fix", user="nobody")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(proc.stderr.splitlines()) == 1 and named in proc.stderr
    assert snapshot(work) == before


def test_one_bad_pair_stops_every_pair(tmp_path: Path) -> None:
    """A refusal writes nothing at all, also for the other templates of the same run."""
    write(tmp_path / "a.env.example", GOOD_TEMPLATE)
    write(tmp_path / "a.env", GOOD_ENV)
    write(tmp_path / "b.env.example", GOOD_TEMPLATE)
    write(tmp_path / "b.env", b'A="planted-secret-22\n')
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", "a.env.example", "b.env.example")
    assert proc.returncode == 2, proc.stderr
    assert snapshot(tmp_path) == before


def test_one_bad_template_stops_every_pair(tmp_path: Path) -> None:
    write(tmp_path / "a.env.example", GOOD_TEMPLATE)
    write(tmp_path / "a.env", GOOD_ENV)
    write(tmp_path / "b.env.example", b"A=\xff\n")
    write(tmp_path / "b.env", GOOD_ENV)
    before = snapshot(tmp_path)
    proc = run(tmp_path, "fix", "a.env.example", "b.env.example")
    assert proc.returncode == 2, proc.stderr
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------
# exit codes and --backup-dir


@pytest.mark.parametrize(
    ("template", "env", "code"),
    [
        ("A=1\n", "A=1\n", 0),
        ("A=1\n", "A=2\n", 0),  # a customisation is kept: nothing to change
        ("A=1\nB=2\n", "A=1\n", 1),  # a key arrives
        ("A=1\n", "B=2\nA=1\n", 1),  # order and the trailing block
        ("A=1\n", "A=1", 1),  # final newline follows the template
    ],
)
def test_exit_codes(tmp_path: Path, template: str, env: str, code: int) -> None:
    write(tmp_path / ".env.example", template)
    write(tmp_path / ".env", env)
    proc = run(tmp_path, "fix")
    assert proc.returncode == code, proc.stderr
    assert ((tmp_path / ".env").read_text() != env) == (code == 1)


@pytest.mark.parametrize("where", ["absolute", "relative"])
def test_backup_dir_option(tmp_path: Path, where: str) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", OLD_ENV)
    target = tmp_path / "saved"
    arg = str(target) if where == "absolute" else "saved"
    proc = run(tmp_path, "fix", "--backup-dir", arg)
    assert proc.returncode == 1, proc.stderr
    assert not (tmp_path / "env-backup").exists()
    made = backups(target)
    assert len(made) == 1 and made[0].read_text() == OLD_ENV
    assert mode_of(target) == 0o700


def test_env_option_names_the_env_file(tmp_path: Path) -> None:
    write(tmp_path / "app.template", TEMPLATE)
    write(tmp_path / "prod.env", OLD_ENV)
    proc = run(tmp_path, "fix", "app.template", "--env", "prod.env")
    assert proc.returncode == 1, proc.stderr
    assert "NEW_KEY=fresh" in (tmp_path / "prod.env").read_text()
    made = backups(tmp_path / "env-backup")
    assert [p.name.split(".backup_")[0] for p in made] == ["prod.env"]


@pytest.mark.parametrize("args", [[], ["--dry-run"], ["--diff"]])
def test_fix_reports_unsafe_permissions_as_check_does(tmp_path: Path, args: list[str]) -> None:
    """fix keeps the env file's mode: a file others can read stays so, and fix's report says
    so (ENV011) as check's right after does; ``--fail-on warning`` fails on it (red team)."""
    import json

    write(tmp_path / ".env.example", "A=1\nB=2\n")
    write(tmp_path / ".env", "A=1\nB=3\n", mode=0o644)

    def env011(proc: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
        found = [f for p in json.loads(proc.stdout)["pairs"] for f in p["findings"]]
        return sorted((f["file"], f["message"]) for f in found if f["code"] == "ENV011")

    fixed = run(tmp_path, "fix", "--no-base", "--format", "json", *args)
    assert fixed.returncode in (0, 1), fixed.stderr
    checked = run(tmp_path, "check", "--no-base", "--format", "json")
    assert env011(fixed) and env011(fixed) == env011(checked)
    failing = run(tmp_path, "fix", "--no-base", "--fail-on", "warning", *args)
    assert failing.returncode == 1, failing.stdout
