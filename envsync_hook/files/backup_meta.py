"""Backup metadata: which env file a backup holds, and what made it.

Guards against restoring the wrong file: beside each backup, ``<backup name>.meta`` (mode 0600,
written like the backup: temporary file, fsync, hard link) records what made it (``fix`` or
``restore``), for a backup made by restore the backup it put back, and the env file it holds
(its real path, and its directory's device and inode, so that a deployment folder that was
moved is still recognised). Deployments that share a backup directory, with env files of the
same name, tell their backups apart by it (:func:`backup_belongs`). A backup without metadata
was made before 0.3.
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import suppress
from pathlib import Path

from envsync_hook.files.atomic import NO_HARD_LINKS, write_temp
from envsync_hook.files.confine import (
    O_BINARY,
    O_NOFOLLOW,
    O_NONBLOCK,
    Dir,
    read_all,
    resolve,
)

#: what made a backup: ``fix`` (and ``--generate-secrets``), ``restore`` (the file it replaced)
MADE_BY_FIX = "fix"
MADE_BY_RESTORE = "restore"
#: a backup's sidecar: ``<backup name>.meta`` in the backup directory (never a backup's name)
META_SUFFIX = ".meta"
_META_HEADER = "envsync-backup 1"


def _quote(text: str) -> str:
    """``text`` as printable ASCII with no spaces (``%XX`` for other bytes): one meta line."""
    return "".join(
        chr(b) if 0x21 <= b < 0x7F and b != 0x25 else f"%{b:02X}" for b in os.fsencode(text)
    )


def _unquote(text: str) -> str:
    return os.fsdecode(re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), text.encode()))


def env_identity(env_path: Path) -> tuple[str, str]:
    """(realpath of the env file, ``dev:ino`` of its directory): what a backup's metadata
    records, so that env files of the same name sharing a backup directory are told apart."""
    target = resolve(env_path)
    try:
        st = os.stat(target.parent)
        ident = f"{st.st_dev}:{st.st_ino}"
    except OSError:
        ident = ""
    return str(target), ident


def meta_text(env_path: Path, made_by: str, restored_from: str | None) -> str:
    real, ident = env_identity(env_path)
    lines = [_META_HEADER, f"made-by {_quote(made_by)}", f"env {_quote(real)}", f"dir {ident}"]
    if restored_from:
        lines.append(f"restored-from {_quote(restored_from)}")
    return "\n".join(lines) + "\n"


def read_meta(path: Path) -> dict[str, str] | None:
    """A backup's metadata (``made-by``, ``env``, ``dir``, ...), or None when it has none (or
    one that is not a regular file, or unreadable: treated as a backup of an older version)."""
    meta = path.with_name(path.name + META_SUFFIX)
    try:
        fd = os.open(meta, os.O_RDONLY | O_BINARY | O_NONBLOCK | O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 1024:
            return None
        data = read_all(fd, st.st_size)
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


def write_meta(directory: Dir, backup: str, text: str, prefix: str) -> None:
    """Write ``<backup>.meta`` in ``directory`` like a backup: temp file (0600), fsync, hard
    link (or rename)."""
    tmp = write_temp(directory, prefix, text.encode("ascii"))
    try:
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
            if exc.errno not in NO_HARD_LINKS:
                raise
            directory.replace(tmp, dest)
    finally:
        with suppress(OSError):
            directory.unlink(tmp)


def backup_belongs(env_path: Path, backup: Path) -> bool:
    """Whether ``backup``'s metadata names ``env_path`` (by real path or directory identity);
    True for a backup without metadata (the operator named it)."""
    meta = read_meta(backup)
    if meta is None:
        return True
    real, ident = env_identity(env_path)
    return meta.get("env") == real or bool(ident and meta.get("dir") == ident)


def backup_owner(backup: Path) -> str | None:
    """The real path of the env file ``backup``'s metadata names (None: no metadata)."""
    meta = read_meta(backup)
    return None if meta is None else meta.get("env")
