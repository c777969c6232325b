"""Hostile and broken input, through the real CLI: refuse cleanly or report, never corrupt.

One table, each row a directory to build and what ``check``, ``fix`` (and for some rows
``restore``) must do with it:

- ``REFUSE``: exit 2, exactly one line on stderr (``envsync: error: ...``, naming the file and
  saying why), nothing on stdout, no traceback, and nothing written or created: the whole tree,
  with every file's bytes, mode and mtime and every directory's mtime, is unchanged;
- ``FINDING(code)``: exit 1 and the finding in the report, stderr empty, nothing written;
- ``WORKS``: a normal run (exit 0 or 1, no traceback); the row's ``verify`` checks the result.

Rows marked ``as_nobody`` need an unprivileged user (file modes do not stop root): as root the
CLI runs in a child that switches to ``nobody`` before ``main`` (the interpreter lives under
``/root``, which ``nobody`` cannot enter, so the switch happens after start-up, with the package
already imported). Those rows use a directory outside pytest's ``tmp_path``, whose parents only
root may enter; it is removed afterwards.

Decided behaviour for a symlinked ``.env`` whose target is outside the ``.env``'s directory:
``fix`` and ``restore`` refuse (a symlink planted in a repository must not make the hook rewrite
``~/.bashrc``), and ``check`` refuses to read it unless the file is named on the command line
(``--env``); a target in the same directory or below it is followed and replaced
(tests/test_crash.py, scenario ``fix-symlinked-env``). The same for a backup directory reached
through a symlink: to a directory outside, ``fix`` and ``restore`` refuse (the backups hold the
secrets, and restore must not read a planted one); inside, it is followed.

The attacks of issue 14 ("Leaving the folder"; the race is ``test_race_*`` below) are the rows
marked ``# attack (N)``. Their outside files hold ``OUTSIDE``; besides the tree comparison, that
marker must reach no output and no file inside the folder (nothing outside was read).
"""

from __future__ import annotations

import ast
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Callable, NamedTuple

import pytest

import envsync_hook

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SECRET = "hostile-secret-b7f3e1"
OUTSIDE = "outside-secret-5c91d0"


class Expect(NamedTuple):
    kind: str  #: "refuse" | "finding" | "works"
    detail: str = ""  #: refuse: a fragment of the error line; finding: the code
    exit: int = 1  #: finding: the exit code (1 for an error-level finding)


REFUSE = Expect("refuse")


def refuse(fragment: str) -> Expect:
    return Expect("refuse", fragment)


def finding(code: str, exit: int = 1) -> Expect:
    return Expect("finding", code, exit)


WORKS = Expect("works")


class Row(NamedTuple):
    id: str
    setup: Callable[[Path], None]
    #: None: the command is not run for this row
    check: Expect | None
    fix: Expect | None
    restore: Expect | None = None
    #: the file the error line must name
    names: str = ".env"
    verify: Callable[[Path, str, subprocess.CompletedProcess[bytes]], None] | None = None
    as_nobody: bool = False
    #: further arguments of check and fix; of restore
    args: tuple[str, ...] = ()
    restore_args: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------
# building blocks

TEMPLATE = "# app\nAPP_URL=http://localhost\nDB_PASSWORD=changeme\nWORKERS=4\n"
ENV = f"APP_URL=https://prod.example\nDB_PASSWORD={SECRET}\nWORKERS=8\n"
BACKED = ENV.replace("WORKERS=8", "WORKERS=9")  # an older version, in a backup


