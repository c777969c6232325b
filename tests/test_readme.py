"""The README's two set-up commands are true: the main job on examples/ does what it says."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_command(prefix: str) -> list[str]:
    for block in re.findall(r"^```sh\n(.*?)^```$", README, re.S | re.M):
        for line in block.splitlines():
            if line.startswith(prefix):
                return shlex.split(line)
    raise AssertionError(f"no '{prefix}...' command in README.md")


def test_main_job_command_runs_on_the_shipped_example(tmp_path: Path) -> None:
    """The README's line after the install, command by command, on a fresh copy of examples/
    made with the modes a git checkout gives (0644 under the usual umask): it greets a newcomer
    with what it says, and no ENV011 about the example's own file mode."""
    argv = _first_command("python -m pip install . && ")
    commands: list[list[str]] = [[]]
    for word in argv[argv.index("&&") + 1 :]:
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for f in (tmp_path / "examples").rglob("*"):
        if f.is_file():
            os.chmod(f, 0o644)
    *setup, check = commands
    for command in setup:
        assert command[0] == "chmod" and len(command) == 3, command
        os.chmod(tmp_path / command[2], int(command[1], 8))
    assert check[:2] == ["envsync", "check"]
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", *check[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    # what the README says it prints and returns
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"ENV004 stale-default DB_HOST\b", proc.stdout)
    assert re.search(r"ENV001 missing-key REQUEST_TIMEOUT\b", proc.stdout)
    assert "ENV011" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    # the example's values (a stand-in password among them) are not printed
    env = (ROOT / "examples" / "upgrade" / ".env").read_text(encoding="utf-8")
    password = re.search(r'^DB_PASSWORD="(.+)"$', env, re.M)
    assert password is not None
    assert password.group(1) not in proc.stdout + proc.stderr


def test_test_command_is_what_ci_runs() -> None:
    argv = _first_command("python -m pip install '.[test]' && python -m pytest")
    assert argv == ["python", "-m", "pip", "install", ".[test]", "&&", "python", "-m", "pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'python -m pip install -q ".[test]"' in ci
    assert "python -m pytest" in ci
