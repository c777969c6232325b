"""Reading, backing up, atomically replacing, locking and restoring env files.

This is the only module of envsync-hook that writes files. It writes only to the env file's own
(resolved) directory and to the backup directory. Every failure is an :class:`EnvsyncError` whose
message is one line naming the file, never its contents.

Guarantees (DESIGN.md section 7):

- a backup is written to a temporary file in the backup directory, fsynced, then hard-linked to
  its final name (``link`` fails rather than overwrite: an existing backup is never overwritten),
  so a file with a backup's name is always a complete copy, with the env file's bytes and mode,
  fsynced together with its directory before the env file changes;
- the env file is replaced atomically (temporary file in the same directory, same mode and owner,
  fsync, ``os.replace``, fsync of the directory), so a crash leaves it wholly old or wholly new;
  a symlinked env file stays a symlink and its target is replaced, provided the target lies in
  the link's own directory or below it (:func:`check_writable_target` refuses other symlinks,
  and a backup directory that is a symlink to a directory outside it);
- temporary files a killed run left behind are removed by the next run that holds the lock;
- concurrent runs on one env file serialise on ``flock`` of its directory: no lock file is left
  behind, and the kernel drops the lock of a killed process.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple, Union

from envsync_hook.errors import EnvsyncError

if TYPE_CHECKING:
    import mmap
    from datetime import datetime

__all__ = [
    "EnvsyncError",
    "atomic_write",
    "backup_dir_for",
    "check_writable_target",
    "env_lock",
    "file_mode",
    "is_pipe",
    "list_backups",
    "backup_infos",
    "discard_backup",
    "make_backup",
    "pick_backup",
    "refuse_read_only",
    "replace_with_backup",
    "read_pipe",
    "read_text",
    "restore",
]

DEFAULT_BACKUP_DIR = "env-backup"
#: what made a backup: ``fix`` (and ``--generate-secrets``), ``restore`` (the file it replaced)
MADE_BY_FIX = "fix"
MADE_BY_RESTORE = "restore"
BACKUP_DIR_MODE = 0o700
NEW_FILE_MODE = 0o600

_O_BINARY: int = getattr(os, "O_BINARY", 0)
_O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
_O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_MAX_BACKUP_SUFFIX = 10_000
_TEMP_SUFFIX = ".envsync-tmp"
# link() errors that mean "this filesystem has no hard links", not "failed"
_NO_HARD_LINKS = {
    errno.EPERM,
    errno.EMLINK,
    errno.ENOSYS,
    getattr(errno, "ENOTSUP", -1),
    getattr(errno, "EOPNOTSUPP", -1),
}
# fsync of a directory is not supported everywhere; these mean "cannot", not "failed".
_FSYNC_DIR_UNSUPPORTED = {errno.EINVAL, errno.EBADF, errno.EROFS, getattr(errno, "ENOTSUP", -1)}

# Directories locked by this process: (st_dev, st_ino) -> [fd, depth]. flock() locks belong to an
# open file description, so a nested env_lock() on the same directory through a second descriptor
# would deadlock against ourselves; nesting reuses the held lock instead.
_held_locks: dict[tuple[int, int], list[int]] = {}

PathArg = Union[Path, str]

#: Tests only: called with the env file's path after fix or restore has read it and just before
#: the check that it is still what was read (a test edits the file here to show the refusal).
before_replace: Callable[[Path], None] | None = None


# --------------------------------------------------------------------------------------------
# helpers


def _show(path: PathArg) -> str:
    """The path as one printable line (control characters and undecodable bytes escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)[1:-1]


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file or directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, NotADirectoryError):
        return "a parent is not a directory"
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _resolve(path: Path) -> Path:
    """Absolute path with every symlink resolved (a missing final target is allowed)."""
    resolved = os.path.realpath(path)
    if os.path.islink(resolved):
        raise EnvsyncError(f"cannot resolve {_show(path)}: too many levels of symbolic links")
    return Path(resolved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_all(fd: int, size: int = 0) -> bytes:
    """Everything ``fd`` holds. ``size``: its expected size, read in one call into one buffer
    (a read past the end comes back short), so that a large file is not held twice."""
    chunks: list[bytes] = []
    want = size + 1 if size > 0 else 1 << 20
    while True:
        chunk = os.read(fd, want)
        if not chunk:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.append(chunk)
        want = 1 << 20


def _changed(path: PathArg, command: str) -> EnvsyncError:
    shown = _show(path)
    return EnvsyncError(
        f"refusing to replace {shown}: it changed while envsync {command} ran (another program "
        f"wrote to it); nothing was replaced; run envsync {command} again"
    )


def _check_unchanged(path: Path, expect: bytes, command: str) -> None:
    """Raise unless ``path`` holds exactly ``expect``: compared by content, not by mtime (an
    edit within the same second, or one that restores the mtime, is still seen)."""
    if before_replace is not None:
        before_replace(path)
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except FileNotFoundError:
        raise _changed(path, command) from None
    try:
        size = os.fstat(fd).st_size
        current = _read_all(fd, size) if size == len(expect) else b""
    finally:
        os.close(fd)
    if size != len(expect) or current != expect:
        raise _changed(path, command)


def _fsync_dir(directory: Path) -> None:
    """Make a directory entry change (create, rename) durable, where the platform can."""
    try:
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return  # e.g. Windows, or a directory we may write but not read
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FSYNC_DIR_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def _match_owner(fd: int, st: os.stat_result) -> None:
    """Give a new file the owner and group of ``st`` where permitted (ignore EPERM)."""
    if not hasattr(os, "fchown"):
        return
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        with suppress(PermissionError):  # not root: at least the group, if we are in it
            os.fchown(fd, -1, st.st_gid)


def _temp_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{prefix}.") + r"[0-9a-f]{12}" + re.escape(_TEMP_SUFFIX))


def _create_temp(directory: Path, prefix: str) -> tuple[int, Path]:
    """A new empty file ``.<prefix>.<12 hex>.envsync-tmp`` in ``directory``, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW
    while True:
        candidate = directory / f".{prefix}.{os.urandom(6).hex()}{_TEMP_SUFFIX}"
        try:
            return os.open(candidate, flags, NEW_FILE_MODE), candidate
        except FileExistsError:
            continue


def _locked_by_us(directory: Path) -> bool:
    try:
        st = os.stat(directory)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in _held_locks


def _remove_stale_temps(directory: Path, prefix: str, lock_dir: Path) -> None:
    """Remove the temporary files ``.<prefix>.<hex>.envsync-tmp`` a killed run left behind.

    Only while this process holds :func:`env_lock` on ``lock_dir``: every writer of such a file
    holds that lock, so none of them is still in use. Best effort: errors are ignored.
    """
    if not _locked_by_us(lock_dir):
        return
    pattern = _temp_pattern(prefix)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            with suppress(OSError):
                os.unlink(directory / name)


# --------------------------------------------------------------------------------------------
# reading


def read_text(path: Path, what: str = "file") -> str:
    """Read ``path`` as UTF-8 exactly: no newline translation, a BOM is kept as ``\\ufeff``.

    Refuses, with a one-line :class:`EnvsyncError` naming the file: a missing file, a directory or
    other non-regular file, a file we may not read, invalid UTF-8 and NUL bytes (with the byte
    offset and line of the first bad byte).
    """
    shown = _show(path)
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except PermissionError as exc:
        if os.path.isdir(path):  # Windows cannot open a directory
            raise EnvsyncError(f"cannot read {what} {shown}: is a directory") from None
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise EnvsyncError(f"cannot read {what} {shown}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise EnvsyncError(f"cannot read {what} {shown}: not a regular file")
        if st.st_size >= _LARGE and hasattr(os, "readv"):
            large = _read_large(fd, st.st_size)
            if large is not None:
                return _decode_large(large, what, shown)
            os.lseek(fd, 0, os.SEEK_SET)  # its size changed while we read: the usual way
        data = _read_all(fd, st.st_size)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    return _decode(data, what, shown)


#: files at least this large are read into an anonymous mapping (see _read_large)
_LARGE = 1 << 20


def _read_large(fd: int, size: int) -> mmap.mmap | None:
    """The file's bytes in an anonymous memory mapping of ``size + 1`` bytes (the last one
    unused), or None when the file is not ``size`` bytes long after all. A large ``bytes``
    object comes from the heap, which keeps the memory once it is freed (the text decoded
    from it is what is kept); a mapping goes back to the system when it is closed."""
    import mmap

    buf = mmap.mmap(-1, size + 1)
    view = memoryview(buf)
    try:
        n = 0
        while n <= size:
            got = os.readv(fd, [view[n:]])
            if got == 0:
                break
            n += got
    except BaseException:
        view.release()
        buf.close()
        raise
    view.release()
    if n != size:
        buf.close()
        return None
    return buf


def _decode_large(buf: mmap.mmap, what: str, shown: str) -> str:
    import codecs

    size = len(buf) - 1
    view = memoryview(buf)[:size]
    try:
        nul = buf.find(b"\0", 0, size)
        if nul < 0:
            try:
                return codecs.utf_8_decode(view, "strict", True)[0]
            except UnicodeDecodeError:
                pass
        data = bytes(view)  # (an error to report: the usual path, with its messages)
    finally:
        view.release()
        buf.close()
    return _decode(data, what, shown)


def _decode(data: bytes, what: str, shown: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EnvsyncError(
            f"cannot read {what} {shown}: not valid UTF-8 (byte offset {exc.start}, line {line})"
        ) from None
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise EnvsyncError(
            f"cannot read {what} {shown}: contains a NUL byte (byte offset {nul}, line {line})"
        )
    return text


def is_pipe(path: PathArg) -> bool:
    """Whether ``path`` is a pipe (a FIFO: ``/dev/stdin`` of a pipeline, ``<(...)``)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_pipe(source: int | PathArg, what: str, shown: str) -> str:
    """Read a pipe to its end (``source`` a file descriptor, e.g. 0 for standard input, or the
    path of a FIFO), with the same refusals as :func:`read_text` (invalid UTF-8, NUL bytes).
    Nothing of it is ever written anywhere: ``--env -`` keeps a secret off the disk."""
    try:
        fd = source if isinstance(source, int) else os.open(source, os.O_RDONLY | _O_BINARY)
        try:
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            if not isinstance(source, int):
                os.close(fd)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    return _decode(b"".join(chunks), what, shown)


