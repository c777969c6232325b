"""Backups: every change of an env file is preceded by a complete copy of what it held.

Guards against losing an operator's file. A backup is named ``<env name>.backup_YYYYMMDD_HHMMSS``
(then ``_2``, ``_3``, ...) in the backup directory (``env-backup/`` beside the env file by
default, created ``0700``); it is written to a temporary file, fsynced, then hard-linked to its
name (``link`` fails rather than overwrite: an existing backup is never overwritten), so a file
with a backup's name is always a complete copy, with the env file's bytes and mode, fsynced
together with its directory before the env file changes (:func:`replace_with_backup`). Also
here: listing an env file's backups (newest first, by the name, never by mtime), and which one a
plain ``restore`` picks. Which env file a backup holds is :mod:`.backup_meta`'s.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.atomic import (
    CHUNK,
    NO_HARD_LINKS,
    ReplacedNotSynced,
    atomic_write,
    changed_error,
    fd_chunks,
    remove_stale_temps,
    same_content,
    write_temp,
)
from envsync_hook.files.backup_meta import (
    MADE_BY_FIX,
    MADE_BY_RESTORE,
    META_SUFFIX,
    env_identity,
    meta_text,
    read_meta,
    write_meta,
)
from envsync_hook.files.confine import (
    DIR_FD_CALLS,
    O_BINARY,
    O_NONBLOCK,
    Dir,
    checked_target,
    fsync_dir,
    read_all,
    reason,
    show,
)
from envsync_hook.files.targets import backup_real
from envsync_hook.lean import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from datetime import datetime

    from envsync_hook.files.atomic import Expected

DEFAULT_BACKUP_DIR = "env-backup"
BACKUP_DIR_MODE = 0o700
_MAX_BACKUP_SUFFIX = 10_000
_STAMP = "%Y%m%d_%H%M%S"


class BackupInfo(NamedTuple):
    """One backup of an env file, as ``restore --list`` shows it."""

    path: Path
    #: ``YYYY-MM-DD HH:MM:SS`` from the name (local time of the run that made it)
    time: str
    size: int
    #: ``fix``, ``restore``, ...; None: no metadata (made by envsync before 0.3)
    made_by: str | None
    #: for a backup made by restore: the name of the backup that restore put back
    restored_from: str | None
    #: False: a backup without metadata in a directory that is not clearly this env file's
    #: alone; listed, but only ``restore --from`` restores it
    attributable: bool


def backup_dir_for(env_path: Path, backup_dir: Path | str | None) -> Path:
    """The backup directory: ``env-backup/`` beside ``env_path`` by default; a relative
    ``backup_dir`` is taken relative to ``env_path``'s directory."""
    if backup_dir is None:
        return env_path.parent / DEFAULT_BACKUP_DIR
    directory = Path(backup_dir).expanduser()
    if directory.is_absolute():
        return directory
    return env_path.parent / directory


def backup_name_pattern(env_name: str) -> re.Pattern[str]:
    """A backup's name: ``<env name>.backup_YYYYMMDD_HHMMSS``, perhaps with ``_N``."""
    return re.compile(re.escape(env_name) + r"\.backup_(\d{8})_(\d{6})(?:_(\d+))?")


def _open_backup_dir(env_path: Path, backup_dir: Path) -> Dir:
    """The backup directory, checked (:func:`backup_real`) and opened; created ``0700`` (and
    its creation made durable) when missing. Its parent must exist."""
    shown = show(backup_dir)
    real = backup_real(env_path, backup_dir)
    try:
        return Dir(real)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        raise EnvsyncError(f"cannot use backup directory {shown}: not a directory") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot use backup directory {shown}: {reason(exc)}") from None
    parent_real, name = os.path.split(real)
    try:
        with Dir(parent_real) as parent:
            try:
                parent.mkdir(name, BACKUP_DIR_MODE)
            except FileExistsError:  # a concurrent run made it: use it (if it is one)
                return parent.sub(name)
            made = parent.sub(name)
            try:
                if DIR_FD_CALLS:
                    os.fchmod(made.fd, BACKUP_DIR_MODE)  # exactly 0700 whatever the umask
                else:
                    os.chmod(made.path, BACKUP_DIR_MODE)
                parent.fsync()
            except BaseException:
                made.close()
                raise
            return made
    except NotADirectoryError:
        raise EnvsyncError(f"cannot use backup directory {shown}: not a directory") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot create backup directory {shown}: {reason(exc)}") from None


