"""Atomic replacement: a file is wholly old or wholly new, whatever happens while it is written.

Guards the replace of an env file (and of the sync record's copies): the new content goes to a
temporary file in the same directory (``O_EXCL``, ``0600``), gets the old file's mode and, where
permitted, its owner and group, is fsynced, and is renamed over the old file with
``os.replace``; then the directory is fsynced. A crash at any instant leaves the old file or the
new one, never a mixture. Right before the rename the old file is read again and compared by
content with what the caller read (:func:`_check_unchanged`): a file another program changed
meanwhile is refused, never overwritten. Temporary files a killed run left behind are removed
by the next run that holds the lock (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.files.confine import (
    O_BINARY,
    O_NONBLOCK,
    Dir,
    checked_target,
    reason,
    show,
    write_all,
)
from envsync_hook.files.locking import locked_by_us
from envsync_hook.lean import TYPE_CHECKING

NEW_FILE_MODE = 0o600
_TEMP_SUFFIX = ".envsync-tmp"
# link() errors that mean "this filesystem has no hard links", not "failed"
NO_HARD_LINKS = {
    errno.EPERM,
    errno.EMLINK,
    errno.ENOSYS,
    getattr(errno, "ENOTSUP", -1),
    getattr(errno, "EOPNOTSUPP", -1),
}
#: Tests only: called with the env file's path after fix or restore has read it and just before
#: the check that it is still what was read (a test edits the file here to show the refusal).
before_replace: Callable[[Path], None] | None = None
#: what fix or restore read: the text (decoded, as fix holds it) or the bytes
if TYPE_CHECKING:
    from typing import Callable, Union

    from envsync_hook.files.confine import PathArg

    Expected = Union[str, bytes]
CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------
# temporary files


def _temp_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(f".{prefix}.") + r"[0-9a-f]{12}" + re.escape(_TEMP_SUFFIX))


def create_temp(directory: Dir, prefix: str) -> tuple[int, str]:
    """A new empty file ``.<prefix>.<12 hex>.envsync-tmp`` in ``directory``, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY
    while True:
        candidate = f".{prefix}.{os.urandom(6).hex()}{_TEMP_SUFFIX}"
        try:
            return directory.open(candidate, flags, NEW_FILE_MODE), candidate
        except FileExistsError:
            continue


def write_temp(
    directory: Dir,
    prefix: str,
    data: bytes | str,
    owner: os.stat_result | None = None,
    mode: int | None = None,
) -> str:
    """A new temporary file (:func:`create_temp`) holding ``data`` (a text: its UTF-8 form,
    which the caller knows there is, see :func:`not_encodable`), fsynced; its name.

    ``owner``: give it that file's owner and group where permitted (:func:`match_owner`);
    ``mode``: its permission bits (else 0600). Removed again when a step fails.
    """
    fd, tmp = create_temp(directory, prefix)
    try:
        try:
            if owner is not None:
                match_owner(fd, owner)
            if mode is not None:
                os.fchmod(fd, mode)  # after chown, which may clear set-id bits
            if isinstance(data, str):
                write_text(fd, data)
            else:
                write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with suppress(OSError):
            directory.unlink(tmp)
        raise
    return tmp


def encoded_parts(text: str, errors: str = "strict") -> Iterator[bytes]:
    """The UTF-8 form of ``text`` a megabyte of text at a time: its whole encoding is never
    held besides the text (at 100,000 keys, 10 MB of peak). A part ends between two
    characters, so the parts are the whole encoding (a lone surrogate is one character)."""
    for i in range(0, len(text), CHUNK):
        yield text[i : i + CHUNK].encode("utf-8", errors)


def write_text(fd: int, text: str) -> None:
    """Write the UTF-8 form of ``text`` (encodable: see :func:`not_encodable`) part by part
    (:func:`encoded_parts`)."""
    for part in encoded_parts(text):
        write_all(fd, part)


#: what UTF-8 cannot encode: lone surrogates
_SURROGATE = re.compile("[\ud800-\udfff]")


def not_encodable(text: str) -> int | None:
    """The offset of the first character of ``text`` that UTF-8 cannot encode (a lone
    surrogate), as ``UnicodeEncodeError.start`` says it; None: all can be. A search, not an
    encoding: nothing is copied."""
    if text.isascii():
        return None
    bad = _SURROGATE.search(text)
    return None if bad is None else bad.start()


def match_owner(fd: int, st: os.stat_result) -> None:
    """Give a new file the owner and group of ``st`` where permitted (ignore EPERM): run by
    another user than the owner (not root), the file becomes that user's."""
    if not hasattr(os, "fchown"):
        return
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        with suppress(PermissionError):  # not root: at least the group, if we are in it
            os.fchown(fd, -1, st.st_gid)


def remove_stale_temps(directory: Dir, prefix: str, lock_dir: str) -> None:
    """Remove the temporary files ``.<prefix>.<hex>.envsync-tmp`` a killed run left behind.

    Only while this process holds :func:`~envsync_hook.files.locking.env_lock` on ``lock_dir``:
    every writer of such a file holds that lock, so none of them is still in use. Best effort:
    errors are ignored.
    """
    if not locked_by_us(lock_dir):
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
# unchanged since it was read


def changed_error(path: PathArg, command: str) -> EnvsyncError:
    """The refusal when the file changed between the read and the replace."""
    shown = show(path)
    return EnvsyncError(
        f"refusing to replace {shown}: it changed while envsync {command} ran (another program "
        f"wrote to it); nothing was replaced; run envsync {command} again"
    )