def file_mode(path: Path) -> int | None:
    """Permission bits (``st_mode & 0o777``) of the file ``path`` resolves to; None if missing."""
    try:
        return os.stat(path).st_mode & 0o777
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise EnvsyncError(f"cannot inspect {_show(path)}: {_reason(exc)}") from None


# --------------------------------------------------------------------------------------------
# validation


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
    writable parent directory.
    """
    shown = _show(env_path)
    target = _resolve(env_path)
    home = Path(os.path.realpath(env_path.parent))
    if target.parent != home and home not in target.parents:
        # a planted symlink must not make fix or restore rewrite a file elsewhere
        raise EnvsyncError(
            f"refusing to write {shown}: it is a symlink to {_show(target)}, outside "
            f"{_show(home)}; run envsync on that file itself"
        )
    try:
        st: os.stat_result | None = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise EnvsyncError(f"cannot write {shown}: {_reason(exc)}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise EnvsyncError(f"cannot write {shown}: is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise EnvsyncError(f"cannot write {shown}: not a regular file")
    parent = target.parent
    if not parent.is_dir():
        raise EnvsyncError(f"cannot write {shown}: directory {_show(parent)} does not exist")
    if not _writable_dir(parent):
        raise EnvsyncError(f"cannot write {shown}: directory {_show(parent)} is not writable")

    shown_dir = _show(backup_dir)
    if os.path.islink(backup_dir):
        # a planted symlink must not send the backups (the env file's secrets) elsewhere, nor
        # make restore read a backup from there
        linked = Path(os.path.realpath(backup_dir))
        if linked != home and home not in linked.parents:
            raise EnvsyncError(
                f"refusing to use backup directory {shown_dir}: it is a symlink to "
                f"{_show(linked)}, outside {_show(home)}; pass --backup-dir {_show(linked)} "
                f"to use that directory"
            )
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
                f"cannot create backup directory {shown_dir}: {_show(bparent)} does not exist"
            )
        if not _writable_dir(bparent):
            raise EnvsyncError(
                f"cannot create backup directory {shown_dir}: {_show(bparent)} is not writable"
            )


# --------------------------------------------------------------------------------------------
# backups


def backup_dir_for(env_path: Path, backup_dir: Path | str | None) -> Path:
    """The backup directory: ``env-backup/`` beside ``env_path`` by default; a relative
    ``backup_dir`` is taken relative to ``env_path``'s directory."""
    if backup_dir is None:
        return env_path.parent / DEFAULT_BACKUP_DIR
    directory = Path(backup_dir).expanduser()
    if directory.is_absolute():
        return directory
    return env_path.parent / directory


