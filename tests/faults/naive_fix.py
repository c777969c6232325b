"""A deliberately NON-atomic env writer: the test double that the kill harness must catch.

    python naive_fix.py ENV NEW_CONTENT_FILE

Like envsync it first copies ENV to ``env-backup/<name>.backup_YYYYMMDD_HHMMSS`` beside it, but
then it truncates ENV in place and writes the new content in 8-byte pieces: what ``cat new >
.env`` or a careless ``open(path, "w")`` does. A kill between two of those writes leaves a file
that is neither the old nor the new one, which tests/test_crash.py must detect.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    env, source = Path(argv[0]), Path(argv[1])
    new = source.read_bytes()
    old = env.read_bytes()
    if old == new:
        return 0
    backups = env.parent / "env-backup"
    backups.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    with open(backups / f"{env.name}.backup_{stamp}", "xb") as f:
        f.write(old)
    fd = os.open(env, os.O_WRONLY | os.O_TRUNC)
    try:
        for i in range(0, len(new), 8):
            os.write(fd, new[i : i + 8])
    finally:
        os.close(fd)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
