"""Run ``envsync`` with another program's edit made while it runs.

    python edit_during_run.py TEXT -- ENVSYNC ARGS...

Sets ``files.atomic.before_replace`` (a hook for tests, None in production) to append ``TEXT`` to
the env file after envsync has read it, merged it and written its backup, just before it checks the
file and replaces it: what an editor saving or a deploy script appending at that moment does.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    text, args = argv[0], argv[sep + 1 :]

    from envsync_hook import cli
    from envsync_hook.files import atomic

    def edit(path: Path) -> None:
        with open(path, "a", encoding="utf-8", newline="") as fh:
            fh.write(text)

    atomic.before_replace = edit
    return cli.main(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
