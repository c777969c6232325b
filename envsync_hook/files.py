"""Reading, backing up, atomically replacing, locking and restoring env files.

This is the only module of envsync-hook that writes env files and backups. It writes only to the
env file's own (resolved) directory and to the backup directory. Every failure is an
:class:`EnvsyncError` whose message is one line naming the file, never its contents.

Confinement (no way out of the folder, even by a race): a path is resolved once (symlinks
followed, then checked: see :func:`check_writable_target`), and the resolved directory is then
opened one component at a time from ``/`` without following any symlink (:class:`_Dir`); every
file operation names one entry of that open directory (``openat``, ``renameat``, ``linkat``,
``mkdirat`` with ``O_NOFOLLOW``). A component or file swapped for a symlink after the check makes
the operation fail (``ELOOP``/``ENOTDIR``), never lead elsewhere; ``rename`` over a planted
symlink replaces the link, not its target. Which folder a path must stay in is its *anchor*
(:func:`_anchor`): the project folder (:func:`confine_to`) for a path inside it, else the folder
the path names.

Guarantees (DESIGN.md section 7):

- a backup is written to a temporary file in the backup directory, fsynced, then hard-linked to
  its final name (``link`` fails rather than overwrite: an existing backup is never overwritten),
  so a file with a backup's name is always a complete copy, with the env file's bytes and mode,
  fsynced together with its directory before the env file changes;
- the env file is replaced atomically (temporary file in the same directory, same mode, owner
  and group where permitted, fsync, ``os.replace``, fsync of the directory), so a crash leaves it
  wholly old or wholly new; a symlinked env file stays a symlink and its target is replaced,
  provided the target lies in the link's own directory or below it, and that directory is not
  reached through a symlink leading out of the anchor (other symlinks are refused, and a backup
  directory reached through a symlink must lie in the env file's directory);
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
    "check_confined",
    "check_inside_project",
    "confine_to",
    "check_report_path",
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
    "read_backup",
    "read_env",
    "read_pipe",
    "read_text",
    "restore",
    "write_report",
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
# O_PATH (Linux) opens a directory for lookups only: walking needs no read permission on it
_O_PATH: int = getattr(os, "O_PATH", 0)
# every operation relative to an open directory (POSIX); elsewhere (Windows) by resolved path
_AT: bool = (
    sys.platform != "win32"
    and bool(_O_NOFOLLOW and _O_DIRECTORY)
    and {os.open, os.stat, os.rename, os.link, os.mkdir, os.unlink} <= os.supports_dir_fd
)
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
        return "a parent is not a directory (or was replaced by a symlink, which is not followed)"
    if exc.errno == errno.ELOOP:
        return "is a symbolic link (not followed here)"
    if exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _resolve(path: PathArg) -> Path:
    """Absolute path with every symlink resolved (a missing final target is allowed). A path
    that changes while it is resolved (``realpath`` found a symlink, then no longer) is
    resolved again; a loop of symlinks, or one that keeps changing, is refused."""
    for _ in range(3):
        try:
            resolved = os.path.realpath(path)
        except OSError:  # e.g. EINVAL from readlink: a symlink became a file meanwhile
            continue
        if not os.path.islink(resolved):
            return Path(resolved)
    raise EnvsyncError(
        f"cannot resolve {_show(path)}: too many levels of symbolic links (or it keeps changing)"
    )


def _real(path: PathArg) -> str:
    """:func:`_resolve` as a string."""
    return str(_resolve(path))


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it (both absolute and normalised)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


#: The project folder of this run (:func:`confine_to`); None: the current directory.
_project: str | None = None


def confine_to(folder: PathArg | None) -> None:
    """Set the project folder of this run: the folder of the configuration file found (in the
    current directory or above it), else the current directory (None)."""
    global _project
    _project = None if folder is None else os.path.abspath(folder)


def project_folder() -> str:
    """The folder files not named on the command line must stay in (:func:`confine_to`)."""
    return _project if _project is not None else os.getcwd()


def _anchor(path: PathArg) -> str:
    """The folder ``path`` may not lead out of through a symlink: the project folder (the
    current directory, or where the configuration file was found) when the path, as written,
    lies in it (a planted ``deploy -> ../elsewhere`` must not lead out of the repository or
    deployment folder); else the folder the path names as its parent (a path outside the
    project folder was named on the command line as it is)."""
    root = project_folder()
    absolute = os.path.abspath(path)
    if _inside(absolute, root):
        return root
    return os.path.dirname(absolute)


def _through_symlink(path: PathArg, anchor: str) -> str | None:
    """The real path of ``path`` when a symlink below ``anchor`` leads elsewhere than the path
    reads, else None."""
    real = _real(path)
    rest = os.path.relpath(os.path.abspath(path), anchor)
    plain = os.path.normpath(os.path.join(_real(anchor), rest))
    return None if plain == real else real


def _checked_home(path: PathArg, verb: str) -> str:
    """The real folder of the file ``path``, refused (one line) when a symlinked parent folder
    leads out of the path's anchor."""
    anchor = _anchor(path)
    home = _real(os.path.dirname(os.path.abspath(path)))
    real_anchor = _real(anchor)
    if not _inside(home, real_anchor):
        raise EnvsyncError(
            f"refusing to {verb} {_show(path)}: its folder leads through a symlink to "
            f"{_show(home)}, outside {_show(real_anchor)}; run envsync in that folder itself"
        )
    return home