def make_backup(
    env_path: Path,
    backup_dir: Path,
    now: datetime | None = None,
    expect: Expected | None = None,
    command: str = MADE_BY_FIX,
    restored_from: str | None = None,
) -> Path:
    """Copy ``env_path`` (a symlink's target content) to a new file in ``backup_dir``.

    Named ``<env name>.backup_YYYYMMDD_HHMMSS`` (``now`` defaults to the local time), then
    ``_2``, ``_3``, ... while the name is taken; an existing file is never overwritten. The backup
    has the env file's bytes, mode and (where permitted) owner, and it and its directory are
    fsynced before this returns. ``backup_dir`` is created ``0700`` if missing. ``expect``: the
    bytes the caller read and merged from; if the file no longer holds them, nothing is backed
    up and the error tells the operator to run ``envsync COMMAND`` again. Beside the backup,
    ``<backup name>.meta`` (mode 0600) records what made it (``command``), ``restored_from``
    and which env file it holds (its real path and its directory's device and inode). The env
    file is opened under the rule of the write (:func:`~envsync_hook.files.reading.read_env`):
    a file swapped for a symlink while envsync runs is refused, never copied.
    """
    folder, name = checked_target(env_path, "back up")
    src_st, data = _read_source(env_path, folder, name, expect)
    # (``data`` is ``expect`` itself when the file was found to hold it: nothing to compare)
    if isinstance(data, bytes) and expect is not None and not same_content(_parts(data), expect):
        raise changed_error(env_path, command)
    prefix, base = _backup_names(env_path, os.path.join(folder, name), now)
    meta = meta_text(env_path, command, restored_from)
    with _open_backup_dir(env_path, backup_dir) as bdir:
        remove_stale_temps(bdir, prefix, folder)
        try:
            dest = _write_backup(bdir, prefix, base, data, src_st, meta)
        except OSError as exc:
            raise _backup_failed(env_path, backup_dir, exc) from None
        try:
            bdir.fsync()
        except OSError as exc:
            discard_backup(backup_dir / dest)
            raise _backup_failed(env_path, backup_dir / dest, exc) from None
    return backup_dir / dest


def _parts(data: bytes) -> Iterator[bytes]:
    """``data`` a megabyte at a time."""
    return (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))


def _read_source(
    env_path: Path, folder: str, name: str, expect: Expected | None = None
) -> tuple[os.stat_result, bytes | str]:
    """The env file's status and bytes: the file ``name`` of its real ``folder``, opened
    without following a symlink, refused (one line) unless a regular file. With ``expect``, a
    text, the file is compared with it a part at a time, and ``expect`` is what it holds (its
    UTF-8 form: the same bytes), not a copy of them (at 100,000 keys, 10 MB of peak); a file
    that does not hold ``expect`` is read whole (the caller refuses it)."""
    shown = show(env_path)
    try:
        with Dir(folder) as home:
            src = home.open(name, os.O_RDONLY | O_BINARY | O_NONBLOCK)
    except OSError as exc:
        raise EnvsyncError(f"cannot back up {shown}: {reason(exc)}") from None
    try:
        src_st = os.fstat(src)
        if not stat.S_ISREG(src_st.st_mode):
            raise EnvsyncError(f"cannot back up {shown}: not a regular file")
        if isinstance(expect, str) and same_content(fd_chunks(src), expect):
            return src_st, expect
        os.lseek(src, 0, os.SEEK_SET)
        return src_st, read_all(src, src_st.st_size)
    except OSError as exc:
        raise EnvsyncError(f"cannot back up {shown}: {reason(exc)}") from None
    finally:
        os.close(src)