def same_content(chunks: Iterator[bytes], expect: Expected) -> bool:
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


def fd_chunks(fd: int) -> Iterator[bytes]:
    """What ``fd`` holds from where it stands, a megabyte at a time."""
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return
        yield chunk


def _check_unchanged(directory: Dir, name: str, expect: Expected, command: str) -> None:
    """Raise unless the file ``name`` of ``directory`` holds exactly ``expect``: compared by
    content, not by mtime (an edit within the same second, or one that restores the mtime, is
    still seen). Opened without following a symlink: one swapped in is a change."""
    path = Path(directory.path, name)
    if before_replace is not None:
        before_replace(path)
    try:
        fd = directory.open(name, os.O_RDONLY | O_BINARY | O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        raise changed_error(path, command) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise changed_error(path, command) from None
        raise
    try:
        size = os.fstat(fd).st_size
        same = (isinstance(expect, str) or size == len(expect)) and same_content(
            fd_chunks(fd), expect
        )
    finally:
        os.close(fd)
    if not same:
        raise changed_error(path, command)


# --------------------------------------------------------------------------------------------
# the replace


def atomic_write(
    path: Path,
    text: str,
    mode: int | None = None,
    expect: Expected | None = None,
    command: str = "fix",
) -> None:
    """Replace the file ``path`` resolves to with ``text`` (UTF-8, no newline translation).

    A symlink stays a symlink: its resolved target is replaced, provided it lies in the link's
    folder or below (:func:`~envsync_hook.files.confine.checked_target`; else a one-line
    refusal). An existing file keeps its mode and (where permitted) its owner and group; a new
    file gets ``mode`` (default ``0o600``). The temp file is created next to the target
    (``O_EXCL``, ``0600``), fsynced, renamed over the target with ``os.replace`` and the
    directory fsynced, all relative to the target's directory opened without following
    symlinks: whatever replaced the target meanwhile (a planted symlink), the rename replaces
    that entry and never writes anywhere else. On failure the temp file is removed and
    ``EnvsyncError`` says that ``path`` is unchanged. ``expect``: what the caller read (the
    bytes, or the text decoded from them); right before the rename the file is read again and,
    if another program changed it, the temp file is removed and nothing is replaced (see
    :func:`_check_unchanged`).
    """
    shown = show(path)
    bad = not_encodable(text)  # (written a part at a time: see write_text)
    if bad is not None:
        raise EnvsyncError(
            f"could not write {shown}: text is not encodable as UTF-8 "
            f"(character {bad}); {shown} is unchanged"
        )
    folder, name = checked_target(path, "write")
    try:
        directory = Dir(folder)
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {reason(exc)}; {shown} is unchanged"
        ) from None
    with directory:
        _replace_in(directory, name, text, mode, shown, expect, command)


def _replace_in(
    directory: Dir,
    name: str,
    data: str,
    mode: int | None,
    shown: str,
    expect: Expected | None,
    command: str,
) -> None:
    """:func:`atomic_write`'s steps in the open ``directory``: look at the file there, write
    the new content beside it, check the file still holds what was read, rename, sync."""
    st = _existing_file(directory, name, shown)
    if st is not None:
        final_mode = stat.S_IMODE(st.st_mode)
    else:
        final_mode = NEW_FILE_MODE if mode is None else stat.S_IMODE(mode)
    remove_stale_temps(directory, name, directory.path)
    try:
        tmp = write_temp(directory, name, data, st, final_mode)
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {reason(exc)}; {shown} is unchanged"
        ) from None
    try:
        if expect is not None:
            # as late as possible: the window left is the time between this read and the rename
            _check_unchanged(directory, name, expect, command)
        directory.replace(tmp, name)
    except (EnvsyncError, OSError) as exc:
        with suppress(OSError):
            directory.unlink(tmp)
        if isinstance(exc, EnvsyncError):
            raise
        raise EnvsyncError(
            f"could not write {shown}: {reason(exc)}; {shown} is unchanged"
        ) from None
    _sync_replaced(directory, shown)


def _existing_file(directory: Dir, name: str, shown: str) -> os.stat_result | None:
    """The file ``name`` of ``directory`` as it is now (None: missing), refused (one line)
    unless a regular file."""
    try:
        st = directory.lstat(name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EnvsyncError(
            f"could not write {shown}: {reason(exc)}; {shown} is unchanged"
        ) from None
    if stat.S_ISREG(st.st_mode):
        return st
    if stat.S_ISDIR(st.st_mode):
        what = "is a directory"
    elif stat.S_ISLNK(st.st_mode):  # it was a file when resolved: swapped while we ran
        what = "it was replaced by a symlink while envsync ran"
    else:
        what = "not a regular file"
    raise EnvsyncError(f"could not write {shown}: {what}; {shown} is unchanged")


def _sync_replaced(directory: Dir, shown: str) -> None:
    """Make the rename durable; a failure here is :class:`ReplacedNotSynced` (the new content
    is in place already)."""
    try:
        directory.fsync()
    except OSError as exc:
        raise ReplacedNotSynced(
            f"wrote {shown} but could not sync directory {show(directory.path)}: {reason(exc)}"
        ) from None


class ReplacedNotSynced(EnvsyncError):
    """The env file was replaced (the rename happened) but its directory could not be synced:
    the new content is in place, so the backup of the old one must stay."""