def _target(path: PathArg, verb: str) -> tuple[str, str]:
    """The real folder and name of the file ``path`` (a symlinked file resolved), checked: its
    folder must not lead out of the anchor (:func:`_checked_home`), and a symlinked file must
    resolve inside that folder. Raises a one-line :class:`EnvsyncError` otherwise."""
    home = _checked_home(path, verb)
    target = _real(path)
    folder, name = os.path.split(target)
    if not _inside(folder, home):
        # a planted symlink must not make fix or restore rewrite (or read) a file elsewhere
        raise EnvsyncError(
            f"refusing to {verb} {_show(path)}: it is a symlink to {_show(target)}, outside "
            f"{_show(home)}; run envsync on that file itself"
        )
    return folder, name


def _walk(real: str) -> int:
    """A descriptor of the directory ``real`` (absolute, symlinks already resolved), opened one
    component at a time from ``/`` with ``O_NOFOLLOW``: a component replaced by a symlink since
    ``real`` was resolved fails with ``ENOTDIR`` instead of leading elsewhere. The descriptor is
    readable (fsync, listdir, flock) where the directory may be read, else lookup-only."""
    lookup = (_O_PATH or os.O_RDONLY) | _O_DIRECTORY | _O_NOFOLLOW
    fd = os.open(os.sep, lookup)
    try:
        for part in real.split(os.sep):
            if part:
                nxt = os.open(part, lookup, dir_fd=fd)
                os.close(fd)
                fd = nxt
        if not _O_PATH:
            return fd
        try:
            readable = os.open(".", os.O_RDONLY | _O_DIRECTORY, dir_fd=fd)
        except PermissionError:
            return fd  # write-only directory: lookups only (no fsync, as before)
        os.close(fd)
        return readable
    except BaseException:
        os.close(fd)
        raise


class _Dir:
    """An open directory; every operation names one entry in it and follows no symlink.

    POSIX: a descriptor from :func:`_walk` and ``*at`` system calls relative to it, so nothing
    can redirect an operation out of the directory after it was checked. Elsewhere: its path.
    """

    __slots__ = ("fd", "path")

    def __init__(self, real: str) -> None:
        self.path = real
        self.fd = _walk(real) if _AT else -1

    def __enter__(self) -> _Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _at(self, name: str) -> str:
        return name if _AT else os.path.join(self.path, name)

    def _fd(self) -> int | None:
        return self.fd if _AT else None

    def open(self, name: str, flags: int, mode: int = 0o777) -> int:
        return os.open(self._at(name), flags | _O_NOFOLLOW, mode, dir_fd=self._fd())

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._at(name), dir_fd=self._fd(), follow_symlinks=False)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self._at(src), self._at(dst), src_dir_fd=self._fd(), dst_dir_fd=self._fd())

    def link(self, src: str, dst: str) -> None:
        os.link(
            self._at(src),
            self._at(dst),
            src_dir_fd=self._fd(),
            dst_dir_fd=self._fd(),
        )

    def unlink(self, name: str) -> None:
        os.unlink(self._at(name), dir_fd=self._fd())

    def mkdir(self, name: str, mode: int) -> None:
        os.mkdir(self._at(name), mode, dir_fd=self._fd())

    def listdir(self) -> list[str]:
        return os.listdir(self.fd if _AT else self.path)

    def sub(self, name: str) -> _Dir:
        """The subdirectory ``name``, opened without following a symlink."""
        return _Dir(os.path.join(self.path, name))

    def fsync(self) -> None:
        """Make an entry change (create, rename) durable, where the platform can."""
        if _AT:
            _fsync_fd(self.fd)
        else:
            _fsync_dir(Path(self.path))


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


