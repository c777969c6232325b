"""Reading a file whole, as text, without being led out of the folder or into a trap.

Guards every read of a template, env file, base, backup or configuration: UTF-8 exactly (no
newline translation, a BOM kept), refused with one line naming the file when it is missing, not
a regular file (a directory, a FIFO, a device: opened non-blocking, so ``/dev/zero`` or a pipe
never hangs), unreadable, invalid UTF-8 or holding a NUL byte. A file not named on the command
line must lie in the project folder (``confine``); an env file or backup is opened without
following a symlink (``read_env``, ``read_backup``). Large files are read into an anonymous
mapping (:func:`_read_large`) so that the bytes do not stay on the heap. Pipes
(``--env -``) are read by :func:`read_pipe`, and never written anywhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.confine import (
    O_BINARY,
    O_NONBLOCK,
    Dir,
    checked_target,
    inside,
    project_folder,
    read_all,
    real_path,
    reason,
    show,
)
from envsync_hook.lean import TYPE_CHECKING

if TYPE_CHECKING:
    import mmap

    from envsync_hook.files.confine import PathArg


def read_text(path: Path, what: str = "file", *, confine: bool = False) -> str:
    """Read ``path`` as UTF-8 exactly: no newline translation, a BOM is kept as ``\\ufeff``.

    Refuses, with a one-line :class:`EnvsyncError` naming the file: a missing file, a directory or
    other non-regular file, a file we may not read, invalid UTF-8 and NUL bytes (with the byte
    offset and line of the first bad byte). ``confine``: the file was not named on the command
    line (a default name, a configuration file, a glob), so it must lie in the project folder
    (:func:`project_folder`: the repository or deployment folder), symlinks resolved, and is
    opened without following one after that check.
    """
    shown = show(path)
    if confine:
        real = real_path(path)
        home = real_path(project_folder())
        if not inside(real, home):
            raise EnvsyncError(
                f"refusing to read {what} {shown}: it leads to {show(real)}, outside the "
                f"project folder {show(home)}; name it on the command line to use it"
            )
        folder, name = os.path.split(real)
        return read_in(folder, name, what, shown)
    try:
        fd = os.open(path, os.O_RDONLY | O_BINARY | O_NONBLOCK)
    except PermissionError as exc:
        if os.path.isdir(path):  # Windows cannot open a directory
            raise EnvsyncError(f"cannot read {what} {shown}: is a directory") from None
        raise EnvsyncError(f"cannot read {what} {shown}: {reason(exc)}") from None
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {reason(exc)}") from None
    return _read_fd(fd, what, shown)


def read_env(path: Path) -> str:
    """Read the env file ``path`` that fix or restore is about to replace: under the same rule as
    the write (:func:`~envsync_hook.files.confine.checked_target`: a symlink only to a file in
    its own folder, no symlinked parent leading out), opened without following a symlink, so
    that a ``.env`` swapped for a symlink while envsync runs is refused, never read (its
    content would end up in the backup)."""
    folder, name = checked_target(path, "write")
    return read_in(folder, name, "env file", show(path))


def read_backup(backup: Path, shown: PathArg | None = None) -> str:
    """The text of the backup ``backup`` (as :func:`read_text`), opened without following a
    symlink: a planted ``env-backup/.env.backup_... -> /elsewhere`` is refused, never read.
    ``shown``: the path an error names (default ``backup``)."""
    folder = real_path(os.path.dirname(os.path.abspath(backup)))
    name = show(backup if shown is None else shown)
    return read_in(folder, os.path.basename(backup), "backup", name)


def read_in(folder: str, name: str, what: str, shown: str) -> str:
    """Read the file ``name`` of the real directory ``folder``, following no symlink."""
    try:
        with Dir(folder) as directory:
            fd = directory.open(name, os.O_RDONLY | O_BINARY | O_NONBLOCK)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {reason(exc)}") from None
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
        data = read_all(fd, st.st_size)
    except OSError as exc:
        raise EnvsyncError(f"cannot read {what} {shown}: {reason(exc)}") from None
    finally:
        os.close(fd)
    return decode(data, what, shown)


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
    return decode(data, what, shown)


def decode(data: bytes, what: str, shown: str) -> str:
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
        fd = source if isinstance(source, int) else os.open(source, os.O_RDONLY | O_BINARY)
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
        raise EnvsyncError(f"cannot read {what} {shown}: {reason(exc)}") from None
    return decode(b"".join(chunks), what, shown)


def file_mode(path: Path) -> int | None:
    """Permission bits (``st_mode & 0o777``) of the file ``path`` resolves to; None if missing."""
    try:
        return os.stat(path).st_mode & 0o777
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise EnvsyncError(f"cannot inspect {show(path)}: {reason(exc)}") from None
