"""Which env file belongs to which template, and which templates form a set."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

from envsync_hook.errors import EnvsyncError

#: the words that mark a template
MARKERS = ("example", "sample", "template", "dist")
_MARKER = "(?:" + "|".join(MARKERS) + ")"

#: template file names, the env file's name in group ``env`` (absent: ``.env``). The marker is
#: the last part of the name: ``.env.example.orig`` or ``.env.example.bak`` (what merge tools
#: and editors leave behind) are copies of a template, not templates.
TEMPLATE_NAME = re.compile(
    rf"""(?x)
    (?P<env>
        [^/]*\.env                       # .env.example, api.env.example
      | \.env\.(?!{_MARKER}\.)[^./]+       # .env.production.example (a stage)
    )\.{_MARKER}
  | \.env-{_MARKER}                     # .env-example
  | env\.{_MARKER}                      # env.example, env.sample
  | (?:example|sample|template)\.env   # example.env
    """
)

#: the same names as a path pattern (pre-commit's ``files:``); a test keeps the two in step
FILES_PATTERN = (
    rf"(^|/)(([^/]*\.env|\.env\.(?!{_MARKER}\.)[^./]+)\.{_MARKER}|\.env-{_MARKER}"
    rf"|env\.{_MARKER}|(example|sample|template)\.env)$"
)


def env_for(template: Path) -> Path:
    """The env file a template describes, by naming convention.

    ``X.env.example``/``.env.example`` -> ``X.env``/``.env``, ``.env.<stage>.example`` ->
    ``.env.<stage>`` (also ``.sample``, ``.template``, ``.dist``); ``.env-example``,
    ``env.example``, ``env.sample``, ``example.env`` -> ``.env``.
    """
    m = TEMPLATE_NAME.fullmatch(template.name)
    if m:
        return template.with_name(m.group("env") or ".env")
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
        matches = sorted(_glob_no_follow(full))
        for m in matches:
            p = Path(m)
            key = os.path.normpath(m)
            if key in seen or not p.is_file():
                continue
            seen.add(key)
            out.append(p)
    return out


def _glob_no_follow(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, but ``**`` never enters a symlinked folder:
    glob follows them, and two links to ``..`` in a repository made one check run for ever."""
    parts = pattern.split("/")
    if "**" not in parts:
        return glob.glob(pattern)
    i = parts.index("**")
    head, rest = "/".join(parts[:i]), "/".join(parts[i + 1 :])
    bases = glob.glob(head) if glob.has_magic(head) else [head or "."]
    out: list[str] = []
    for base in bases:
        for folder, subfolders, _ in os.walk(base):  # (os.walk does not follow links)
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            prefix = glob.escape(folder) if head else glob.escape(folder).removeprefix("./")
            out += _glob_no_follow(f"{prefix}/{rest}" if prefix else rest)
    return out


def same_file(a: Path, b: Path) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))