def _w(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.chmod(path, mode)


def _pair(template: str | bytes = TEMPLATE, env: str | bytes = ENV) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        _w(d / ".env.example", template, 0o644)
        _w(d / ".env", env)

    return setup


def _template_only(d: Path) -> None:
    _w(d / ".env.example", TEMPLATE, 0o644)


def _env_only(d: Path) -> None:
    _w(d / ".env", ENV)


def _a_backup(d: Path) -> None:
    _w(d / "env-backup" / ".env.backup_20240101_000000", ENV)
    os.chmod(d / "env-backup", 0o700)


def _env_dir(d: Path) -> None:
    _template_only(d)
    (d / ".env").mkdir()
    _a_backup(d)  # for restore


def _template_dir(d: Path) -> None:
    _env_only(d)
    (d / ".env.example").mkdir()


def _env_fifo(d: Path) -> None:
    _template_only(d)
    os.mkfifo(d / ".env")


def _env_dangling(d: Path) -> None:
    _template_only(d)
    (d / ".env").symlink_to("gone.env")


def _backup_dir_is_file(d: Path) -> None:
    _pair()(d)
    _w(d / "env-backup", "not a directory\n")


def _backup_dir_symlink_outside(d: Path) -> None:
    _pair()(d / "app")
    _a_backup(d / "elsewhere")
    (d / "app" / "env-backup").symlink_to("../elsewhere/env-backup")


def _backup_dir_symlink_inside(d: Path) -> None:
    _pair()(d)
    (d / "keep" / "backups").mkdir(parents=True, mode=0o700)
    (d / "env-backup").symlink_to("keep/backups")


def _verify_backup_through_link(
    d: Path, command: str, proc: subprocess.CompletedProcess[bytes]
) -> None:
    backups = sorted((d / "keep" / "backups").glob("*.backup_*[0-9]"))
    if command == "fix":
        assert (d / "env-backup").is_symlink()
        assert [b.read_text("utf-8") for b in backups] == [ENV]
    else:
        assert backups == []


def _env_symlink_outside(d: Path) -> None:
    _w(d / "elsewhere" / "victim.env", ENV)
    _template_only(d / "app")
    (d / "app" / ".env").symlink_to("../elsewhere/victim.env")
    _a_backup(d / "app")


def _nobody_ids() -> tuple[int, int]:
    user = pwd.getpwnam("nobody")
    return user.pw_uid, user.pw_gid


def _env_unreadable(d: Path) -> None:
    _pair()(d)
    _a_backup(d)  # for restore
    os.chmod(d / ".env", 0o000)
    if IS_ROOT:  # all is nobody's (so writing is allowed) but .env, which stays root's 0600
        for p in (d, d / "env-backup", *(d / "env-backup").iterdir()):
            os.chown(p, *_nobody_ids())
        os.chmod(d / ".env", 0o600)


def _template_unreadable(d: Path) -> None:
    _pair()(d)
    os.chmod(d / ".env.example", 0o000)
    if IS_ROOT:
        os.chown(d, *_nobody_ids())
        os.chown(d / ".env", *_nobody_ids())
        os.chmod(d / ".env.example", 0o600)


def _env_dir_unwritable(d: Path) -> None:
    _pair()(d)
    if IS_ROOT:
        os.chown(d / ".env", *_nobody_ids())
    os.chmod(d / ".env", 0o666)
    os.chmod(d / ".env.example", 0o644)
    os.chmod(d, 0o555)


def _backup_dir_unwritable(d: Path) -> None:
    _pair()(d)
    (d / "env-backup").mkdir()
    if IS_ROOT:
        os.chown(d, *_nobody_ids())
        os.chown(d / ".env", *_nobody_ids())
    os.chmod(d / "env-backup", 0o555)


# --- leaving the folder (issue 14): the folder is d/app, d/elsewhere is outside it


def _outside(d: Path, name: str = "victim.env") -> Path:
    victim = d / "elsewhere" / name
    _w(victim, f"APP_URL=x\nDB_PASSWORD={OUTSIDE}\nSTOLEN={OUTSIDE}\n", 0o644)
    return victim


def _parent_folder_symlink_env(d: Path) -> None:
    """attack (2): ``env = "deploy/.env"`` with ``deploy -> ../elsewhere``"""
    _template_only(d / "app")
    _outside(d, ".env")
    (d / "app" / "deploy").symlink_to("../elsewhere")
    _w(d / "app" / ".envsync.toml", 'env = "deploy/.env"\nshow_values = true\n', 0o644)
    _w(d / "app" / "env-backup" / ".env.backup_20240101_000000", ENV)


def _parent_folder_symlink_backup_dir(d: Path) -> None:
    """attack (2): ``backup_dir = "backups/env"`` with ``backups -> ../public``"""
    _pair()(d / "app")
    (d / "public" / "env").mkdir(parents=True)
    _w(d / "public" / "env" / ".env.backup_20240101_000000", f"A={OUTSIDE}\n")
    (d / "app" / "backups").symlink_to("../public")
    _w(d / "app" / ".envsync.toml", 'backup_dir = "backups/env"\n', 0o644)


def _report_symlink(d: Path) -> None:
    """attack (3): a report path that is a symlink to a file elsewhere"""
    _pair()(d / "app")
    _outside(d)
    (d / "app" / "report.out").symlink_to("../elsewhere/victim.env")


def _report_folder_symlink(d: Path) -> None:
    """attack (3): a report path whose folder is a symlink out of the folder"""
    _pair()(d / "app")
    _outside(d)
    (d / "app" / "reports").symlink_to("../elsewhere")


def _report_hard_link(d: Path) -> None:
    """attack (3), by hard link: truncating the report would truncate the other name's file"""
    _pair()(d / "app")
    os.link(_outside(d), d / "app" / "report.out")


def _planted_backup(d: Path) -> None:
    """attack (4): ``env-backup/.env.backup_29991231_235959 -> /elsewhere``"""
    _pair()(d / "app")
    _outside(d)
    _w(d / "app" / "env-backup" / ".env.backup_20240101_000000", BACKED)
    os.chmod(d / "app" / "env-backup", 0o700)
    (d / "app" / "env-backup" / ".env.backup_29991231_235959").symlink_to(
        "../../elsewhere/victim.env"
    )


def _verify_planted_backup(d: Path, command: str, proc: subprocess.CompletedProcess[bytes]) -> None:
    if command == "restore":  # the genuine backup, not the planted link, was restored
        assert (d / "app" / ".env").read_text("utf-8") == BACKED
        assert b"20240101_000000" in proc.stderr


def _template_symlink(d: Path, with_env: bool) -> None:
    """attack (5): the template is a symlink to a file outside, with ``show_values = true``"""
    (d / "app").mkdir(parents=True)
    _outside(d, "secrets.env")
    (d / "app" / ".env.example").symlink_to("../elsewhere/secrets.env")
    _w(d / "app" / ".envsync.toml", "show_values = true\n", 0o644)
    if with_env:
        _env_only(d / "app")


def _config_outside(key: str, value: str) -> Callable[[Path], None]:
    """attack (5), without a symlink: a planted configuration names a file outside the folder"""

    def setup(d: Path) -> None:
        _pair()(d / "app")
        _outside(d, "x.env.example")
        _outside(d, ".env")
        _w(d / "app" / ".envsync.toml", f"{key} = {value}\nshow_values = true\n", 0o644)

    return setup


def _verify_named_template(d: Path, command: str, proc: subprocess.CompletedProcess[bytes]) -> None:
    # named on the command line: read, so its key is reported (check) or added (fix)
    if command == "check":
        assert b"STOLEN" in proc.stdout
    else:
        assert "STOLEN=" in (d / "app" / ".env").read_text("utf-8")


BIG_VALUE = "x" * 5_000_000


def _verify_big_line(d: Path, command: str, proc: subprocess.CompletedProcess[bytes]) -> None:
    assert b"x" * 1000 not in proc.stdout + proc.stderr  # the value is never printed
    if command == "fix":
        text = (d / ".env").read_text(encoding="utf-8")
        assert text.startswith(f"BIG={BIG_VALUE}\n")
        values = envsync_hook.compose_values(text)
        assert values["BIG"] == BIG_VALUE and values["NEW"] == "added"


N_LINES = 100_000


def _many(d: Path) -> None:
    template = "".join(f"K{i}=v{i}\n" for i in range(N_LINES))
    # every 1000th key customised, every 1000th (offset 500) missing
    env = "".join(
        f"K{i}=custom{i}\n" if i % 1000 == 0 else f"K{i}=v{i}\n"
        for i in range(N_LINES)
        if i % 1000 != 500
    )
    _pair(template, env)(d)


def _verify_many(d: Path, command: str, proc: subprocess.CompletedProcess[bytes]) -> None:
    if command == "check":
        assert proc.stdout.count(b"ENV001 missing-key") == N_LINES // 1000
    else:
        values = envsync_hook.compose_values((d / ".env").read_text(encoding="utf-8"))
        assert len(values) == N_LINES
        assert values["K0"] == "custom0" and values["K500"] == "v500" and values["K1"] == "v1"


# ------------------------------------------------------------------------------------------
# the table

# restore --from (red team): only a backup of this .env is accepted; each of these is refused
# before anything is read


def _restore_from_setup(d: Path) -> None:
    """A deployment with a genuine backup, and a file outside holding ``OUTSIDE``."""
    _pair()(d / "app")
    _outside(d)
    _w(d / "app" / "env-backup" / ".env.backup_20240101_000000", BACKED)
    os.chmod(d / "app" / "env-backup", 0o700)


def _backup_link_named_otherwise(d: Path) -> None:
    """``env-backup/passwd -> ../../elsewhere/victim.env``: a symlink into the backup directory"""
    _restore_from_setup(d)
    (d / "app" / "env-backup" / "passwd").symlink_to("../../elsewhere/victim.env")


def _other_deployment(d: Path) -> Path:
    """Another deployment beside ``app`` whose backup (with metadata naming its own ``.env``,
    as fix writes it) holds ``OUTSIDE``; the folder its backup would go in."""
    _restore_from_setup(d)
    other = d / "other"
    _w(other / ".env", f"DB_PASSWORD={OUTSIDE}\n")
    return other


#: the other deployment's secret, in a backup inside our folder (a shared backup directory)
THEIRS = "their-secret-2e8a4f"


def _backup_of(bdir: Path, env: Path, stamp: str, secret: str = OUTSIDE) -> Path:
    """A backup of ``env`` in ``bdir`` with its metadata (the format of files.backup_meta)."""
    backup = bdir / f".env.backup_{stamp}"
    _w(backup, f"DB_PASSWORD={secret}\n")
    st = os.stat(env.parent)
    meta = (
        f"envsync-backup 1\nmade-by fix\nenv {os.path.realpath(env)}\ndir {st.st_dev}:{st.st_ino}\n"
    )
    _w(backup.with_name(backup.name + ".meta"), meta)
    return backup


def _other_deployments_own_backup(d: Path) -> None:
    other = _other_deployment(d)
    _backup_of(other / "env-backup", other / ".env", "20990101_000000")


def _other_deployments_backup_in_ours(d: Path) -> None:
    """A shared backup directory: the other deployment's backup sits beside ours."""
    other = _other_deployment(d)
    _backup_of(d / "app" / "env-backup", other / ".env", "20990101_000000", THEIRS)
    os.chmod(d / "app" / "env-backup", 0o700)


def _backup_hard_link(d: Path) -> None:
    """A hard link to the file outside, under a backup's name and without metadata (as an older
    envsync made them): the newest backup, what a plain ``restore`` would pick too"""
    _restore_from_setup(d)
    os.link(
        d / "elsewhere" / "victim.env", d / "app" / "env-backup" / ".env.backup_20990101_000000"
    )


def _backup_fifo(d: Path) -> None:
    """A FIFO with a backup's name: reading it would hang (no writer), never return."""
    _restore_from_setup(d)
    os.mkfifo(d / "app" / "env-backup" / ".env.backup_20990101_000000", 0o600)


def _verify_theirs_not_shown(
    d: Path, command: str, proc: subprocess.CompletedProcess[bytes]
) -> None:
    assert THEIRS.encode() not in proc.stdout + proc.stderr


def _verify_passwd_not_shown(
    d: Path, command: str, proc: subprocess.CompletedProcess[bytes]
) -> None:
    assert b"root:" not in proc.stdout + proc.stderr  # nothing of /etc/passwd was printed


def _restore_from(
    id: str,
    setup: Callable[[Path], None],
    source: str,
    fragment: str,
    verify: Callable[[Path, str, subprocess.CompletedProcess[bytes]], None] | None = None,
) -> Row:
    """A row run only as ``restore --from SOURCE``, which must be refused naming SOURCE."""
    return Row(
        id,
        setup,
        None,
        None,
        refuse(fragment),
        names=source,
        verify=verify,
        restore_args=("--from", source),
    )


ROWS = [
    Row(
        "env-invalid-utf8",
        _pair(env=b"A=caf\xe9\n" + ENV.encode()),
        refuse("not valid UTF-8"),
        refuse("not valid UTF-8"),
    ),
    Row(
        "template-invalid-utf8",
        _pair(template=b"A=\xff\xfe\n"),
        refuse("not valid UTF-8"),
        refuse("not valid UTF-8"),
        names=".env.example",
    ),
    Row("env-nul-byte", _pair(env=ENV.encode() + b"B=x\x00y\n"), refuse("NUL"), refuse("NUL")),
    Row(
        "template-nul-byte",
        _pair(template=b"A=\x00\n"),
        refuse("NUL"),
        refuse("NUL"),
        names=".env.example",
    ),
    Row(
        "env-5mb-line",
        _pair("BIG=small\nNEW=added\n", f"BIG={BIG_VALUE}\n"),
        WORKS,
        WORKS,
        verify=_verify_big_line,
    ),
    Row("100000-lines", _many, WORKS, WORKS, verify=_verify_many),
    Row(
        "env-unterminated-double-quote",
        _pair(env=ENV + 'NOTE="never closed\nX=1\n'),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "env-unterminated-single-quote",
        _pair(env="NOTE='open\n" + ENV),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "template-unterminated-quote",
        _pair(template=TEMPLATE + 'NOTE="open\n'),
        finding("ENV007"),
        refuse("refusing to fix"),
        names=".env.example",
    ),
    Row(
        "env-malformed-interpolation",
        _pair(env=ENV + "URL=${HOST\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "env-empty-interpolation",
        _pair(env=ENV + "URL=x${}\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "template-malformed-interpolation",
        _pair(template=TEMPLATE + "URL=${A:-x\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
        names=".env.example",
    ),
    Row(
        "env-key-with-space",
        _pair(env=ENV + "MY KEY=1\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "env-key-with-dollar",
        _pair(env=ENV + "A$B=1\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "env-key-with-comma",
        _pair(env=ENV + "A,B=1\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
    ),
    Row(
        "template-key-with-slash",
        _pair(template=TEMPLATE + "A/B=1\n"),
        finding("ENV007"),
        refuse("refusing to fix"),
        names=".env.example",
    ),
    Row(
        "env-is-a-directory",
        _env_dir,
        refuse("is a directory"),
        refuse("is a directory"),
        refuse("is a directory"),
    ),
    Row(
        "template-is-a-directory",
        _template_dir,
        refuse("is a directory"),
        refuse("is a directory"),
        names=".env.example",
    ),
    Row("env-is-a-fifo", _env_fifo, refuse("not a regular file"), refuse("not a regular file")),
    Row("env-is-a-dangling-symlink", _env_dangling, refuse("no such file"), refuse("no such file")),
    Row(
        "backup-dir-is-a-file",
        _backup_dir_is_file,
        finding("ENV003", 0),
        refuse("not a directory"),
        refuse("env-backup"),
        names="env-backup",
    ),
    Row(
        "backup-dir-symlink-outside",
        _backup_dir_symlink_outside,
        finding("ENV003", 0),
        refuse("outside"),
        refuse("outside"),
        names="env-backup",
    ),
    Row(
        "backup-dir-symlink-inside",
        _backup_dir_symlink_inside,
        finding("ENV003", 0),
        WORKS,
        verify=_verify_backup_through_link,
    ),
    Row(
        "missing-template",
        _env_only,
        refuse("no such file"),
        refuse("no such file"),
        names=".env.example",
    ),
    Row(
        "env-unreadable",
        _env_unreadable,
        refuse("permission denied"),
        refuse("permission denied"),
        refuse("permission denied"),
        as_nobody=True,
    ),
    Row(
        "template-unreadable",
        _template_unreadable,
        refuse("permission denied"),
        refuse("permission denied"),
        names=".env.example",
        as_nobody=True,
    ),
    Row(
        "env-directory-unwritable",
        _env_dir_unwritable,
        WORKS,
        refuse("not writable"),
        as_nobody=True,
    ),
    Row(
        "backup-dir-unwritable",
        _backup_dir_unwritable,
        WORKS,
        refuse("not writable"),
        names="env-backup",
        as_nobody=True,
    ),
    Row(
        "env-symlink-outside-its-directory",
        _env_symlink_outside,
        refuse("outside"),
        refuse("symlink"),
        refuse("symlink"),
    ),
    Row(
        # a template that assigns no key is a valid template (issue 11): the env file's keys
        # are extra
        "empty-template",
        _pair(template=""),
        finding("ENV002", 0),
        WORKS,
        names=".env.example",
    ),
    Row(
        "comment-only-template",
        _pair(template="# nothing but comments\n\n# OPT=commented-out\n"),
        finding("ENV002", 0),
        WORKS,
        names=".env.example",
    ),
    # attack (2): a symlinked parent folder
    Row(
        "parent-folder-symlink-env",
        _parent_folder_symlink_env,
        refuse("outside"),
        refuse("outside"),
        refuse("outside"),
        names="deploy/.env",
        restore_args=("deploy/.env",),
    ),
    Row(
        "parent-folder-symlink-backup-dir",
        _parent_folder_symlink_backup_dir,
        finding("ENV003", 0),
        refuse("outside"),
        refuse("outside"),
        names="backups/env",
        restore_args=("--backup-dir", "backups/env"),
    ),
    # attack (3): report files
    *(
        Row(
            f"report-symlink{option}",
            _report_symlink,
            refuse("symlink"),
            refuse("symlink"),
            names="report.out",
            args=(option, "report.out"),
        )
        for option in ("--junit", "--json", "--sarif", "--output")
    ),
    Row(
        "report-folder-symlink",
        _report_folder_symlink,
        refuse("outside"),
        refuse("outside"),
        names="reports/victim.env",
        args=("--junit", "reports/victim.env"),
    ),
    Row(
        "report-hard-link",
        _report_hard_link,
        refuse("hard links"),
        refuse("hard links"),
        names="report.out",
        args=("--json", "report.out"),
    ),
    # attack (4): a planted backup
    Row(
        "planted-backup-symlink",
        _planted_backup,
        finding("ENV003", 0),
        WORKS,
        WORKS,
        verify=_verify_planted_backup,
    ),
    Row(
        "planted-backup-symlink-named",
        _planted_backup,
        finding("ENV003", 0),
        WORKS,
        refuse("symbolic link"),
        names="env-backup/.env.backup_29991231_235959",
        restore_args=("--from", "env-backup/.env.backup_29991231_235959"),
    ),
    # attack (5): a template leading out of the folder (with show_values = true planted)
    Row(
        "template-symlink-outside",
        lambda d: _template_symlink(d, with_env=True),
        refuse("outside"),
        refuse("outside"),
        names=".env.example",
    ),
    Row(
        "template-symlink-outside-no-env",
        lambda d: _template_symlink(d, with_env=False),
        refuse("outside"),
        refuse("outside"),
        names=".env.example",
    ),
    Row(
        "config-template-outside",
        _config_outside("templates", '["../elsewhere/x.env.example"]\nenv = ".env"'),
        refuse("outside"),
        refuse("outside"),
        names="elsewhere/x.env.example",
    ),
    Row(
        "config-template-outside-named-config",
        _config_outside("templates", '["../elsewhere/x.env.example"]\nenv = ".env"'),
        WORKS,
        WORKS,
        args=("--config", ".envsync.toml"),  # a configuration named on the command line
        verify=_verify_named_template,
    ),
    Row(
        "config-env-outside",
        _config_outside("env", '"../elsewhere/.env"'),
        refuse("outside"),
        refuse("outside"),
        names="elsewhere/.env",
    ),
    Row(
        "template-symlink-outside-named",
        lambda d: _template_symlink(d, with_env=True),
        WORKS,
        WORKS,
        names=".env.example",
        args=(".env.example",),
        verify=_verify_named_template,
    ),
    # restore --from takes only a backup of this .env (red team): a file elsewhere, a symlink
    # into the backup directory, another deployment's backup (in its folder or in a shared
    # one), a device, a FIFO: exit 2, one line naming it, nothing read, printed or written
    _restore_from(
        "restore-from-etc-passwd",
        _restore_from_setup,
        "/etc/passwd",
        "not in the backup directory",
        _verify_passwd_not_shown,
    ),
    _restore_from(
        "restore-from-a-file-outside",
        _restore_from_setup,
        "../elsewhere/victim.env",
        "not in the backup directory",
    ),
    _restore_from(
        "restore-from-a-symlink-into-the-backup-dir",
        _backup_link_named_otherwise,
        "env-backup/passwd",
        "symbolic link",
    ),
    _restore_from(
        "restore-from-another-deployments-backup",
        _other_deployments_own_backup,
        "../other/env-backup/.env.backup_20990101_000000",
        "not in the backup directory",
    ),
    _restore_from(
        "restore-from-another-deployments-backup-in-a-shared-dir",
        _other_deployments_backup_in_ours,
        "env-backup/.env.backup_20990101_000000",
        "another env file",
        _verify_theirs_not_shown,
    ),
    _restore_from("restore-from-dev-zero", _restore_from_setup, "/dev/zero", "not a regular file"),
    _restore_from(
        "restore-from-a-fifo",
        _backup_fifo,
        "env-backup/.env.backup_20990101_000000",
        "not a regular file",
    ),
    _restore_from(
        "restore-from-a-hard-link-to-a-file-outside",
        _backup_hard_link,
        "env-backup/.env.backup_20990101_000000",
        "other hard links",
    ),
    _restore_from(
        "restore-from-the-env-file-itself",
        _restore_from_setup,
        ".env",
        "not named as a backup",
    ),
]


# ------------------------------------------------------------------------------------------
# running


def _snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` with its type, mode, mtime and (files) content digest."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            p = Path(dirpath) / name if name else Path(dirpath)
            rel = p.relative_to(root).as_posix()
            st = os.lstat(p)
            entry: tuple[object, ...] = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_mtime_ns,
                st.st_uid,
            )
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o444:
                with suppress(PermissionError):
                    entry += (hash(p.read_bytes()),)
            elif stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(p),)
            out[rel] = entry
    return out


_AS_NOBODY = """
import os, sys
import importlib, pkgutil, envsync_hook
# every module of the package (nobody may not read the venv once the switch is made)
for m in pkgutil.walk_packages(envsync_hook.__path__, "envsync_hook."):
    if not m.name.endswith("__main__"):  # (that one runs the command line)
        importlib.import_module(m.name)
import envsync_hook.cli, fcntl, difflib, shutil, gettext, textwrap, glob, json, subprocess
import zlib, datetime, hashlib  # (what a fix that writes imports lazily)
envsync_hook.cli.build_parser().parse_args(sys.argv[3:])  # what argparse imports lazily
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
sys.exit(envsync_hook.cli.main(sys.argv[3:]))
"""


def _run(args: list[str], cwd: Path, as_nobody: bool) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["NO_COLOR"] = "1"
    if as_nobody and IS_ROOT:
        uid, gid = _nobody_ids()
        argv = [sys.executable, "-c", _AS_NOBODY, str(uid), str(gid), *args]
    else:
        argv = [sys.executable, "-m", "envsync_hook", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=120, check=False)


@pytest.fixture
def workdir(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    row: Row = request.node.callspec.params["row"]
    if not row.as_nobody:
        yield tmp_path / "d"
        return
    if IS_ROOT:
        try:
            _nobody_ids()
        except KeyError:
            pytest.skip("running as root and there is no 'nobody' user to drop privileges to")
    elif os.access("/", os.W_OK):
        pytest.skip("file modes do not restrict this user")
    # pytest's tmp_path sits in a 0700 directory of root's that nobody may not enter
    base = Path(tempfile.mkdtemp(prefix="envsync-hostile-"))
    os.chmod(base, 0o755)
    try:
        yield base / "d"
    finally:
        for p in [base, *base.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def _cases() -> list[object]:
    out: list[object] = []
    for param in ROWS:
        row, marks = (param, ()) if isinstance(param, Row) else (param.values[0], param.marks)
        assert isinstance(row, Row)
        for command in ("check", "fix", "restore"):
            if getattr(row, command) is not None:
                out.append(pytest.param(row, command, marks=marks, id=f"{row.id}-{command}"))
    return out


@pytest.mark.parametrize(("row", "command"), _cases())
def test_hostile_input(workdir: Path, row: Row, command: str) -> None:
    expect = getattr(row, command)
    workdir.mkdir()
    row.setup(workdir)
    cwd = workdir / "app" if (workdir / "app").is_dir() else workdir
    before = _snapshot(workdir.parent)
    # check -v: every finding on a line of its own (the default counts info findings)
    extra = row.restore_args if command == "restore" else row.args
    verbose = ["-v"] if command == "check" else []
    proc = _run([command, *verbose, *extra], cwd, row.as_nobody)
    stdout = proc.stdout.decode("utf-8", "replace")
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert SECRET not in stdout + stderr
    if row.verify is not _verify_named_template:
        assert OUTSIDE not in stdout + stderr  # nothing outside the folder was read
        for p in cwd.rglob("*"):
            if p.is_file() and not p.is_symlink() and p.stat().st_nlink == 1:
                assert OUTSIDE.encode() not in p.read_bytes(), p

    if expect.kind == "refuse":
        assert proc.returncode == 2, (stdout, stderr)
        lines = stderr.splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith("envsync: error: ")
        assert expect.detail in lines[0]
        assert row.names in lines[0]
        assert stdout == ""
    elif expect.kind == "finding":
        assert proc.returncode == expect.exit, (stdout, stderr)
        assert f" {expect.detail} " in stdout
        assert stderr == ""
    else:
        assert proc.returncode in (0, 1), (stdout, stderr)
    if expect.kind != "works" or command == "check":
        assert _snapshot(workdir.parent) == before, "a file was written or created"
    if row.verify is not None:
        row.verify(workdir, command, proc)


def test_a_symlink_outside_is_never_written_through(tmp_path: Path) -> None:
    """Neither fix nor restore (whichever backup) touches the symlink's target."""
    d = tmp_path / "d"
    d.mkdir()
    _env_symlink_outside(d)
    victim = d / "elsewhere" / "victim.env"
    data = victim.read_bytes()
    for args in (
        ["fix"],
        ["restore"],
        ["restore", "--from", "env-backup/.env.backup_20240101_000000"],
    ):
        proc = _run(args, d / "app", False)
        assert proc.returncode == 2
        assert victim.read_bytes() == data
    assert sorted(p.name for p in (d / "elsewhere").iterdir()) == ["victim.env"]


def test_syntax_rows_are_rejected_by_docker_compose(
    compose: Callable[..., list[object]], tmp_path: Path
) -> None:
    """Every row expecting ENV007 holds a file the real Docker Compose rejects."""
    texts = []
    for param in ROWS:
        row = param if isinstance(param, Row) else None
        if row is None or row.check != finding("ENV007"):
            continue
        d = tmp_path / row.id
        d.mkdir()
        row.setup(d)
        name = row.names if row.names != ".env" else ".env"
        texts.append((row.id, (d / name).read_text(encoding="utf-8")))
    assert len(texts) >= 8
    results = compose([t for _, t in texts])
    accepted = [rid for (rid, _), r in zip(texts, results) if isinstance(r, dict)]
    assert accepted == []


# ------------------------------------------------------------------------------------------
# permissions: fix keeps the mode, backups are no more permissive, ENV011, backup dir 0700


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def _fix_with_umask(d: Path, umask: int) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    return subprocess.run(
        # --force: a read-only (0400) env file is refused without it (tests/test_backups.py)
        [sys.executable, "-m", "envsync_hook", "fix", "--force"],
        cwd=d,
        env=env,
        capture_output=True,
        check=False,
        preexec_fn=lambda: os.umask(umask),  # the test process runs no threads here
    )


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077], ids=lambda u: f"umask{u:03o}")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o660, 0o644], ids=lambda m: f"{m:04o}")
def test_fix_keeps_the_mode_and_backups_are_no_more_permissive(
    tmp_path: Path, mode: int, umask: int
) -> None:
    d = tmp_path / "d"
    d.mkdir()
    _pair()(d)
    os.chmod(d / ".env", mode)
    proc = _fix_with_umask(d, umask)
    assert proc.returncode == 1, proc.stderr.decode()
    assert _mode(d / ".env") == mode
    [backup] = (d / "env-backup").glob("*.backup_*[0-9]")
    assert backup.read_bytes() == ENV.encode()
    assert _mode(backup) & ~mode == 0
    assert _mode(backup) == mode
    assert _mode(d / "env-backup") == 0o700
    assert sorted(p.name for p in d.iterdir()) == [".env", ".env.example", "env-backup"]


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_fix_through_a_symlink_keeps_the_targets_mode(tmp_path: Path, mode: int) -> None:
    d = tmp_path / "d"
    _w(d / ".env.example", TEMPLATE, 0o644)
    _w(d / "conf" / "prod.env", ENV, mode)
    (d / ".env").symlink_to("conf/prod.env")
    proc = _fix_with_umask(d, 0o022)
    assert proc.returncode == 1, proc.stderr.decode()
    assert os.readlink(d / ".env") == "conf/prod.env"
    assert _mode(d / "conf" / "prod.env") == mode
    [backup] = (d / "env-backup").glob("*.backup_*[0-9]")
    assert _mode(backup) == mode and backup.read_bytes() == ENV.encode()


@pytest.mark.skipif(not IS_ROOT, reason="giving a file to another user needs root")
def test_fix_keeps_the_owner(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    _pair()(d)
    uid, gid = _nobody_ids()
    os.chown(d / ".env", uid, gid)
    assert _fix_with_umask(d, 0o022).returncode == 1
    [backup] = (d / "env-backup").glob("*.backup_*[0-9]")
    for p in (d / ".env", backup):
        assert (os.stat(p).st_uid, os.stat(p).st_gid) == (uid, gid)


@pytest.mark.skipif(not IS_ROOT, reason="running as another user needs root")
def test_fix_as_another_user_keeps_the_owner_only_where_permitted() -> None:
    """The README's claim, exactly: the owner is kept where permitted. Run as another user who
    may write the folder (not root, not the owner), the new .env and its backup are that user's;
    the mode is kept."""
    try:
        uid, gid = _nobody_ids()
    except KeyError:
        pytest.skip("no 'nobody' user to run as")
    base = Path(tempfile.mkdtemp(prefix="envsync-owner-"))
    try:
        os.chmod(base, 0o755)
        d = base / "d"
        _pair()(d)
        os.chown(d, uid, gid)  # the folder is the other user's; .env stays root's
        os.chmod(d / ".env", 0o666)
        proc = _run(["fix"], d, as_nobody=True)
        assert proc.returncode == 1, proc.stderr.decode()
        [backup] = (d / "env-backup").glob(".env.backup_*[0-9]")
        for p in (d / ".env", backup):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, 0o666), p
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_restore_keeps_the_mode(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    _pair()(d)
    os.chmod(d / ".env", 0o640)
    assert _fix_with_umask(d, 0o022).returncode == 1
    proc = _run(["restore"], d, False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (d / ".env").read_bytes() == ENV.encode()
    assert _mode(d / ".env") == 0o640
    assert all(_mode(b) == 0o640 for b in (d / "env-backup").glob("*.backup_*[0-9]"))


@pytest.mark.parametrize(
    ("mode", "flagged"),
    [
        (0o600, False),
        (0o400, False),
        (0o640, True),
        (0o644, True),
        (0o620, True),
        (0o604, True),
        (0o602, True),
        (0o660, True),
    ],
    ids=lambda v: f"{v:04o}" if isinstance(v, int) and v > 1 else str(v),
)
def test_env011_for_a_group_or_world_accessible_env(
    tmp_path: Path, mode: int, flagged: bool
) -> None:
    d = tmp_path / "d"
    d.mkdir()
    _pair(env=TEMPLATE)(d)  # in sync: ENV011 is the only possible finding
    os.chmod(d / ".env", mode)
    # (ENV013 off: the template's published password is still the .env's)
    proc = _run(["check", "--fail-on", "warning", "--severity", "ENV013=off"], d, False)
    out = proc.stdout.decode()
    assert (" ENV011 " in out) == flagged, out
    assert proc.returncode == (1 if flagged else 0)
    if flagged:
        assert f"{mode:04o}" in out


def test_env011_for_a_loose_backup(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    _pair(env=TEMPLATE)(d)
    _a_backup(d)
    assert " ENV011 " not in _run(["check"], d, False).stdout.decode()
    os.chmod(d / "env-backup" / ".env.backup_20240101_000000", 0o644)
    out = _run(["check"], d, False).stdout.decode()
    assert " ENV011 " in out and "backup" in out


@pytest.mark.parametrize(
    "broken",
    [b"A=\xff\n", b"A=\x00\n", b'A="open\n'],
    ids=["invalid-utf8", "nul", "syntax-error"],
)
def test_a_broken_second_pair_stops_fix_before_the_first_is_written(
    tmp_path: Path, broken: bytes
) -> None:
    d = tmp_path / "d"
    _w(d / "a.env.example", TEMPLATE, 0o644)
    _w(d / "a.env", ENV)
    _w(d / "b.env.example", TEMPLATE, 0o644)
    _w(d / "b.env", broken)
    before = _snapshot(tmp_path)
    proc = _run(["fix", "a.env.example", "b.env.example"], d, False)
    assert proc.returncode == 2
    [line] = proc.stderr.decode().splitlines()
    assert line.startswith("envsync: error: ") and "b.env" in line
    assert _snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------
# attack (1): the race. Another process flips .env between a regular file and a symlink to a
# file outside the folder while fix runs; whatever instant the flip lands on, the outside file
# never changes and its content reaches no backup, no .env and no output.

RACE_TRIES = 200

_FLIPPER = """
import os, random, sys, time
folder, stop, text = sys.argv[1], sys.argv[2], sys.argv[3]
env = os.path.join(folder, ".env")
flips = 0
while not os.path.exists(stop):
    link, reg = os.path.join(folder, ".flip-link"), os.path.join(folder, ".flip-reg")
    os.symlink("../elsewhere/victim.env", link)
    os.replace(link, env)
    time.sleep(random.random() * 0.001)  # each state lasts a random while: every instant is hit
    with open(reg, "w") as f:
        f.write(text)
    os.chmod(reg, 0o600)
    os.replace(reg, env)
    time.sleep(random.random() * 0.004)
    flips += 1
print(flips)
"""

# the real CLI entry point, RACE_TRIES times in one process (start-up would dominate otherwise)
_FIXES = """
import collections, sys
from envsync_hook import cli
codes = collections.Counter(cli.main(["fix"]) for _ in range(int(sys.argv[1])))
print(dict(codes))
"""


def test_race_env_swapped_for_a_symlink_never_writes_or_reads_outside(tmp_path: Path) -> None:
    d = tmp_path / "d"
    victim = _outside(d)
    victim_before = victim.read_bytes()
    _pair()(d / "app")
    app = d / "app"
    stop = tmp_path / "stop"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["NO_COLOR"] = "1"
    flipper = subprocess.Popen(
        [sys.executable, "-c", _FLIPPER, str(app), str(stop), ENV],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _FIXES, str(RACE_TRIES)],
            cwd=app,
            env=env,
            capture_output=True,
            timeout=600,
            check=False,
        )
    finally:
        stop.touch()
        flips = int(flipper.communicate(timeout=60)[0] or 0)
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    codes: dict[int, int] = ast.literal_eval(proc.stdout.decode().splitlines()[-1])
    assert sum(codes.values()) == RACE_TRIES
    assert set(codes) <= {0, 1, 2}, codes
    assert codes.get(1, 0) > 0, codes  # fix did write, between flips
    assert flips > RACE_TRIES, flips  # the flipper ran throughout
    assert victim.read_bytes() == victim_before  # never written through the link
    assert sorted(p.name for p in (d / "elsewhere").iterdir()) == ["victim.env"]
    assert OUTSIDE not in out and SECRET not in out
    backups = list((app / "env-backup").iterdir())
    assert backups
    for p in [*backups, *app.iterdir()]:
        if p.is_file() and not p.is_symlink():
            assert OUTSIDE.encode() not in p.read_bytes(), p  # never read into the folder
