"""Where a file operation may lead: the confinement every other module of ``files`` builds on.

Guards against a path that leads out of its folder, even by a race. A path is resolved once
(symlinks followed, then checked against its *anchor*, :func:`anchor_of`: the project folder,
:func:`confine_to`, for a path inside it, else the folder the path names), and the resolved
directory is then opened one component at a time from ``/`` without following any symlink
(:func:`walk_dir`, :class:`Dir`); every file operation names one entry of that open directory
(``openat``, ``renameat``, ``linkat``, ``mkdirat`` with ``O_NOFOLLOW``). A component or file
swapped for a symlink after the check makes the operation fail (``ELOOP``/``ENOTDIR``), never
lead elsewhere; ``rename`` over a planted symlink replaces the link, not its target.

Also here, because every module needs them: :func:`show` and :func:`reason` (a path and an
``OSError`` as one printable line), whole-descriptor reads and writes, and directory fsync.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.lean import TYPE_CHECKING

O_BINARY: int = getattr(os, "O_BINARY", 0)
O_NONBLOCK: int = getattr(os, "O_NONBLOCK", 0)
O_DIRECTORY: int = getattr(os, "O_DIRECTORY", 0)
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
# O_PATH (Linux) opens a directory for lookups only: walking needs no read permission on it
O_PATH: int = getattr(os, "O_PATH", 0)
# every operation relative to an open directory (POSIX); elsewhere (Windows) by resolved path
DIR_FD_CALLS: bool = (
    sys.platform != "win32"
    and bool(O_NOFOLLOW and O_DIRECTORY)
    and {os.open, os.stat, os.rename, os.link, os.mkdir, os.unlink} <= os.supports_dir_fd
)
# fsync of a directory is not supported everywhere; these mean "cannot", not "failed".
_FSYNC_DIR_UNSUPPORTED = {errno.EINVAL, errno.EBADF, errno.EROFS, getattr(errno, "ENOTSUP", -1)}
if TYPE_CHECKING:
    from typing import Union

    PathArg = Union[Path, str]


def show(path: PathArg) -> str:
    """The path as one printable line (control characters and undecodable bytes escaped)."""
    text = os.fspath(path)
    return text if text.isprintable() else repr(text)[1:-1]


def reason(exc: OSError) -> str:
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


def resolve(path: PathArg) -> Path:
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
        f"cannot resolve {show(path)}: too many levels of symbolic links (or it keeps changing)"
    )


def real_path(path: PathArg) -> str:
    """:func:`resolve` as a string."""
    return str(resolve(path))


def inside(path: str, folder: str) -> bool:
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


def anchor_of(path: PathArg) -> str:
    """The folder ``path`` may not lead out of through a symlink: the project folder (the
    current directory, or where the configuration file was found) when the path, as written,
    lies in it (a planted ``deploy -> ../elsewhere`` must not lead out of the repository or
    deployment folder); else the folder the path names as its parent (a path outside the
    project folder was named on the command line as it is)."""
    root = project_folder()
    absolute = os.path.abspath(path)
    if inside(absolute, root):
        return root
    return os.path.dirname(absolute)


def through_symlink(path: PathArg, anchor: str) -> str | None:
    """The real path of ``path`` when a symlink below ``anchor`` leads elsewhere than the path
    reads, else None."""
    real = real_path(path)
    rest = os.path.relpath(os.path.abspath(path), anchor)
    plain = os.path.normpath(os.path.join(real_path(anchor), rest))
    return None if plain == real else real


def checked_home(path: PathArg, verb: str) -> str:
    """The real folder of the file ``path``, refused (one line) when a symlinked parent folder
    leads out of the path's anchor."""
    anchor = anchor_of(path)
    home = real_path(os.path.dirname(os.path.abspath(path)))
    real_anchor = real_path(anchor)
    if not inside(home, real_anchor):
        raise EnvsyncError(
            f"refusing to {verb} {show(path)}: its folder leads through a symlink to "
            f"{show(home)}, outside {show(real_anchor)}; run envsync in that folder itself"
        )
    return home


def checked_target(path: PathArg, verb: str) -> tuple[str, str]:
    """The real folder and name of the file ``path`` (a symlinked file resolved), checked: its
    folder must not lead out of the anchor (:func:`checked_home`), and a symlinked file must
    resolve inside that folder. Raises a one-line :class:`EnvsyncError` otherwise."""
    home = checked_home(path, verb)
    target = real_path(path)
    folder, name = os.path.split(target)
    if not inside(folder, home):
        # a planted symlink must not make fix or restore rewrite (or read) a file elsewhere
        raise EnvsyncError(
            f"refusing to {verb} {show(path)}: it is a symlink to {show(target)}, outside "
            f"{show(home)}; run envsync on that file itself"
        )
    return folder, name


def walk_dir(real: str) -> int:
    """A descriptor of the directory ``real`` (absolute, symlinks already resolved), opened one
    component at a time from ``/`` with ``O_NOFOLLOW``: a component replaced by a symlink since
    ``real`` was resolved fails with ``ENOTDIR`` instead of leading elsewhere. The descriptor is
    readable (fsync, listdir, flock) where the directory may be read, else lookup-only."""
    lookup = (O_PATH or os.O_RDONLY) | O_DIRECTORY | O_NOFOLLOW
    fd = os.open(os.sep, lookup)
    try:
        for part in real.split(os.sep):
            if part:
                nxt = os.open(part, lookup, dir_fd=fd)
                os.close(fd)
                fd = nxt
        if not O_PATH:
            return fd
        try:
            readable = os.open(".", os.O_RDONLY | O_DIRECTORY, dir_fd=fd)
        except PermissionError:
            return fd  # write-only directory: lookups only (no fsync, as before)
        os.close(fd)
        return readable
    except BaseException:
        os.close(fd)
        raise


class Dir:
    """An open directory; every operation names one entry in it and follows no symlink.

    POSIX: a descriptor from :func:`walk_dir` and ``*at`` system calls relative to it, so nothing
    can redirect an operation out of the directory after it was checked. Elsewhere: its path.
    """

    __slots__ = ("fd", "path")

    def __init__(self, real: str) -> None:
        self.path = real
        self.fd = walk_dir(real) if DIR_FD_CALLS else -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _at(self, name: str) -> str:
        return name if DIR_FD_CALLS else os.path.join(self.path, name)

    def _fd(self) -> int | None:
        return self.fd if DIR_FD_CALLS else None

    def open(self, name: str, flags: int, mode: int = 0o777) -> int:
        return os.open(self._at(name), flags | O_NOFOLLOW, mode, dir_fd=self._fd())

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
        return os.listdir(self.fd if DIR_FD_CALLS else self.path)

    def sub(self, name: str) -> Dir:
        """The subdirectory ``name``, opened without following a symlink."""
        return Dir(os.path.join(self.path, name))

    def fsync(self) -> None:
        """Make an entry change (create, rename) durable, where the platform can."""
        if DIR_FD_CALLS:
            fsync_fd(self.fd)
        else:
            fsync_dir(Path(self.path))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_all(fd: int, size: int = 0) -> bytes:
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


def fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _FSYNC_DIR_UNSUPPORTED:
            raise


def fsync_dir(directory: Path) -> None:
    """Make a directory entry change (create, rename) durable, where the platform can."""
    try:
        fd = os.open(directory, os.O_RDONLY | O_DIRECTORY)
    except OSError:
        return  # e.g. Windows, or a directory we may write but not read
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)
