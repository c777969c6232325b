"""Restore: put a backup's exact bytes back into the env file, undoably.

Guards the roll-back: under the env file's lock, the backup is read without following a symlink,
the env file is checked as for any write, and the file restore replaces is itself backed up first
(made by ``restore``, recording which backup it put back), so a restore can be undone and a
second plain ``restore`` goes further back. Nothing is written when the env file already holds
the backup's bytes. ``restore --from`` takes only a backup of this env file
(:func:`check_source`): never ``/etc/passwd``, a device, a pipe or another deployment's backup.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.atomic import NEW_FILE_MODE, atomic_write
from envsync_hook.files.backup_meta import MADE_BY_RESTORE, backup_belongs, backup_owner
from envsync_hook.files.backups import backup_name_pattern, replace_with_backup
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


def check_source(env_path: Path, backup: Path, backup_dir: Path) -> Path:
    """The file ``restore --from`` names, checked to be a backup of ``env_path``; its real path.

    Accepted: a regular file (not a symlink, a device or a pipe: looked at, never opened) in
    ``backup_dir`` or in the env file's own folder, named as a backup of it
    (``<env name>.backup_YYYYMMDD_HHMMSS[_N]``), whose metadata, when it has any, names this
    env file (a backup without metadata was made before 0.3). Anything else is refused with one
    line naming the file, before anything is read or written.
    """
    shown = show(backup)
    takes = f"--from takes a backup of {show(env_path)} in {show(backup_dir)}"
    try:
        st = os.lstat(backup)
    except OSError as exc:
        raise EnvsyncError(f"cannot read backup {shown}: {reason(exc)}") from None
    if stat.S_ISLNK(st.st_mode):
        raise EnvsyncError(
            f"refusing to restore from {shown}: it is a symbolic link (not followed); {takes}"
        )
    if not stat.S_ISREG(st.st_mode):
        raise EnvsyncError(f"refusing to restore from {shown}: not a regular file; {takes}")
    if st.st_nlink > 1:
        # (a backup fix made has one link; another is a file elsewhere, planted under a
        # backup's name, whose content would be restored)
        raise EnvsyncError(
            f"refusing to restore from {shown}: it has other hard links (a file elsewhere "
            f"may be what it holds); {takes}"
        )
    folder = real_path(os.path.dirname(os.path.abspath(backup)))
    homes = (real_path(backup_dir), real_path(os.path.dirname(os.path.abspath(env_path))))
    if folder not in homes:
        raise EnvsyncError(
            f"refusing to restore from {shown}: it is not in the backup directory; {takes}"
        )
    if not backup_name_pattern(env_path.name).fullmatch(backup.name):
        raise EnvsyncError(
            f"refusing to restore from {shown}: not named as a backup of {show(env_path.name)} "
            f"({show(env_path.name)}.backup_YYYYMMDD_HHMMSS); {takes}"
        )
    owner = backup_owner(backup)
    if owner is not None and not backup_belongs(env_path, backup):
        raise EnvsyncError(
            f"refusing to restore {shown}: it is a backup of another env file ({show(owner)})"
        )
    return Path(folder, backup.name)