def _backup_names(env_path: Path, real_env: str, now: datetime | None) -> tuple[str, str]:
    """(prefix of the temporary files, the backup's name before any ``_N``) for the env file
    whose real path is ``real_env``. The prefix holds a checksum of that path: it tells apart
    env files of the same name that share a backup directory."""
    import time
    import zlib  # (only a fix that writes needs it)

    prefix = f"{env_path.name}.{zlib.crc32(os.fsencode(real_env)):08x}"
    # (the local time through ``time``: importing ``datetime`` costs 2 ms of a fix)
    stamp = now.strftime(_STAMP) if now is not None else time.strftime(_STAMP)
    return prefix, f"{env_path.name}.backup_{stamp}"


def _write_backup(
    bdir: Dir, prefix: str, base: str, data: bytes | str, src_st: os.stat_result, meta: str
) -> str:
    """Write ``data`` as a new backup in ``bdir`` with its metadata ``meta``; its name. Only a
    complete, synced copy ever gets a backup's name: the temporary file is written, given the
    env file's mode and owner, fsynced, then linked to the first free name (and a backup whose
    metadata cannot be written is removed again)."""
    tmp = write_temp(bdir, prefix, data, src_st, stat.S_IMODE(src_st.st_mode))
    try:
        dest = _link_to_free_name(bdir, tmp, base)
        try:
            write_meta(bdir, dest, meta, prefix)
        except OSError:
            with suppress(OSError):
                bdir.unlink(dest)
            raise
    finally:
        with suppress(OSError):
            bdir.unlink(tmp)
    return dest


def _backup_failed(env_path: Path, where: Path, exc: OSError) -> EnvsyncError:
    shown = show(env_path)
    return EnvsyncError(
        f"cannot back up {shown} to {show(where)}: {reason(exc)}; {shown} is unchanged"
    )


def _link_to_free_name(directory: Dir, tmp: str, base: str) -> str:
    """Give ``tmp`` the first free name of ``base``, ``base_2``, ... in ``directory``."""
    for n in range(1, _MAX_BACKUP_SUFFIX + 1):
        dest = base if n == 1 else f"{base}_{n}"
        try:
            directory.link(tmp, dest)  # fails if dest exists: never overwrites
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
            # a filesystem without hard links: rename, under the lock that keeps envsync out
            try:
                directory.lstat(dest)
                continue
            except FileNotFoundError:
                pass
            directory.replace(tmp, dest)
        return dest
    raise EnvsyncError(f"cannot back up into {show(directory.path)}: too many backups named {base}")


def list_backups(env_path: Path, backup_dir: Path) -> list[Path]:
    """The backups of ``env_path`` in ``backup_dir``, newest first.

    Ordered by the timestamp in the name, then by the ``_N`` suffix (none counts as 1), never
    by modification time. A missing ``backup_dir`` has no backups. Only regular files count: a
    symlink with a backup's name (planted to make restore read a file elsewhere) is not one.
    """
    pattern = backup_name_pattern(env_path.name)
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise EnvsyncError(
            f"cannot list backup directory {show(backup_dir)}: {reason(exc)}"
        ) from None
    found: list[tuple[tuple[str, str, int], str]] = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None:
            continue
        try:
            if not stat.S_ISREG(os.lstat(backup_dir / name).st_mode):
                continue
        except OSError:
            continue
        found.append(((m.group(1), m.group(2), int(m.group(3) or 1)), name))
    found.sort(reverse=True)
    return [backup_dir / name for _, name in found]


def backup_infos(env_path: Path, backup_dir: Path) -> list[BackupInfo]:
    """The backups of ``env_path`` in ``backup_dir`` with what made them, newest first.

    A backup whose metadata names another env file (the same name in another deployment that
    shares the backup directory) is left out: same real path, or same directory (device and
    inode: a deployment folder that was moved) is the same env file. A backup without
    metadata (made before 0.3) is listed; it is *attributable* (plain ``restore`` may pick it)
    only when the backup directory lies in the env file's own directory (the default
    ``env-backup/`` or another folder of the deployment) and no backup there names another
    env file: a directory outside, or one shared, cannot tell whose it is.
    """
    real, ident = env_identity(env_path)
    home = Path(os.path.realpath(env_path.parent))
    bdir = Path(os.path.realpath(backup_dir))
    own_dir = bdir == home or home in bdir.parents
    kept: list[tuple[Path, os.stat_result, dict[str, str] | None]] = []
    shared = False
    for path in list_backups(env_path, backup_dir):
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue  # a symlink planted under a backup's name is nobody's backup
        meta = read_meta(path)
        if (
            meta is not None
            and meta.get("env") != real
            and not (ident and meta.get("dir") == ident)
        ):
            shared = True
            continue
        kept.append((path, st, meta))
    infos = []
    for path, st, meta in kept:
        m = backup_name_pattern(env_path.name).fullmatch(path.name)
        d, t = (m.group(1), m.group(2)) if m else ("00000000", "000000")
        infos.append(
            BackupInfo(
                path,
                f"{d[:4]}-{d[4:6]}-{d[6:]} {t[:2]}:{t[2:4]}:{t[4:]}",
                st.st_size,
                None if meta is None else meta.get("made-by", "?"),
                None if meta is None else meta.get("restored-from") or None,
                meta is not None or (own_dir and not shared),
            )
        )
    return infos


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False