#: what fix or restore read: the text (decoded, as fix holds it) or the bytes
Expected = Union[str, bytes]
_CHUNK = 1 << 20


def _same_content(chunks: Iterator[bytes], expect: Expected) -> bool:
    """Whether the bytes ``chunks`` yield are ``expect`` (its UTF-8 form, for a text), a
    chunk at a time: neither side is copied whole (at 100,000 keys a copy is 10 MB of peak)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")() if isinstance(expect, str) else None
    pos = 0
    for chunk in chunks:
        part: str | bytes = chunk
        if decoder is not None:
            try:
                part = decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
        if expect[pos : pos + len(part)] != part:
            return False
        pos += len(part)
    if decoder is not None:
        try:
            if decoder.decode(b"", True):
                return False
        except UnicodeDecodeError:
            return False
    return pos == len(expect)


def _fd_chunks(fd: int) -> Iterator[bytes]:
    while True:
        chunk = os.read(fd, _CHUNK)
        if not chunk:
            return
        yield chunk


def _check_unchanged(directory: _Dir, name: str, expect: Expected, command: str) -> None:
    """Raise unless the file ``name`` of ``directory`` holds exactly ``expect``: compared by
    content, not by mtime (an edit within the same second, or one that restores the mtime, is
    still seen). Opened without following a symlink: one swapped in is a change."""
    path = Path(directory.path, name)
    if before_replace is not None:
        before_replace(path)
    try:
        fd = directory.open(name, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        raise _changed(path, command) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _changed(path, command) from None
        raise
    try:
        size = os.fstat(fd).st_size
        same = (isinstance(expect, str) or size == len(expect)) and _same_content(
            _fd_chunks(fd), expect
        )
    finally:
        os.close(fd)
    if not same:
        raise _changed(path, command)


def _fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FSYNC_DIR_UNSUPPORTED:
            raise


def _fsync_dir(directory: Path) -> None:
    """Make a directory entry change (create, rename) durable, where the platform can."""
    try:
        fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY)
    except OSError:
        return  # e.g. Windows, or a directory we may write but not read
    try:
        _fsync_fd(fd)
    finally:
        os.close(fd)


def _match_owner(fd: int, st: os.stat_result) -> None:
    """Give a new file the owner and group of ``st`` where permitted (ignore EPERM): run by
    another user than the owner (not root), the file becomes that user's."""
    if not hasattr(os, "fchown"):
        return
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        with suppress(PermissionError):  # not root: at least the group, if we are in it
            os.fchown(fd, -1, st.st_gid)


def _temp_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{prefix}.") + r"[0-9a-f]{12}" + re.escape(_TEMP_SUFFIX))


