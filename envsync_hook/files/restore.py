"""Restore: put a backup's exact bytes back into the env file, undoably.

Guards the roll-back: under the env file's lock, the backup is read without following a symlink,
the env file is checked as for any write, and the file restore replaces is itself backed up first
(made by ``restore``, recording which backup it put back), so a restore can be undone and a
second plain ``restore`` goes further back. Nothing is written when the env file already holds
the backup's bytes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.atomic import NEW_FILE_MODE, atomic_write
from envsync_hook.files.backup_meta import MADE_BY_RESTORE
from envsync_hook.files.backups import replace_with_backup
from envsync_hook.files.confine import (
    O_BINARY,
    O_NONBLOCK,
    Dir,
    checked_target,
    read_all,
    real_path,
    reason,
    show,
)
from envsync_hook.files.locking import env_lock
from envsync_hook.files.reading import file_mode, read_backup
from envsync_hook.files.targets import check_writable_target, refuse_read_only


def _env_bytes(env_path: Path) -> bytes:
    """The env file's bytes as they are (restore may replace a broken one), opened under the
    rule of the write."""
    folder, name = checked_target(env_path, "write")
    try:
        with Dir(folder) as home:
            fd = home.open(name, os.O_RDONLY | O_BINARY | O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise EnvsyncError(f"cannot read {show(env_path)}: not a regular file")
            return read_all(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {show(env_path)}: {reason(exc)}") from None


def restore(env_path: Path, backup: Path, backup_dir: Path, force: bool = False) -> Path | None:
    """Put the exact bytes of ``backup`` back into ``env_path``, under :func:`env_lock`.

    The current env file is backed up first (made by ``restore``, recording ``backup``'s name)
    when it exists and differs from ``backup``; that new backup's path is returned (None when
    no backup was needed). ``env_path`` keeps its mode, or takes the backup's mode when it does
    not exist. Nothing is written when they are identical. A read-only env file is refused
    unless ``force``. The backup is read without following a symlink (:func:`read_backup`),
    the env file under the rule of the write (:func:`read_env`).
    """
    with env_lock(env_path):
        text = read_backup(backup)
        check_writable_target(env_path, backup_dir)
        wanted = text.encode("utf-8")
        if os.path.lexists(env_path):
            current = _env_bytes(env_path)
            if current == wanted:
                return None
            if not force:
                refuse_read_only(env_path)
            same_dir = real_path(backup.parent) == real_path(backup_dir)
            used = backup.name if same_dir else str(backup)
            return replace_with_backup(
                env_path, text, backup_dir, MADE_BY_RESTORE, used, expect=current
            )
        backup_mode = file_mode(backup)
        atomic_write(env_path, text, mode=NEW_FILE_MODE if backup_mode is None else backup_mode)
        return None
