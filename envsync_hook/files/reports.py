"""Report files (``--output``, ``--junit``, ``--json``, ``--sarif``): written without being
led to truncate something else.

Guards the one write that is not an env file: a report truncates the file it writes, so a
report path that is a symlink, a file with other hard links, or in a folder that leads out of
its anchor through a symlink is refused before anything is written (a planted
``junit.xml -> ~/.bashrc`` must not make envsync truncate that file). A device or a pipe
(``/dev/null``, ``/dev/stdout``) is written as it is.
"""

from __future__ import annotations

import os
import stat

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.confine import (
    O_BINARY,
    O_NONBLOCK,
    Dir,
    checked_home,
    reason,
    show,
    write_all,
)
from envsync_hook.lean import TYPE_CHECKING

if TYPE_CHECKING:
    from envsync_hook.files.confine import PathArg


def check_report_path(path: PathArg) -> None:
    """Refuse (one line), before anything is written, a report path that is a symlink or a
    file with other hard links, or whose folder leads out of its anchor through a symlink: a
    report truncates the file it writes, so a planted ``junit.xml -> ~/.bashrc`` must not
    make it truncate that file. A device or a pipe (``/dev/null``, ``/dev/stdout``) is fine."""
    shown = show(path)
    checked_home(path, "write report")
    if _is_stream(path):
        return
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        raise EnvsyncError(f"cannot write report {shown}: {reason(exc)}") from None
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
    shown = show(path)
    folder = checked_home(path, "write report")
    name = os.path.basename(path)
    if _is_stream(path):  # /dev/null, /dev/stdout, a pipe: opened as it is, never truncated
        try:
            fd = os.open(path, os.O_WRONLY | O_BINARY)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a file since: not ours
                    raise EnvsyncError(f"refusing to write report {shown}: it changed meanwhile")
                write_all(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise EnvsyncError(f"cannot write report {shown}: {reason(exc)}") from None
        return
    try:
        with Dir(folder) as directory:
            fd = directory.open(name, os.O_WRONLY | os.O_CREAT | O_BINARY | O_NONBLOCK, 0o666)
        try:
            _check_report_stat(os.fstat(fd), shown)
            os.ftruncate(fd, 0)
            write_all(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise EnvsyncError(f"cannot write report {shown}: {reason(exc)}") from None
