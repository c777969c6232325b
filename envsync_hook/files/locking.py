"""The per-env-file lock: concurrent runs on one env file take turns, and a crash leaves no lock.

Guards against two runs of fix or restore on the same env file interleaving (one would lose the
other's work): :func:`env_lock` holds ``flock`` on the env file's resolved directory, which
leaves no file behind, and the kernel drops the lock of a killed process. Nesting in one
process reuses the held lock; :func:`locked_by_us` tells the cleaner of stale temporary files
(:func:`~envsync_hook.files.atomic.remove_stale_temps`) that no other run is writing them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.confine import DIR_FD_CALLS, O_DIRECTORY, reason, resolve, show, walk_dir

# Directories locked by this process: (st_dev, st_ino) -> [fd, depth]. flock() locks belong to an
# open file description, so a nested env_lock() on the same directory through a second descriptor
# would deadlock against ourselves; nesting reuses the held lock instead.
_held_locks: dict[tuple[int, int], list[int]] = {}


def locked_by_us(directory: str) -> bool:
    try:
        st = os.stat(directory)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in _held_locks


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

    directory = resolve(env_path).parent
    try:
        if DIR_FD_CALLS:
            fd = walk_dir(str(directory))
        else:
            fd = os.open(directory, os.O_RDONLY | O_DIRECTORY)
    except OSError as exc:
        raise EnvsyncError(
            f"cannot lock {show(env_path)}: directory {show(directory)}: {reason(exc)}"
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
            f"cannot lock {show(env_path)}: directory {show(directory)}: {reason(exc)}"
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