def _backup_pattern(env_name: str) -> re.Pattern[str]:
    return re.compile(re.escape(env_name) + r"\.backup_(\d{8})_(\d{6})(?:_(\d+))?")


def _ensure_backup_dir(backup_dir: Path) -> None:
    try:
        os.mkdir(backup_dir, BACKUP_DIR_MODE)
    except FileExistsError:
        if not backup_dir.is_dir():
            raise EnvsyncError(
                f"cannot use backup directory {_show(backup_dir)}: not a directory"
            ) from None
        return
    except OSError as exc:
        raise EnvsyncError(
            f"cannot create backup directory {_show(backup_dir)}: {_reason(exc)}"
        ) from None
    try:
        os.chmod(backup_dir, BACKUP_DIR_MODE)  # exactly 0700 whatever the umask
        _fsync_dir(backup_dir.parent)
    except OSError as exc:
        raise EnvsyncError(
            f"cannot create backup directory {_show(backup_dir)}: {_reason(exc)}"
        ) from None


def make_backup(
    env_path: Path,
    backup_dir: Path,
    now: datetime | None = None,
    expect: bytes | None = None,
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
    and which env file it holds (its real path and its directory's device and inode).
    """
    shown = _show(env_path)
    try:
        src = os.open(env_path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except OSError as exc:
        raise EnvsyncError(f"cannot back up {shown}: {_reason(exc)}") from None
    try:
        src_st = os.fstat(src)
        if not stat.S_ISREG(src_st.st_mode):
            raise EnvsyncError(f"cannot back up {shown}: not a regular file")
        data = _read_all(src, src_st.st_size)
    except OSError as exc:
        raise EnvsyncError(f"cannot back up {shown}: {_reason(exc)}") from None
    finally:
        os.close(src)
    if expect is not None and data != expect:
        raise _changed(env_path, command)

    _ensure_backup_dir(backup_dir)
    # the temp name tells apart env files of the same name that share a backup directory
    import zlib  # (only a fix that writes needs these)
    from datetime import datetime

    prefix = f"{env_path.name}.{zlib.crc32(os.fsencode(_resolve(env_path))):08x}"
    _remove_stale_temps(backup_dir, prefix, _resolve(env_path).parent)
    stamp = (now if now is not None else datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"{env_path.name}.backup_{stamp}"
    try:
        fd, tmp = _create_temp(backup_dir, prefix)
    except OSError as exc:
        raise EnvsyncError(
            f"cannot back up {shown} to {_show(backup_dir)}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    try:
        try:
            _match_owner(fd, src_st)
            os.fchmod(fd, stat.S_IMODE(src_st.st_mode))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        # only a complete, synced copy ever gets a backup's name
        dest = _link_to_free_name(tmp, backup_dir, base)
        try:
            _write_meta(dest, _meta_text(env_path, command, restored_from), prefix)
        except OSError:
            with suppress(OSError):
                os.unlink(dest)
            raise
    except OSError as exc:
        raise EnvsyncError(
            f"cannot back up {shown} to {_show(backup_dir)}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    finally:
        with suppress(OSError):
            os.unlink(tmp)
    try:
        _fsync_dir(backup_dir)
    except OSError as exc:
        discard_backup(dest)
        raise EnvsyncError(
            f"cannot back up {shown} to {_show(dest)}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    return dest


def _link_to_free_name(tmp: Path, directory: Path, base: str) -> Path:
    """Give ``tmp`` the first free name of ``base``, ``base_2``, ... in ``directory``."""
    for n in range(1, _MAX_BACKUP_SUFFIX + 1):
        dest = directory / (base if n == 1 else f"{base}_{n}")
        try:
            os.link(tmp, dest)  # fails if dest exists: never overwrites
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # a filesystem without hard links: rename, under the lock that keeps envsync out
            if os.path.lexists(dest):
                continue
            os.replace(tmp, dest)
        return dest
    raise EnvsyncError(f"cannot back up into {_show(directory)}: too many backups named {base}")


def list_backups(env_path: Path, backup_dir: Path) -> list[Path]:
    """The backups of ``env_path`` in ``backup_dir``, newest first.

    Ordered by the timestamp in the name, then by the ``_N`` suffix (none counts as 1), never
    by modification time. A missing ``backup_dir`` has no backups.
    """
    pattern = _backup_pattern(env_path.name)
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise EnvsyncError(
            f"cannot list backup directory {_show(backup_dir)}: {_reason(exc)}"
        ) from None
    found: list[tuple[tuple[str, str, int], str]] = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None:
            continue
        if not (backup_dir / name).is_file():
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
    real, ident = _env_identity(env_path)
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
        meta = _read_meta(path)
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
        m = _backup_pattern(env_path.name).fullmatch(path.name)
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


def backup_belongs(env_path: Path, backup: Path) -> bool:
    """Whether ``backup``'s metadata names ``env_path`` (by real path or directory identity);
    True for a backup without metadata (the operator named it)."""
    meta = _read_meta(backup)
    if meta is None:
        return True
    real, ident = _env_identity(env_path)
    return meta.get("env") == real or bool(ident and meta.get("dir") == ident)


def backup_owner(backup: Path) -> str | None:
    """The real path of the env file ``backup``'s metadata names (None: no metadata)."""
    meta = _read_meta(backup)
    return None if meta is None else meta.get("env")


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
    shown, shown_dir = _show(env_path), _show(backup_dir)
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
            f"nothing older to restore: {shown} holds {_show(infos[start - 1].path.name)}, "
            f"the oldest backup; restore --list shows all, --from picks one "
            f"(--from {_show(newest.path)} undoes the last restore)"
        )
    raise EnvsyncError(
        f"nothing to restore: every backup of {shown} in {shown_dir} holds what it holds now "
        f"or was made by restore; restore --list shows all, --from picks one"
    )


# --------------------------------------------------------------------------------------------
# backup metadata: what made a backup, and which env file it holds

#: a backup's sidecar: ``<backup name>.meta`` in the backup directory (never a backup's name)
META_SUFFIX = ".meta"
_META_HEADER = "envsync-backup 1"


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


def _quote(text: str) -> str:
    """``text`` as printable ASCII with no spaces (``%XX`` for other bytes): one meta line."""
    return "".join(
        chr(b) if 0x21 <= b < 0x7F and b != 0x25 else f"%{b:02X}" for b in os.fsencode(text)
    )


def _unquote(text: str) -> str:
    return os.fsdecode(re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), text.encode()))