def _create_temp(directory: _Dir, prefix: str) -> tuple[int, str]:
    """A new empty file ``.<prefix>.<12 hex>.envsync-tmp`` in ``directory``, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY
    while True:
        candidate = f".{prefix}.{os.urandom(6).hex()}{_TEMP_SUFFIX}"
        try:
            return directory.open(candidate, flags, NEW_FILE_MODE), candidate
        except FileExistsError:
            continue


def _locked_by_us(directory: str) -> bool:
    try:
        st = os.stat(directory)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in _held_locks


def _remove_stale_temps(directory: _Dir, prefix: str, lock_dir: str) -> None:
    """Remove the temporary files ``.<prefix>.<hex>.envsync-tmp`` a killed run left behind.

    Only while this process holds :func:`env_lock` on ``lock_dir``: every writer of such a file
    holds that lock, so none of them is still in use. Best effort: errors are ignored.
    """
    if not _locked_by_us(lock_dir):
        return
    pattern = _temp_pattern(prefix)
    try:
        names = directory.listdir()
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            with suppress(OSError):
                directory.unlink(name)


# --------------------------------------------------------------------------------------------
# reading


def read_text(path: Path, what: str = "file", *, confine: bool = False) -> str:
    """Read ``path`` as UTF-8 exactly: no newline translation, a BOM is kept as ``\\ufeff``.

    Refuses, with a one-line :class:`EnvsyncError` naming the file: a missing file, a directory or
    other non-regular file, a file we may not read, invalid UTF-8 and NUL bytes (with the byte
    offset and line of the first bad byte). ``confine``: the file was not named on the command
    line (a default name, a configuration file, a glob), so it must lie in the project folder
    (:func:`project_folder`: the repository or deployment folder), symlinks resolved, and is
    opened without following one after that check.
    """
    shown = _show(path)
    if confine:
        real = _real(path)
        home = _real(project_folder())
        if not _inside(real, home):
            raise EnvsyncError(
                f"refusing to read {what} {shown}: it leads to {_show(real)}, outside the "
                f"project folder {_show(home)}; name it on the command line to use it"
            )
        folder, name = os.path.split(real)
        return _read_in(folder, name, what, shown)
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except PermissionError as exc:
        if os.path.isdir(path):  # Windows cannot open a directory
            raise EnvsyncError(f"cannot read {what} {shown}: is a directory") from None
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    return _read_fd(fd, what, shown)


def check_inside_project(path: Path, what: str) -> None:
    """Refuse (one line) a file not named on the command line that lies, as written, outside
    the project folder: a planted configuration must not make fix write elsewhere."""
    root = project_folder()
    if not _inside(os.path.abspath(path), root):
        raise EnvsyncError(
            f"refusing to write {what} {_show(path)}: it is outside the project folder "
            f"{_show(root)}; name it on the command line (--env) to use it"
        )


def read_env(path: Path) -> str:
    """Read the env file ``path`` that fix or restore is about to replace: under the same rule as
    the write (:func:`_target`: a symlink only to a file in its own folder, no symlinked parent
    leading out), opened without following a symlink, so that a ``.env`` swapped for a symlink
    while envsync runs is refused, never read (its content would end up in the backup)."""
    folder, name = _target(path, "write")
    return _read_in(folder, name, "env file", _show(path))


def _read_in(folder: str, name: str, what: str, shown: str) -> str:
    """Read the file ``name`` of the real directory ``folder``, following no symlink."""
    try:
        with _Dir(folder) as directory:
            fd = directory.open(name, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {_reason(exc)}") from None
    return _read_fd(fd, what, shown)


def _read_fd(fd: int, what: str, shown: str) -> str:
    """The text of the open file ``fd`` (closed here), with :func:`read_text`'s refusals."""
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
    writable parent directory. Neither may lead where envsync must not write: the env file's
    folder not through a symlink out of its anchor (:func:`_anchor`), a symlinked env file only
    to a file in that folder or below, and a backup directory reached through a symlink (itself
    or a parent folder) only into that folder or below (:func:`_backup_real`).
    """
    shown = _show(env_path)
    folder, name = _target(env_path, "write")
    target = Path(folder, name)
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
    _backup_real(env_path, backup_dir)
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


def _backup_real(env_path: Path, backup_dir: Path) -> str:
    """The real path of ``backup_dir``, refused (one line) when a symlink (the directory itself or
    a parent folder below its anchor) leads it out of the env file's folder: the backups hold
    the secrets, and restore must not read a planted one."""
    real = _through_symlink(backup_dir, _anchor(backup_dir))
    if real is None:
        return _real(backup_dir)
    home = _checked_home(env_path, "write")
    if not _inside(real, home):
        raise EnvsyncError(
            f"refusing to use backup directory {_show(backup_dir)}: it leads through a symlink "
            f"to {_show(real)}, outside {_show(home)}; pass --backup-dir {_show(real)} "
            f"to use that directory"
        )
    return real


def check_confined(env_path: Path, backup_dir: Path) -> None:
    """Refuse (one line) an env file or backup directory that leads where envsync must not
    write or read backups (the first checks of :func:`check_writable_target`)."""
    _target(env_path, "use")
    _backup_real(env_path, backup_dir)


def _open_backup_dir(env_path: Path, backup_dir: Path) -> _Dir:
    """The backup directory, checked (:func:`_backup_real`) and opened; created ``0700`` (and
    its creation made durable) when missing. Its parent must exist."""
    shown = _show(backup_dir)
    real = _backup_real(env_path, backup_dir)
    try:
        return _Dir(real)
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        raise EnvsyncError(f"cannot use backup directory {shown}: not a directory") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot use backup directory {shown}: {_reason(exc)}") from None
    parent_real, name = os.path.split(real)
    try:
        with _Dir(parent_real) as parent:
            try:
                parent.mkdir(name, BACKUP_DIR_MODE)
            except FileExistsError:  # a concurrent run made it: use it (if it is one)
                return parent.sub(name)
            made = parent.sub(name)
            try:
                if _AT:
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
        raise EnvsyncError(f"cannot create backup directory {shown}: {_reason(exc)}") from None


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
    file is opened under the rule of the write (:func:`read_env`): a file swapped for a symlink
    while envsync runs is refused, never copied.
    """
    shown = _show(env_path)
    folder, name = _target(env_path, "back up")
    try:
        with _Dir(folder) as home:
            src = home.open(name, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
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
    if expect is not None and not _same_content(
        (data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)), expect
    ):
        raise _changed(env_path, command)

    # the temp name tells apart env files of the same name that share a backup directory
    import zlib  # (only a fix that writes needs these)
    from datetime import datetime

    real_env = os.path.join(folder, name)
    prefix = f"{env_path.name}.{zlib.crc32(os.fsencode(real_env)):08x}"
    stamp = (now if now is not None else datetime.now()).strftime("%Y%m%d_%H%M%S")
    base = f"{env_path.name}.backup_{stamp}"
    meta = _meta_text(env_path, command, restored_from)
    with _open_backup_dir(env_path, backup_dir) as bdir:
        _remove_stale_temps(bdir, prefix, folder)
        try:
            fd, tmp = _create_temp(bdir, prefix)
        except OSError as exc:
            raise EnvsyncError(
                f"cannot back up {shown} to {_show(backup_dir)}: {_reason(exc)}; "
                f"{shown} is unchanged"
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
            dest = _link_to_free_name(bdir, tmp, base)
            try:
                _write_meta(bdir, dest, meta, prefix)
            except OSError:
                with suppress(OSError):
                    bdir.unlink(dest)
                raise
        except OSError as exc:
            raise EnvsyncError(
                f"cannot back up {shown} to {_show(backup_dir)}: {_reason(exc)}; "
                f"{shown} is unchanged"
            ) from None
        finally:
            with suppress(OSError):
                bdir.unlink(tmp)
        try:
            bdir.fsync()
        except OSError as exc:
            discard_backup(backup_dir / dest)
            raise EnvsyncError(
                f"cannot back up {shown} to {_show(backup_dir / dest)}: {_reason(exc)}; "
                f"{shown} is unchanged"
            ) from None
    return backup_dir / dest


def _link_to_free_name(directory: _Dir, tmp: str, base: str) -> str:
    """Give ``tmp`` the first free name of ``base``, ``base_2``, ... in ``directory``."""
    for n in range(1, _MAX_BACKUP_SUFFIX + 1):
        dest = base if n == 1 else f"{base}_{n}"
        try:
            directory.link(tmp, dest)  # fails if dest exists: never overwrites
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # a filesystem without hard links: rename, under the lock that keeps envsync out
            try:
                directory.lstat(dest)
                continue
            except FileNotFoundError:
                pass
            directory.replace(tmp, dest)
        return dest
    raise EnvsyncError(
        f"cannot back up into {_show(directory.path)}: too many backups named {base}"
    )


def list_backups(env_path: Path, backup_dir: Path) -> list[Path]:
    """The backups of ``env_path`` in ``backup_dir``, newest first.

    Ordered by the timestamp in the name, then by the ``_N`` suffix (none counts as 1), never
    by modification time. A missing ``backup_dir`` has no backups. Only regular files count: a
    symlink with a backup's name (planted to make restore read a file elsewhere) is not one.
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


def _write_meta(directory: _Dir, backup: str, text: str, prefix: str) -> None:
    """Write ``<backup>.meta`` in ``directory`` like a backup: temp file (0600), fsync, hard
    link (or rename)."""
    fd, tmp = _create_temp(directory, prefix)
    try:
        try:
            _write_all(fd, text.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        dest = backup + META_SUFFIX
        try:
            directory.lstat(dest)
        except FileNotFoundError:
            pass
        else:  # left by a backup removed by hand: it described that one
            directory.unlink(dest)
        try:
            directory.link(tmp, dest)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            directory.replace(tmp, dest)
    finally:
        with suppress(OSError):
            directory.unlink(tmp)


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
    expect: Expected | None = None,
    command: str = "fix",
) -> None:
    """Replace the file ``path`` resolves to with ``text`` (UTF-8, no newline translation).

    A symlink stays a symlink: its resolved target is replaced, provided it lies in the link's
    folder or below (:func:`_target`; else a one-line refusal). An existing file keeps its mode
    and (where permitted) its owner and group; a new file gets ``mode`` (default ``0o600``). The
    temp file is created next to the target (``O_EXCL``, ``0600``), fsynced, renamed over the
    target with ``os.replace`` and the directory fsynced, all relative to the target's directory
    opened without following symlinks: whatever replaced the target meanwhile (a planted
    symlink), the rename replaces that entry and never writes anywhere else. On failure the temp
    file is removed and ``EnvsyncError`` says that ``path`` is unchanged. ``expect``: what the
    caller read (the bytes, or the text decoded from them); right before the rename the file is
    read again and, if another program changed it, the temp file is removed and nothing is
    replaced (see :func:`_check_unchanged`).
    """
    shown = _show(path)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EnvsyncError(
            f"could not write {shown}: text is not encodable as UTF-8 "
            f"(character {exc.start}); {shown} is unchanged"
        ) from None
    folder, name = _target(path, "write")
    try:
        directory = _Dir(folder)
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    with directory:
        _replace_in(directory, name, data, mode, shown, expect, command)


def _replace_in(
    directory: _Dir,
    name: str,
    data: bytes,
    mode: int | None,
    shown: str,
    expect: Expected | None,
    command: str,
) -> None:
    """:func:`atomic_write`'s steps in the open ``directory``."""
    try:
        st: os.stat_result | None = directory.lstat(name)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            what = "is a directory"
        elif stat.S_ISLNK(st.st_mode):  # it was a file when resolved: swapped while we ran
            what = "it was replaced by a symlink while envsync ran"
        else:
            what = "not a regular file"
        raise EnvsyncError(f"could not write {shown}: {what}; {shown} is unchanged")
    final_mode = (
        stat.S_IMODE(st.st_mode)
        if st is not None
        else (NEW_FILE_MODE if mode is None else stat.S_IMODE(mode))
    )

    _remove_stale_temps(directory, name, directory.path)
    tmp: str | None = None
    try:
        fd, tmp = _create_temp(directory, name)
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
            _check_unchanged(directory, name, expect, command)
        directory.replace(tmp, name)
        tmp = None
    except EnvsyncError:
        if tmp is not None:
            with suppress(OSError):
                directory.unlink(tmp)
        raise
    except OSError as exc:
        if tmp is not None:
            with suppress(OSError):
                directory.unlink(tmp)
        raise EnvsyncError(
            f"could not write {shown}: {_reason(exc)}; {shown} is unchanged"
        ) from None
    try:
        directory.fsync()
    except OSError as exc:
        raise _ReplacedNotSynced(
            f"wrote {shown} but could not sync directory {_show(directory.path)}: {_reason(exc)}"
        ) from None


class _ReplacedNotSynced(EnvsyncError):
    """The env file was replaced (the rename happened) but its directory could not be synced:
    the new content is in place, so the backup of the old one must stay."""


def check_report_path(path: PathArg) -> None:
    """Refuse (one line), before anything is written, a report path that is a symlink or a
    file with other hard links, or whose folder leads out of its anchor through a symlink: a
    report truncates the file it writes, so a planted ``junit.xml -> ~/.bashrc`` must not
    make it truncate that file. A device or a pipe (``/dev/null``, ``/dev/stdout``) is fine."""
    shown = _show(path)
    _checked_home(path, "write report")
    if _is_stream(path):
        return
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise EnvsyncError(f"cannot write report {shown}: {_reason(exc)}") from None
    _check_report_stat(st, shown)


def _is_stream(path: PathArg) -> bool:
    """Whether ``path`` leads (through symlinks: ``/dev/stdout``) to a device or a pipe, which a
    report is written to as it is: there is no file content to truncate."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _check_report_stat(st: os.stat_result, shown: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise EnvsyncError(
            f"refusing to write report {shown}: it is a symlink (not followed); "
            f"remove it or name another file"
        )
    if stat.S_ISDIR(st.st_mode):
        raise EnvsyncError(f"cannot write report {shown}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise EnvsyncError(f"cannot write report {shown}: not a regular file")
    if st.st_nlink > 1:
        raise EnvsyncError(
            f"refusing to write report {shown}: it has other hard links, whose content "
            f"would change too; remove it or name another file"
        )


def write_report(path: PathArg, text: str) -> None:
    """Write a report file (created as ``open()`` would, or truncated), under the rule of
    :func:`check_report_path`, opened without following a symlink."""
    shown = _show(path)
    folder = _checked_home(path, "write report")
    name = os.path.basename(path)
    if _is_stream(path):  # /dev/null, /dev/stdout, a pipe: opened as it is, never truncated
        try:
            fd = os.open(path, os.O_WRONLY | _O_BINARY)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a file since: not ours
                    raise EnvsyncError(f"refusing to write report {shown}: it changed meanwhile")
                _write_all(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise EnvsyncError(f"cannot write report {shown}: {_reason(exc)}") from None
        return
    try:
        with _Dir(folder) as directory:
            fd = directory.open(name, os.O_WRONLY | os.O_CREAT | _O_BINARY | _O_NONBLOCK, 0o666)
        try:
            _check_report_stat(os.fstat(fd), shown)
            os.ftruncate(fd, 0)
            _write_all(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise EnvsyncError(f"cannot write report {shown}: {_reason(exc)}") from None


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
        fd = _walk(str(directory)) if _AT else os.open(directory, os.O_RDONLY | _O_DIRECTORY)
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
    except _ReplacedNotSynced:
        raise  # the env file is the new one: its backup is the only copy of the old
    except BaseException:
        discard_backup(backup)
        raise
    return backup


def read_backup(backup: Path) -> str:
    """The text of the backup ``backup`` (as :func:`read_text`), opened without following a
    symlink: a planted ``env-backup/.env.backup_... -> /elsewhere`` is refused, never read."""
    folder = _real(os.path.dirname(os.path.abspath(backup)))
    return _read_in(folder, os.path.basename(backup), "backup", _show(backup))


def _env_bytes(env_path: Path) -> bytes:
    """The env file's bytes as they are (restore may replace a broken one), opened under the
    rule of the write."""
    folder, name = _target(env_path, "write")
    try:
        with _Dir(folder) as home:
            fd = home.open(name, os.O_RDONLY | _O_BINARY | _O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise EnvsyncError(f"cannot read {_show(env_path)}: not a regular file")
            return _read_all(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {_show(env_path)}: {_reason(exc)}") from None


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
            same_dir = _real(backup.parent) == _real(backup_dir)
            used = backup.name if same_dir else str(backup)
            return replace_with_backup(
                env_path, text, backup_dir, MADE_BY_RESTORE, used, expect=current
            )
        backup_mode = file_mode(backup)
        atomic_write(env_path, text, mode=NEW_FILE_MODE if backup_mode is None else backup_mode)
        return None
