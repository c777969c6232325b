"""The README's two set-up commands are true: the main job on examples/ does what it says."""

from __future__ import annotations

import re
import shlex
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
    argv = _first_command("python -m pip install . && envsync check")
    check = argv[argv.index("&&") + 1 :]
    assert check[:2] == ["envsync", "check"]
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", *check[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # what the README says it prints and returns
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"ENV004 stale-default DB_HOST\b", proc.stdout)
    assert re.search(r"ENV001 missing-key REQUEST_TIMEOUT\b", proc.stdout)
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
