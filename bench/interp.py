"""The interpreter the benchmark measures, and what it imports.

By default a small virtual environment in ``bench/out/venv`` (no pip, no ``.pth`` hooks of its
own) with the repository on its path and an ``envsync`` console script like the one pip writes:
the start-up of an installed hook, without the editable-install finder or the extra ``.pth`` files
a development environment carries (those add milliseconds to every start, ``python -c pass``
included). The development environment's site-packages follows the repository on the path, so
pydantic and junit-xml can be imported when a path needs them, as in a real installation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent

_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from envsync_hook.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


class Interpreter(NamedTuple):
    python: str
    envsync: list[str]  # argv prefix that runs the CLI
    description: str


def _purelib(python: str) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def bench_venv(out: Path, repo: Path = REPO) -> Interpreter:
    """Create (or reuse) ``out/venv`` and return how to run the CLI in it.

    ``repo``: the checkout whose ``envsync_hook`` is measured (another one, such as a
    ``git worktree`` of an older commit, gets a venv of its own).
    """
    repo = repo.resolve()
    venv = out / ("venv" if repo == REPO else f"venv-{repo.name}")
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = _purelib(str(python))
    lines = [str(repo)]
    dev_site = sysconfig.get_paths()["purelib"]
    if os.path.realpath(dev_site) != os.path.realpath(site):
        lines.append(dev_site)
    Path(site, "envsync_bench.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    script = bindir / "envsync"
    script.write_text(_SCRIPT.format(python=python), encoding="utf-8")
    script.chmod(0o755)
    return Interpreter(
        str(python), [str(script)], f"bench venv {venv} ({repo} on sys.path, `envsync` script)"
    )


def current(python: str | None = None) -> Interpreter:
    """The given interpreter (or this one), running the CLI as ``python -m envsync_hook``."""
    exe = python or sys.executable
    return Interpreter(exe, [exe, "-m", "envsync_hook"], f"{exe} (-m envsync_hook)")


def version_of(python: str) -> str:
    code = "import sys, platform; print(platform.python_implementation(), sys.version.split()[0])"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------------------------------------
# -X importtime


class Imported(NamedTuple):
    name: str
    self_us: int
    cumulative_us: int
    depth: int


def import_times(stderr: str) -> list[Imported]:
    """Parse ``-X importtime`` output (``import time: self | cumulative | name``)."""
    out: list[Imported] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        raw = parts[2].rstrip()
        name = raw.lstrip()
        depth = (len(raw) - len(name) - 1) // 2
        out.append(Imported(name, int(parts[0]), int(parts[1]), depth))
    return out


def run_importtime(
    argv: list[str], cwd: str, env: dict[str, str], repeat: int = 5, warmup: bool = True
) -> list[Imported]:
    """The ``-X importtime`` listing of the run whose total is the median of ``repeat`` runs.

    With ``warmup`` a first run (dropped) fills the bytecode and file caches.
    """
    runs = []
    for _ in range(repeat + warmup):
        proc = subprocess.run(
            [argv[0], "-X", "importtime", *argv[1:]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        runs.append(import_times(proc.stderr))
    runs = runs[1:] if warmup else runs
    runs.sort(key=lambda r: sum(i.self_us for i in r))
    return runs[len(runs) // 2]
