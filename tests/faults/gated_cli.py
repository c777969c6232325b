"""Run ``envsync`` (``envsync_hook.cli.main``) in step with other processes of a test.

    python gated_cli.py DIR [--no-lock] [--slow-backup SECONDS] -- ENVSYNC ARGS...

Imports everything first, creates ``DIR/ready-<pid>``, then waits until ``DIR/go`` exists and
calls ``main(ARGS)``: the test starts several of these and creates ``go`` once all are ready, so
that they reach the lock within a millisecond of each other instead of being spread out by
interpreter start-up.

``--slow-backup`` sleeps before each backup (widens the window in which an unlocked run could
interleave with another); ``--no-lock`` replaces ``files.locking.env_lock`` by a no-op: the control
that shows the concurrency test can fail.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    opts, args = argv[:sep], argv[sep + 1 :]
    gate = Path(opts[0])

    from envsync_hook import cli, diffing, merge, runner  # noqa: F401  (import it all now)
    from envsync_hook.files import backups, locking
    from envsync_hook.reporters import text  # noqa: F401

    if "--no-lock" in opts:

        @contextlib.contextmanager
        def no_lock(path: Path) -> Iterator[None]:
            yield

        locking.env_lock = no_lock  # type: ignore[assignment]
    if "--slow-backup" in opts:
        delay = float(opts[opts.index("--slow-backup") + 1])
        real = backups.make_backup

        def slow(*a: Any, **k: Any) -> Path:
            time.sleep(delay)
            return real(*a, **k)

        backups.make_backup = slow  # type: ignore[assignment]

    (gate / f"ready-{os.getpid()}").touch()
    while not (gate / "go").exists():
        time.sleep(0.001)
    return cli.main(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