def pick_backup(env_path: Path, backup_dir: Path) -> Path:
    """The backup a plain ``restore`` puts back: the newest one not made by restore whose
    bytes differ from the env file's. After a restore (the newest backup was made by it and
    the env file still holds what it put back), the search starts below the backup that
    restore used, so a second ``restore`` goes further back instead of undoing the first.
    Raises :class:`EnvsyncError` (one line) when there is nothing (older) to restore."""
    infos = [i for i in backup_infos(env_path, backup_dir) if i.attributable]
    shown, shown_dir = show(env_path), show(backup_dir)
    if not infos:
        hidden = len(backup_infos(env_path, backup_dir))
        if hidden:
            raise EnvsyncError(
                f"no backup in {shown_dir} is surely {shown}'s: {hidden} backup(s) without "
                f"metadata in a directory outside it or shared; pick one with --from"
            )
        raise EnvsyncError(f"no backups of {shown} in {shown_dir}")
    try:
        with open(env_path, "rb") as fh:
            current: bytes | None = fh.read()
    except OSError:
        current = None
    start = 0
    newest = infos[0]
    if newest.made_by == MADE_BY_RESTORE and newest.restored_from and current is not None:
        used = [n for n, i in enumerate(infos) if i.path.name == newest.restored_from]
        if used and _same_bytes(infos[used[0]].path, current):
            start = used[0] + 1
    for info in infos[start:]:
        if info.made_by == MADE_BY_RESTORE:
            continue
        if current is not None and _same_bytes(info.path, current):
            continue
        return info.path
    if start:
        raise EnvsyncError(
            f"nothing older to restore: {shown} holds {show(infos[start - 1].path.name)}, "
            f"the oldest backup; restore --list shows all, --from picks one "
            f"(--from {show(newest.path)} undoes the last restore)"
        )
    raise EnvsyncError(
        f"nothing to restore: every backup of {shown} in {shown_dir} holds what it holds now "
        f"or was made by restore; restore --list shows all, --from picks one"
    )


def discard_backup(backup: Path) -> None:
    """Remove a backup this run just made (and its metadata): the write it guarded failed, so
    it is not a state the env file was ever replaced from. Best effort."""
    for path in (backup.with_name(backup.name + META_SUFFIX), backup):
        with suppress(OSError):
            os.unlink(path)
    with suppress(OSError):
        fsync_dir(backup.parent)


def replace_with_backup(
    env_path: Path,
    text: str,
    backup_dir: Path,
    command: str = MADE_BY_FIX,
    restored_from: str | None = None,
    expect: Expected | None = None,
) -> Path:
    """Back up ``env_path``, then replace it with ``text``; the backup's path. ``command``
    (what made the backup), ``expect``: as :func:`make_backup` and :func:`atomic_write`.

    A write that fails removes the backup it made (the env file is unchanged, so that backup
    is not a state anything replaced) and re-raises.
    """
    backup = make_backup(
        env_path, backup_dir, expect=expect, command=command, restored_from=restored_from
    )
    try:
        atomic_write(env_path, text, expect=expect, command=command)
    except ReplacedNotSynced:
        raise  # the env file is the new one: its backup is the only copy of the old
    except BaseException:
        discard_backup(backup)
        raise
    return backup
