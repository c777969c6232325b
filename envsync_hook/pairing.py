"""Which env file belongs to which template, and which templates form a set."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from envsync_hook.errors import EnvsyncError

_SUFFIXES = (".example", ".sample", ".template", ".dist")


def env_for(template: Path) -> Path:
    """The env file a template describes, by naming convention.

    ``X.env.example``/``.env.example`` -> ``X.env``/``.env`` (also ``.sample``, ``.template``,
    ``.dist``); ``example.env`` -> ``.env``.
    """
    name = template.name
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            if stem.endswith(".env") or stem == ".env":
                return template.with_name(stem)
    if name in ("example.env", "sample.env", "template.env", "env.example"):
        return template.with_name(".env")
    raise EnvsyncError(
        f"cannot tell which env file belongs to template {template}: name it like "
        f".env.example or X.env.example, or pass --env"
    )


def expand_also(patterns: list[str], root: Path | None = None) -> list[Path]:
    """Templates named by ``--also`` globs (``**`` recurses), sorted, without duplicates.

    Relative patterns are relative to ``root`` (default: the current directory).
    """
    out: list[Path] = []
    seen: set[str] = set()
    for pat in patterns:
        full = pat if root is None or os.path.isabs(pat) else str(root / pat)
        matches = sorted(glob.glob(full, recursive=True))
        for m in matches:
            p = Path(m)
            key = os.path.normpath(m)
            if key in seen or not p.is_file():
                continue
            seen.add(key)
            out.append(p)
    return out


def same_file(a: Path, b: Path) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))
