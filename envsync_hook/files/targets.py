"""What fix and restore may write, checked before anything is created.

Guards the first step of every write: the env file (resolved through symlinks) must be a
regular file or missing, in a writable directory, not reached through a symlink out of its
anchor, and a symlinked env file may only lead to a file in its own folder or below; the backup
directory must be writable or creatable, and one reached through a symlink must lie in the env
file's folder (:func:`backup_real`: the backups hold the secrets, and restore must not read a
planted one). A file not named on the command line must lie in the project folder
(:func:`check_inside_project`), and an env file that is read-only for its owner is not changed
without ``--force`` (:func:`refuse_read_only`). Each refusal is one line, exit 2, and comes
before any directory, backup or temporary file exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.confine import (
    anchor_of,
    checked_home,
    checked_target,
    inside,
    project_folder,
    real_path,
    reason,
    show,
    through_symlink,
)


def check_inside_project(path: Path, what: str) -> None:
    """Refuse (one line) a file not named on the command line that lies, as written, outside
    the project folder: a planted configuration must not make fix write elsewhere."""
    root = project_folder()
    if not inside(os.path.abspath(path), root):
        raise EnvsyncError(
            f"refusing to write {what} {show(path)}: it is outside the project folder "
            f"{show(root)}; name it on the command line (--env) to use it"
        )


def _writable_dir(directory: Path) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(directory, os.W_OK | os.X_OK, effective_ids=True)
    return os.access(directory, os.W_OK | os.X_OK)


def _path_kind(path: Path) -> str:
    """``dir``, ``other`` (a file, a dangling link, ...) or ``missing``, race-free: a path
    that appears between two looks is looked at again."""
    for _ in range(3):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not os.path.lexists(path):
                return "missing"
            continue  # a dangling link, or the path appeared just now: look again
        except OSError:
            return "other"
        return "dir" if stat.S_ISDIR(st.st_mode) else "other"
    return "other"


def check_writable_target(env_path: Path, backup_dir: Path) -> None:
    """Validate, before anything is created, that ``env_path`` can be replaced and backed up.

    ``env_path`` (resolved through symlinks) must be a regular file or missing, in an existing
    writable directory; ``backup_dir`` must be a writable directory, or missing with an existing
    writable parent directory. Neither may lead where envsync must not write: the env file's
    folder not through a symlink out of its anchor (:func:`anchor_of`), a symlinked env file only
    to a file in that folder or below, and a backup directory reached through a symlink (itself
    or a parent folder) only into that folder or below (:func:`backup_real`).
    """
    _check_env_target(env_path)
    _check_backup_dir(env_path, backup_dir)


def _check_env_target(env_path: Path) -> None:
    """:func:`check_writable_target` for the env file."""
    shown = show(env_path)
    folder, name = checked_target(env_path, "write")
    target = Path(folder, name)
    try:
        st: os.stat_result | None = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise EnvsyncError(f"cannot write {shown}: {reason(exc)}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise EnvsyncError(f"cannot write {shown}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise EnvsyncError(f"cannot write {shown}: not a regular file")
    parent = target.parent
    if not parent.is_dir():
        raise EnvsyncError(f"cannot write {shown}: directory {show(parent)} does not exist")
    if not _writable_dir(parent):
        raise EnvsyncError(f"cannot write {shown}: directory {show(parent)} is not writable")


def _check_backup_dir(env_path: Path, backup_dir: Path) -> None:
    """:func:`check_writable_target` for the backup directory."""
    shown_dir = show(backup_dir)
    backup_real(env_path, backup_dir)
    # One stat decides: a concurrent run (holding the lock, which this check does not) may
    # create the directory at any moment, and a directory, once there, stays one.
    kind = _path_kind(backup_dir)
    if kind == "dir":
        if not _writable_dir(backup_dir):
            raise EnvsyncError(f"cannot write to backup directory {shown_dir}: not writable")
    elif kind == "other":
        raise EnvsyncError(f"cannot use backup directory {shown_dir}: not a directory")
    else:
        bparent = backup_dir.parent
        if not bparent.is_dir():
            raise EnvsyncError(
                f"cannot create backup directory {shown_dir}: {show(bparent)} does not exist"
            )
        if not _writable_dir(bparent):
            raise EnvsyncError(
                f"cannot create backup directory {shown_dir}: {show(bparent)} is not writable"
            )


def backup_real(env_path: Path, backup_dir: Path) -> str:
    """The real path of ``backup_dir``, refused (one line) when a symlink (the directory itself or
    a parent folder below its anchor) leads it out of the env file's folder: the backups hold
    the secrets, and restore must not read a planted one."""
    real = through_symlink(backup_dir, anchor_of(backup_dir))
    if real is None:
        return real_path(backup_dir)
    home = checked_home(env_path, "write")
    if not inside(real, home):
        raise EnvsyncError(
            f"refusing to use backup directory {show(backup_dir)}: it leads through a symlink "
            f"to {show(real)}, outside {show(home)}; pass --backup-dir {show(real)} "
            f"to use that directory"
        )
    return real


def check_confined(env_path: Path, backup_dir: Path) -> None:
    """Refuse (one line) an env file or backup directory that leads where envsync must not
    write or read backups (the first checks of :func:`check_writable_target`)."""
    checked_target(env_path, "use")
    backup_real(env_path, backup_dir)


def refuse_read_only(env_path: Path) -> None:
    """Refuse to change an env file that is read-only for its owner (no ``u+w``): whoever made
    it so meant it not to change. ``--force`` skips this check."""
    try:
        mode = os.stat(env_path).st_mode
    except OSError:
        return  # missing: nothing to protect; other errors are reported where it is read
    if stat.S_ISREG(mode) and not mode & stat.S_IWUSR:
        raise EnvsyncError(
            f"refusing to change {show(env_path)}: it is read-only for its owner "
            f"(mode {stat.S_IMODE(mode):04o}); make it writable, or pass --force"
        )
