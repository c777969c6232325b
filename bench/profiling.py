"""cProfile of one whole CLI run (``python -m cProfile -m envsync_hook ...``) on a fresh copy."""

from __future__ import annotations

import io
import os
import pstats
import shutil
import subprocess
import tempfile
from pathlib import Path

from cases import Case


def profile(python: str, case: Case, command: str, env: dict[str, str], out: Path) -> str:
    """Profile ``envsync COMMAND`` on ``case``; write the full listing, return the top of it."""
    out.mkdir(parents=True, exist_ok=True)
    prof = out / f"profile-{command}-{case.name}.prof"
    work = tempfile.mkdtemp(prefix="envsync-profile-")
    try:
        for name in (".env.example", ".env"):
            shutil.copyfile(case.directory / name, os.path.join(work, name))
        subprocess.run(
            [python, "-m", "cProfile", "-o", str(prof), "-m", "envsync_hook", command],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    full = io.StringIO()
    stats = pstats.Stats(str(prof), stream=full)
    stats.strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(40)
    (out / f"profile-{command}-{case.name}.txt").write_text(full.getvalue(), encoding="utf-8")
    top = io.StringIO()
    stats.stream = top  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(12)
    lines = top.getvalue().splitlines()
    # keep the header line with the total and the table, drop pstats' preamble
    keep = [
        ln
        for ln in lines
        if ln.strip()
        and not ln.strip().startswith(("Ordered by", "List reduced"))
        and not ln.endswith(".prof")
    ]
    return "\n".join(keep)
