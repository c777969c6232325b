"""Run the CLI as a real subprocess, the way an operator's shell does (test helper)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(
    cwd: Path, *args: str, user: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m envsync_hook ARGS`` in ``cwd``: no colour, no GitHub or git variables of the
    environment running the tests (they would switch the format or the repository)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "envsync_hook", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        user=user,
    )
