"""Concurrent ``envsync fix`` runs on one env file serialise on the lock.

Six real processes are started, import everything, and are released together (see
tests/faults/gated_cli.py), so that all of them reach the lock within a millisecond. Each time:
exactly one backup (a byte-for-byte copy of the old file), the env file equal to what one run
alone gives, and exactly one run reports a change. A control run with the lock replaced by a
no-op shows that the same check does catch interleaved runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SUMMARY

from envsync_hook.base import read_record, record_dir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX only")

GATED = Path(__file__).parent / "faults" / "gated_cli.py"
PROCESSES = 6
REPETITIONS = 20
BACKUP = re.compile(r"\.env\.backup_\d{8}_\d{6}(?:_\d+)?")

TEMPLATE = (
    "# service\nHOST=localhost\nPORT=8080\nDB_PASSWORD=changeme\n\n# added upstream\nNEW_A=1\n"
    "NEW_B=two\n"
)
OLD_ENV = "HOST=db.internal\nPORT=9090\nDB_PASSWORD=concurrency-secret\nLOCAL_ONLY=yes\n"


def _setup(work: Path) -> None:
    work.mkdir(parents=True)
    (work / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    (work / ".env").write_text(OLD_ENV, encoding="utf-8")
    os.chmod(work / ".env", 0o640)


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}


def _single_run(work: Path) -> bytes:
    _setup(work)
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "fix", str(work / ".env.example")],
        capture_output=True,
        env=_child_env(),
        check=False,
    )
    assert proc.returncode == 1, proc.stderr.decode()
    return (work / ".env").read_bytes()


def _race(work: Path, extra: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run PROCESSES fixes on ``work`` released at the same instant."""
    _setup(work)
    gate = work.parent / f"{work.name}-gate"
    gate.mkdir()
    argv = ["fix", str(work / ".env.example")]
    procs = [
        subprocess.Popen(
            [sys.executable, str(GATED), str(gate), *extra, "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        for _ in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(gate.glob("ready-*"))) < PROCESSES:
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(p.poll() is None for p in procs), "a process died before the start"
        time.sleep(0.005)
    (gate / "go").touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=60)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    shutil.rmtree(gate)
    return out


def _problems(
    work: Path, expected: bytes, runs: list[subprocess.CompletedProcess[str]]
) -> list[str]:
    found = []
    backups = sorted(p for p in (work / "env-backup").iterdir() if BACKUP.fullmatch(p.name))
    # each backup's metadata sidecar is expected; anything else is left behind
    metas = {b.name + ".meta" for b in backups}
    # and the sync record (base.py), which must be one whole record of the template synced with
    record = read_record(work / ".env", work / "env-backup")
    if (
        record is None
        or [name for name in record.copies] != [".env.example"]
        or any(
            (record.directory / copy).read_text(encoding="utf-8") != TEMPLATE
            for copy in record.copies.values()
        )
    ):
        found.append("no whole sync record of the template")
    expected_names = metas | {record_dir(work / ".env", work / "env-backup").name}
    others = sorted(
        p.name
        for p in (work / "env-backup").iterdir()
        if p not in backups and p.name not in expected_names
    )
    if len(backups) != 1:
        found.append(f"{len(backups)} backups")
    found += [
        f"backup {b.name} is not the old file"
        for b in backups
        if b.read_bytes() != OLD_ENV.encode()
    ]
    if others:
        found.append(f"other files in the backup directory: {others}")
    if (work / ".env").read_bytes() != expected:
        found.append(".env differs from a single run's result")
    if os.stat(work / ".env").st_mode & 0o777 != 0o640:
        found.append(".env lost its mode")
    leftovers = sorted(
        p.name for p in work.iterdir() if p.name not in (".env", ".env.example", "env-backup")
    )
    if leftovers:
        found.append(f"files left behind: {leftovers}")
    codes = sorted(r.returncode for r in runs)
    updated = sum("updated from" in r.stderr for r in runs)
    if codes != [0] * (PROCESSES - 1) + [1] or updated != 1:
        errors = [r.stderr.strip() for r in runs if r.returncode not in (0, 1)]
        found.append(
            f"exit codes {codes}, {updated} runs say they updated the file; errors: {errors}"
        )
    if any("Traceback" in r.stderr for r in runs):
        found.append("a traceback")
    return found


def test_six_concurrent_fixes_twenty_times(tmp_path: Path) -> None:
    expected = _single_run(tmp_path / "single")
    failures = []
    for i in range(REPETITIONS):
        work = tmp_path / f"race-{i}"
        runs = _race(work, [])
        failures += [f"repetition {i + 1}: {p}" for p in _problems(work, expected, runs)]
    print(
        f"\nconcurrency: {REPETITIONS} repetitions of {PROCESSES} concurrent fixes, "
        f"{len(failures)} problems"
    )
    SUMMARY.append(
        f"concurrency: {REPETITIONS} repetitions of {PROCESSES} concurrent fixes, "
        f"{len(failures)} problems"
    )
    assert not failures, "\n".join(failures)


def test_slow_backups_still_serialise(tmp_path: Path) -> None:
    """With a 50 ms pause before each backup the window is wide; the lock still holds."""
    expected = _single_run(tmp_path / "single")
    for i in range(2):
        work = tmp_path / f"race-{i}"
        runs = _race(work, ["--slow-backup", "0.05"])
        assert _problems(work, expected, runs) == []


def test_control_without_the_lock_is_caught(tmp_path: Path) -> None:
    """The same race with env_lock replaced by a no-op: the checks above must fail."""
    expected = _single_run(tmp_path / "single")
    caught = 0
    for i in range(3):
        work = tmp_path / f"race-{i}"
        runs = _race(work, ["--no-lock", "--slow-backup", "0.05"])
        caught += bool(_problems(work, expected, runs))
    assert caught == 3