def _env_identity(env_path: Path) -> tuple[str, str]:
    """(realpath of the env file, ``dev:ino`` of its directory): what a backup's metadata
    records, so that env files of the same name sharing a backup directory are told apart."""
    target = _resolve(env_path)
    try:
        st = os.stat(target.parent)
        ident = f"{st.st_dev}:{st.st_ino}"
    except OSError:
        ident = ""
    return str(target), ident


def _meta_text(env_path: Path, made_by: str, restored_from: str | None) -> str:
    real, ident = _env_identity(env_path)
    lines = [_META_HEADER, f"made-by {_quote(made_by)}", f"env {_quote(real)}", f"dir {ident}"]
    if restored_from:
        lines.append(f"restored-from {_quote(restored_from)}")
    return "\n".join(lines) + "\n"


def _read_meta(path: Path) -> dict[str, str] | None:
    """A backup's metadata (``made-by``, ``env``, ``dir``, ...), or None when it has none (or
    one that is not a regular file, or unreadable: treated as a backup of an older version)."""
    meta = path.with_name(path.name + META_SUFFIX)
    try:
        fd = os.open(meta, os.O_RDONLY | _O_BINARY | _O_NONBLOCK | _O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 1024:
            return None
        data = _read_all(fd, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = data.decode("ascii", "replace").splitlines()
    if not lines or lines[0] != _META_HEADER:
        return None
    out: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(" ")
        out[name] = value if name == "dir" else _unquote(value)
    return out


def _write_meta(backup: Path, text: str, prefix: str) -> None:
    """Write ``<backup>.meta`` like a backup: temp file (0600), fsync, hard link (or rename)."""
    fd, tmp = _create_temp(backup.parent, prefix)
    try:
        try:
            _write_all(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        dest = backup.with_name(backup.name + META_SUFFIX)
        if os.path.lexists(dest):  # left by a backup removed by hand: it described that one
            os.unlink(dest)
        try:
            os.link(tmp, dest)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            os.replace(tmp, dest)
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def discard_backup(backup: Path) -> None:
    """Remove a backup this run just made (and its metadata): the write it guarded failed, so
    it is not a state the env file was ever replaced from. Best effort."""
    for path in (backup.with_name(backup.name + META_SUFFIX), backup):
        with suppress(OSError):
            os.unlink(path)
    with suppress(OSError):
        _fsync_dir(backup.parent)


# --------------------------------------------------------------------------------------------
# writing


def atomic_write(
    path: Path,
    text: str,
    mode: int | None = None,
    expect: bytes | None = None,
    command: str = "fix",
) -> None:
    """Replace the file ``path`` resolves to with ``text`` (UTF-8, no newline translation).

    A symlink stays a symlink: its resolved target is replaced. An existing file keeps its mode and
    (where permitted) its owner and group; a new file gets ``mode`` (default ``0o600``). The temp
    file is created next to the target (``O_EXCL``, ``0600``), fsynced, renamed over the target
    with ``os.replace`` and the directory fsynced. On failure the temp file is removed and
    ``EnvsyncError`` says that ``path`` is unchanged. ``expect``: the bytes the caller read;
    right before the rename the file is read again and, if another program changed it, the
    temp file is removed and nothing is replaced (see :func:`_check_unchanged`).
    """
    shown = _show(path)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EnvsyncError(
            f"could not write {shown}: text is not encodable as UTF-8 "
            f"(character {exc.start}); {shown} is unchanged"
        ) from None
    target = _resolve(path)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        what = "is a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise EnvsyncError(f"could not write {shown}: {what}; {shown} is unchanged")
    final_mode = (
        stat.S_IMODE(st.st_mode)
        if st is not None
        else (NEW_FILE_MODE if mode is None else stat.S_IMODE(mode))
    )

    directory = target.parent
    _remove_stale_temps(directory, target.name, directory)
    tmp: Path | None = None
    try:
        fd, tmp = _create_temp(directory, target.name)
        try:
            if st is not None:
                _match_owner(fd, st)
            os.fchmod(fd, final_mode)  # after chown, which may clear set-id bits
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if expect is not None:
            # as late as possible: the window left is the time between this read and the rename
            _check_unchanged(target, expect, command)
        os.replace(tmp, target)
        tmp = None
    except EnvsyncError:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        raise
    except OSError as exc:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)
        raise EnvsyncError(
            f"could not write {shown}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    try:
        _fsync_dir(directory)
    except OSError as exc:
        raise EnvsyncError(
            f"wrote {shown} but could not sync directory {_show(directory)}: {_reason(exc)}"
        ) from None


# --------------------------------------------------------------------------------------------
# locking


@contextmanager
def env_lock(env_path: Path) -> Iterator[None]:
    """Hold an exclusive lock for ``env_path``: ``flock`` on its resolved directory.

    Blocks while another process holds it. No file is created and the kernel releases the lock
    when the holder exits or is killed, so a crash leaves no stale lock. Nesting in one process
    (on the same directory) is allowed. A no-op where ``fcntl`` is unavailable (Windows).
    """
    if sys.platform == "win32":
        yield
        return
    import fcntl

    directory = _resolve(env_path).parent
    try:
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY)
    except OSError as exc:
        raise EnvsyncError(
            f"cannot lock {_show(env_path)}: directory {_show(directory)}: {_reason(exc)}"
        ) from None
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    held = _held_locks.get(key)
    if held is not None:
        os.close(fd)
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        os.close(fd)
        raise EnvsyncError(
            f"cannot lock {_show(env_path)}: directory {_show(directory)}: {_reason(exc)}"
        ) from None
    _held_locks[key] = [fd, 1]
    try:
        yield
    finally:
        del _held_locks[key]
        try:
            with suppress(OSError):  # closing the descriptor releases the lock anyway
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# restore


def refuse_read_only(env_path: Path) -> None:
    """Refuse to change an env file that is read-only for its owner (no ``u+w``): whoever made
    it so meant it not to change. ``--force`` skips this check."""
    try:
        mode = os.stat(env_path).st_mode
    except OSError:
        return  # missing: nothing to protect; other errors are reported where it is read
    if stat.S_ISREG(mode) and not mode & stat.S_IWUSR:
        raise EnvsyncError(
            f"refusing to change {_show(env_path)}: it is read-only for its owner "
            f"(mode {stat.S_IMODE(mode):04o}); make it writable, or pass --force"
        )


def replace_with_backup(
    env_path: Path,
    text: str,
    backup_dir: Path,
    command: str = MADE_BY_FIX,
    restored_from: str | None = None,
    expect: bytes | None = None,
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
    except BaseException:
        discard_backup(backup)
        raise
    return backup


def restore(env_path: Path, backup: Path, backup_dir: Path, force: bool = False) -> Path | None:
    """Put the exact bytes of ``backup`` back into ``env_path``, under :func:`env_lock`.

    The current env file is backed up first (made by ``restore``, recording ``backup``'s name)
    when it exists and differs from ``backup``; that new backup's path is returned (None when
    no backup was needed). ``env_path`` keeps its mode, or takes the backup's mode when it does
    not exist. Nothing is written when they are identical. A read-only env file is refused
    unless ``force``.
    """
    with env_lock(env_path):
        text = read_text(backup, "backup")
        check_writable_target(env_path, backup_dir)
        wanted = text.encode("utf-8")
        if os.path.exists(env_path):
            try:
                with open(env_path, "rb") as fh:
                    current = fh.read()
            except OSError as exc:
                raise EnvsyncError(f"cannot read {_show(env_path)}: {_reason(exc)}") from None
            if current == wanted:
                return None
            if not force:
                refuse_read_only(env_path)
            same_dir = os.path.realpath(backup.parent) == os.path.realpath(backup_dir)
            used = backup.name if same_dir else str(backup)
            return replace_with_backup(
                env_path, text, backup_dir, MADE_BY_RESTORE, used, expect=current
            )
        backup_mode = file_mode(backup)
        atomic_write(env_path, text, mode=NEW_FILE_MODE if backup_mode is None else backup_mode)
        return None
