"""Crash safety: kill ``envsync fix`` and ``envsync restore`` at every file-changing system call.

A random-instant kill almost never lands inside a sub-millisecond write window, so the kill is
deterministic: strace (``-e inject=SYSCALL:signal=KILL:when=K``) delivers SIGKILL on entering the
K-th call of SYSCALL. The harness

1. runs the command once under ``strace -f -y`` (tracing every file-changing system call) and
   keeps, as kill points, the calls that touch the scenario's directory (the interpreter's own
   start-up files are not the subject);
2. for each kill point, rebuilds the scenario, runs the command under strace with SIGKILL
   injected at that call, checks that strace reports the kill at the same call, and checks the
   files (``_problems``): the env file is byte for byte the old or the complete new one, with its
   mode; whenever it is new, an exact backup of the old one exists; every backup is exact
   (never partial) and no more permissive than the env file; nothing else changed;
3. runs a follow-up command without strace: it must finish (no stale lock) and give the result
   of an unkilled run, leaving no temporary files behind.

A deliberately non-atomic writer (tests/faults/naive_fix.py) fails the same harness; injected
I/O errors (ENOSPC on the write, EIO on fsync, ...) at the same points must give exit 2, one
line on stderr and an untouched (or wholly new) env file.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from conftest import SUMMARY

STRACE = shutil.which("strace")
FAULTS = Path(__file__).parent / "faults"

#: every system call that can change a file or a directory entry, plus flock (a kill while the
#: lock is held must not leave a stale lock). ``?`` makes strace ignore names this arch lacks.
FILE_CHANGING = (
    "write",
    "pwrite64",
    "writev",
    "rename",
    "renameat",
    "renameat2",
    "fsync",
    "fdatasync",
    "open",
    "openat",
    "creat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "truncate",
    "ftruncate",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "flock",
)
TRACE_SET = ",".join(f"?{name}" for name in FILE_CHANGING)

BACKUP_NAME = re.compile(r".+\.backup_\d{8}_\d{6}(?:_\d+)?")
#: temporary files of files.atomic: ``.<name>.<12 hex>.envsync-tmp``
TEMP_NAME = re.compile(r"\..*\.[0-9a-f]{12}\.envsync-tmp")
FOLLOW_UP_TIMEOUT = 30
MIN_KILL_POINTS = 40

TEMPLATE = (
    "# Example application\n"
    "APP_URL=http://localhost\n"
    "DB_PASSWORD=changeme\n"
    "\n"
    "# workers\n"
    "WORKERS=4\n"
    "NEW_KEY=fresh-default\n"
    'GREETING="hello\n'
    'world"\n'
)
OLD_ENV = (
    "APP_URL=https://prod.example\n"
    "DB_PASSWORD=kill-test-password\n"
    "WORKERS=8\n"
    'GREETING="hi\n'
    'there"\n'
    "OPERATOR_ONLY=kept\n"
)
OLD_BACKUP = "APP_URL=https://old.example\nDB_PASSWORD=older-password\n"
PRE_EXISTING_BACKUP = ".env.backup_20240101_000000"


def _strace_problem() -> str | None:
    """Why the kill tests cannot run here, or None."""
    if not sys.platform.startswith("linux"):
        return "strace fault injection needs Linux"
    if STRACE is None:
        return "strace is not installed (.ci/run installs it with apt-get)"
    probe = subprocess.run(
        [
            STRACE,
            "-f",
            "-qq",
            "-o",
            os.devnull,
            "-e",
            "trace=?write",
            "-e",
            "inject=?write:signal=KILL:when=1",
            sys.executable,
            "-c",
            "import os; os.write(1, b'x')",
        ],
        capture_output=True,
        check=False,
    )
    if probe.returncode != -signal.SIGKILL:
        first = (probe.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[0]
        return (
            f"strace cannot inject faults here (needs ptrace of its own child: "
            f"kernel.yama.ptrace_scope <= 2 and no seccomp filter on ptrace): {first}"
        )
    return None


_SKIP = _strace_problem()
pytestmark = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")


#: a private byte-code cache (set by the fixture below): other processes writing .pyc files
#: into the source tree (another pytest run, an editor) would change how many files the
#: interpreter opens, and so which call strace's ``when=K`` lands on
_PYCACHE: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _private_pycache(tmp_path_factory: pytest.TempPathFactory) -> None:
    _PYCACHE[:] = [str(tmp_path_factory.mktemp("pycache"))]


def _child_env(write_bytecode: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PYTHON"))}
    if "PYTHONPATH" in os.environ:  # it selects the package under test (a worktree's)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update(PYTHONPYCACHEPREFIX=_PYCACHE[0], PYTHONHASHSEED="0", NO_COLOR="1")
    if not write_bytecode:  # the same system calls on every run
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


ENVSYNC = [sys.executable, "-m", "envsync_hook"]


# ------------------------------------------------------------------------------------------
# the state of a scenario directory

#: ("file", bytes, mode) | ("dir", b"", mode) | ("link", target bytes, 0)
Entry = tuple[str, bytes, int]
State = dict[str, Entry]


def _state(work: Path) -> State:
    out: State = {}
    for root, dirs, files in os.walk(work):
        for name in dirs + files:
            p = Path(root) / name
            rel = p.relative_to(work).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.fsencode(os.readlink(p)), 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def _canon(state: State) -> list[tuple[str, Entry]]:
    """``state`` with the time stamps of backup names left out, and the lines of backup
    metadata that name the env file's place (its path, its directory's inode)."""
    return sorted(
        (
            re.sub(r"\d{8}_\d{6}", "<stamp>", k),
            (v[0], re.sub(rb"(?m)^(env|dir) .*$", rb"\1 <place>", v[1]), v[2])
            if k.endswith(".meta")
            # the sync record's manifest names the env file and the time it was written
            else (v[0], re.sub(rb"(?m)^(env|time) .*$", rb"\1 <place>", v[1]), v[2])
            if k.endswith(".sync/manifest")
            else v,
        )
        for k, v in state.items()
    )


def _is_backup(rel: str, backup_dir: str) -> bool:
    head, _, name = rel.rpartition("/")
    return head == backup_dir and BACKUP_NAME.fullmatch(name) is not None


def _is_temp(rel: str) -> bool:
    return TEMP_NAME.fullmatch(rel.rpartition("/")[2]) is not None


class Scenario(NamedTuple):
    name: str
    setup: Callable[[Path], None]
    command: Callable[[Path], list[str]]
    follow_up: Callable[[Path], list[str]]
    #: the file whose bytes are replaced (the symlink's target for a symlinked .env)
    target: str = ".env"
    backup_dir: str = "env-backup"


def _problems(
    scenario: Scenario, before: State, after: State, now: State, *, final: bool = False
) -> list[str]:
    """What is wrong with ``now`` (after a kill), given the states before and after a whole run.

    ``final``: ``now`` is after the follow-up run, which must have reached ``after`` exactly.
    """
    found: list[str] = []
    t, bdir = scenario.target, scenario.backup_dir
    old, new, cur = before.get(t), after[t], now.get(t)
    if final and cur != new:
        found.append(f"{t} is not the result of an unkilled run after the follow-up")
    if cur is None:
        if old is not None:
            found.append(f"{t} disappeared")
    elif cur[0] != "file":
        found.append(f"{t} is a {cur[0]}, not a file")
    elif old is not None and cur[1] not in (old[1], new[1]):
        found.append(f"{t} is neither the old nor the new content ({len(cur[1])} bytes)")
    elif old is None and cur[1] != new[1]:
        found.append(f"{t} was created with partial content ({len(cur[1])} bytes)")
    elif cur[2] != (old or new)[2]:
        found.append(f"{t} has mode {cur[2]:04o}, not {(old or new)[2]:04o}")

    new_backups = [r for r in now if _is_backup(r, bdir) and r not in before]
    for rel in new_backups:
        kind, data, mode = now[rel]
        if old is None:
            found.append(f"backup {rel} made although {t} did not exist")
        elif kind != "file" or data != old[1]:
            found.append(f"backup {rel} is not an exact copy of the old {t} ({len(data)} bytes)")
        elif mode & ~old[2]:
            found.append(f"backup {rel} has mode {mode:04o}, more permissive than {old[2]:04o}")
    if old is not None and cur is not None and cur[1] == new[1] != old[1] and not new_backups:
        found.append(f"{t} is new but no backup of the old one exists")

    for rel, entry in before.items():
        if rel != t and now.get(rel) != entry:
            found.append(f"{rel} changed or disappeared")
    for rel, entry in now.items():
        if rel in before or rel == t or rel in new_backups:
            continue
        if rel.endswith(".meta") and rel[: -len(".meta")] in new_backups:
            # a new backup's metadata (what made it, whose it is): as protected as a backup
            if entry[0] != "file" or entry[2] != 0o600:
                found.append(f"backup metadata {rel} is a {entry[0]} with mode {entry[2]:04o}")
            continue
        if re.match(rf"{re.escape(bdir)}/[^/]+\.sync(/|$)", rel) and not _is_temp(rel):
            # the sync record (base.py): as protected as a backup, whole files only
            if entry[2] != (0o700 if entry[0] == "dir" else 0o600):
                found.append(f"sync record {rel} is a {entry[0]} with mode {entry[2]:04o}")
            continue
        if rel == bdir and entry[0] == "dir":
            if entry[2] != 0o700:
                found.append(f"backup directory created with mode {entry[2]:04o}, not 0700")
            continue
        if _is_temp(rel) and not final:
            continue  # an unfinished temporary file: the next run removes it
        found.append(f"unexpected {entry[0]} {rel}")
    return found


def _reset(work: Path, scenario: Scenario) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    scenario.setup(work)


# ------------------------------------------------------------------------------------------
# strace


class Point(NamedTuple):
    syscall: str
    nth: int  #: strace's ``when=``: the nth call of ``syscall`` in the traced process
    line: str  #: the call as strace printed it, normalised (see _normalise)


_CALL = re.compile(r"(\d+) +(\w+)\(")
_FDCWD = re.compile(r"AT_FDCWD<[^>]*>")
#: system calls whose first argument is the file descriptor acted on (the rest may be data)
_FD_FIRST = {"write", "pwrite64", "writev", "fsync", "fdatasync", "fchmod", "fchown"}
_FD_FIRST |= {"ftruncate", "flock"}
_WRITE_FLAGS = re.compile(r"\bO_(?:WRONLY|RDWR|CREAT|TRUNC|APPEND)\b")


def _touches(name: str, text: str, work: Path) -> bool:
    """Whether the call ``text`` (``name(args) = ret``) acts on a path under ``work``."""
    args = text[len(name) + 1 :]
    if name in ("open", "openat") and not _WRITE_FLAGS.search(args):
        return False  # opened for reading: changes nothing
    if name in _FD_FIRST:
        args = args.split(", ", 1)[0].split(")", 1)[0]
    return str(work) + "/" in _FDCWD.sub("", args) or f"<{work}>" in args


def _normalise(line: str, work: Path) -> str:
    line = _FDCWD.sub("AT_FDCWD", line).replace(str(work), "<W>")
    line = re.sub(r"(?:[0-9a-f]{8}\.)?[0-9a-f]{12}\.envsync-tmp", "<hex>.envsync-tmp", line)
    line = re.sub(r"\d{8}_\d{6}", "<stamp>", line)
    line = line.rsplit(" = ", 1)[0]
    if "envsync sync record 1" in line:
        # the record's manifest holds the time it was written (and with it the length written)
        line = re.sub(r"time \d+\.\d+", "time <t>", line)
        line = re.sub(r", \d+\)$", ", <n>)", line)
    if "envsync-backup 1" in line:
        # a backup's metadata names its env file's directory by device and inode, which differ
        # between the scenario copies (and with them the length written), not between runs
        line = re.sub(r"dir \d+:\d+", "dir <ident>", line)
        line = re.sub(r", \d+\)$", ", <n>)", line)
    return line


def _calls(trace: str) -> list[tuple[str, str]]:
    """(syscall, text) of each call of the root process, in order."""
    root: str | None = None
    out = []
    for raw in trace.splitlines():
        m = _CALL.match(raw)
        if m is None:
            continue  # "+++ exited", "--- SIGKILL", "<... resumed>"
        if root is None:
            root = m.group(1)
        if m.group(1) == root:
            out.append((m.group(2), raw[m.start(2) :]))
    return out


def _strace(
    argv: Sequence[str], trace_file: Path, cwd: Path, trace: str, inject: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    assert STRACE is not None
    cmd = [STRACE, "-f", "-qq", "-y", "-s", "4096", "-o", str(trace_file), "-e", f"trace={trace}"]
    if inject:
        cmd += ["-e", f"inject={inject}"]
    return subprocess.run(
        [*cmd, *argv], cwd=cwd, env=_child_env(), capture_output=True, timeout=60, check=False
    )


def _discover(scenario: Scenario, work: Path, cwd: Path) -> tuple[list[Point], State, State]:
    """The kill points of an unkilled traced run, and the states before and after it."""
    # an unkilled run without strace, on a copy (it also fills the byte-code cache)
    copy = work.with_name(work.name + "-copy")
    _reset(copy, scenario)
    plain = subprocess.run(
        scenario.command(copy), cwd=cwd, env=_child_env(True), capture_output=True, check=False
    )
    _reset(work, scenario)
    before = _state(work)
    trace_file = cwd / "discover.trace"
    proc = _strace(scenario.command(work), trace_file, cwd, TRACE_SET)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    after = _state(work)
    points: list[Point] = []
    seen: dict[str, int] = {}
    for name, text in _calls(trace_file.read_text(encoding="utf-8", errors="replace")):
        seen[name] = seen.get(name, 0) + 1
        if _touches(name, text, work):
            points.append(Point(name, seen[name], _normalise(text, work)))
    # the same result as the run without strace
    assert plain.returncode == proc.returncode
    assert _canon(_state(copy)) == _canon(after)
    shutil.rmtree(copy)
    return points, before, after


class Outcome(NamedTuple):
    point: Point
    problems: list[str]


def _kill_at(
    scenario: Scenario, point: Point, work: Path, cwd: Path, before: State, after: State
) -> Outcome:
    _reset(work, scenario)
    trace_file = cwd / f"kill-{point.syscall}-{point.nth}.trace"
    proc = _strace(
        scenario.command(work),
        trace_file,
        cwd,
        f"?{point.syscall}",
        f"?{point.syscall}:signal=KILL:when={point.nth}",
    )
    problems: list[str] = []
    trace = trace_file.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != -signal.SIGKILL or "+++ killed by SIGKILL +++" not in trace:
        problems.append(f"not killed (exit {proc.returncode})")
    else:
        calls = _calls(trace)
        landed = _normalise(calls[-1][1], work) if calls else "<none>"
        if len(calls) != point.nth or landed != point.line:
            problems.append(f"the kill landed on {landed!r} (call {len(calls)})")
    problems += _problems(scenario, before, after, _state(work))
    try:
        follow = subprocess.run(
            scenario.follow_up(work),
            cwd=cwd,
            env=_child_env(),
            capture_output=True,
            timeout=FOLLOW_UP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        problems.append(f"the follow-up run hung for {FOLLOW_UP_TIMEOUT} s (a stale lock?)")
        return Outcome(point, problems)
    if follow.returncode not in (0, 1) or b"Traceback" in follow.stderr:
        err = follow.stderr.decode("utf-8", "replace").strip()
        problems.append(f"the follow-up run failed (exit {follow.returncode}): {err}")
    problems += [
        f"after the follow-up: {p}"
        for p in _problems(scenario, before, after, _state(work), final=True)
    ]
    return Outcome(point, problems)


def _sweep(scenario: Scenario, root: Path, workers: int = 0) -> list[Outcome]:
    """Discover the kill points of ``scenario`` and kill a run at each one."""
    cwd = root / "cwd"  # not the scenario directory: its accesses are the ones we count
    cwd.mkdir(parents=True, exist_ok=True)
    points, before, after = _discover(scenario, root / "w-ref", cwd)
    assert points, "no system call touched the scenario directory"
    n = workers or min(4, os.cpu_count() or 1)

    def run(i: int) -> list[Outcome]:
        work, wcwd = root / f"w-{i}", root / f"cwd-{i}"
        wcwd.mkdir(exist_ok=True)
        return [_kill_at(scenario, p, work, wcwd, before, after) for p in points[i::n]]

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = [o for chunk in pool.map(run, range(n)) for o in chunk]
    return sorted(results, key=lambda o: points.index(o.point))


# ------------------------------------------------------------------------------------------
# scenarios


def _write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    os.chmod(path, mode)


def _setup_plain(work: Path) -> None:
    _write(work / ".env.example", TEMPLATE, 0o644)
    _write(work / ".env", OLD_ENV, 0o640)


def _setup_symlinked(work: Path) -> None:
    _write(work / ".env.example", TEMPLATE, 0o644)
    _write(work / "conf" / "prod.env", OLD_ENV, 0o600)
    (work / ".env").symlink_to("conf/prod.env")
    (work / "env-backup").mkdir(mode=0o700)
    _write(work / "env-backup" / PRE_EXISTING_BACKUP, OLD_BACKUP)


def _setup_missing(work: Path) -> None:
    _write(work / ".env.example", TEMPLATE, 0o644)


def _setup_restore(work: Path) -> None:
    _write(work / ".env.example", TEMPLATE, 0o644)
    _write(work / ".env", OLD_ENV, 0o600)
    (work / "env-backup").mkdir(mode=0o700)
    _write(work / "env-backup" / PRE_EXISTING_BACKUP, OLD_BACKUP)


def _setup_restore_missing(work: Path) -> None:
    (work / "env-backup").mkdir(mode=0o700)
    _write(work / "env-backup" / PRE_EXISTING_BACKUP, OLD_BACKUP, 0o640)


def _fix(work: Path) -> list[str]:
    return [*ENVSYNC, "fix", str(work / ".env.example")]


def _restore(work: Path) -> list[str]:
    return [*ENVSYNC, "restore", str(work / ".env")]


def _restore_from(work: Path) -> list[str]:
    return [*_restore(work), "--from", str(work / "env-backup" / PRE_EXISTING_BACKUP)]


SCENARIOS = [
    Scenario("fix", _setup_plain, _fix, _fix),
    Scenario("fix-symlinked-env", _setup_symlinked, _fix, _fix, target="conf/prod.env"),
    Scenario("fix-creates-env", _setup_missing, _fix, _fix),
    Scenario("restore", _setup_restore, _restore, _restore_from),
    Scenario("restore-missing-env", _setup_restore_missing, _restore, _restore_from),
]


def _report(name: str, outcomes: list[Outcome]) -> str:
    by_call: dict[str, int] = {}
    for o in outcomes:
        by_call[o.point.syscall] = by_call.get(o.point.syscall, 0) + 1
    calls = ", ".join(f"{k} {v}" for k, v in sorted(by_call.items()))
    return f"{name}: {len(outcomes)} kill points ({calls})"


def test_kill_at_every_file_changing_syscall(tmp_path: Path) -> None:
    lines, failures, total = [], [], 0
    for scenario in SCENARIOS:
        outcomes = _sweep(scenario, tmp_path / scenario.name)
        total += len(outcomes)
        lines.append(_report(scenario.name, outcomes))
        failures += [
            f"{scenario.name}: kill at {o.point.syscall} #{o.point.nth} {o.point.line}: {p}"
            for o in outcomes
            for p in o.problems
        ]
    print("\n" + "\n".join(lines) + f"\ncrash test: {total} kill points, {len(failures)} failures")
    SUMMARY.extend([*lines, f"crash test: {total} kill points, {len(failures)} failures"])
    assert not failures, "\n".join(failures)
    assert total >= MIN_KILL_POINTS


# ------------------------------------------------------------------------------------------
# the harness catches a non-atomic writer


def _naive(work: Path) -> list[str]:
    return [sys.executable, str(FAULTS / "naive_fix.py"), str(work / ".env"), str(work / "new")]


def _setup_naive(work: Path) -> None:
    _write(work / ".env", OLD_ENV, 0o600)
    _write(work / "new", TEMPLATE + "OPERATOR_ONLY=kept\n")


def test_harness_catches_a_non_atomic_writer(tmp_path: Path) -> None:
    scenario = Scenario("naive", _setup_naive, _naive, _naive)
    outcomes = _sweep(scenario, tmp_path)
    torn = [o for o in outcomes if any("neither the old nor the new" in p for p in o.problems)]
    print(f"\nnon-atomic writer: {len(torn)} of {len(outcomes)} kill points tear .env")
    SUMMARY.append(f"non-atomic writer: {len(torn)} of {len(outcomes)} kill points tear .env")
    # every kill between its first and last write leaves a torn file
    writes = [o for o in outcomes if o.point.syscall == "write" and ".env>" in o.point.line]
    assert len(writes) >= 3
    assert len(torn) >= len(writes) - 1


# ------------------------------------------------------------------------------------------
# injected I/O errors: exit 2, one line, nothing half-written

#: the error each system call fails with
ERRNO = {
    "write": "ENOSPC",
    "pwrite64": "ENOSPC",
    "writev": "ENOSPC",
    "fsync": "EIO",
    "fdatasync": "EIO",
    "openat": "EACCES",
    "open": "EACCES",
    "mkdir": "ENOSPC",
    "mkdirat": "ENOSPC",
    "fchmod": "EPERM",
    "chmod": "EPERM",
    "fchmodat": "EPERM",
    "fchown": "EPERM",
    "flock": "ENOLCK",
    "link": "EPERM",
    "linkat": "EPERM",
}


def _fail_at(
    scenario: Scenario, point: Point, work: Path, cwd: Path, before: State, after: State
) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    _reset(work, scenario)
    err = ERRNO.get(point.syscall, "EIO")
    proc = _strace(
        scenario.command(work),
        cwd / "fail.trace",
        cwd,
        f"?{point.syscall}",
        f"?{point.syscall}:error={err}:when={point.nth}",
    )
    found: list[str] = []
    stderr = proc.stderr.decode("utf-8", "replace")
    now = _state(work)
    if proc.returncode in (0, 1):  # a tolerated failure (e.g. fchown EPERM): a normal result
        found += _problems(scenario, before, after, now)
        if now.get(scenario.target) != after[scenario.target]:
            found.append(f"exit {proc.returncode} but {scenario.target} was not written")
    elif proc.returncode == 2:
        lines = stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("envsync: error: "):
            found.append(f"stderr is not one error line: {stderr!r}")
        # nothing half-done: no temporary file, no partial backup left behind
        found += [p for p in _problems(scenario, before, after, now) if "unexpected" not in p]
        found += [f"left behind {r}" for r in now if r not in before and _is_temp(r)]
    else:
        found.append(f"exit {proc.returncode}: {stderr.strip()}")
    if "Traceback" in stderr:
        found.append("traceback")
    return proc, found


@pytest.mark.parametrize("scenario", [SCENARIOS[0], SCENARIOS[3]], ids=["fix", "restore"])
def test_injected_io_error_at_every_point(tmp_path: Path, scenario: Scenario) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    points, before, after = _discover(scenario, tmp_path / "w-ref", cwd)
    n = min(4, os.cpu_count() or 1)

    def run(i: int) -> list[str]:
        (tmp_path / f"cwd-{i}").mkdir()
        out = []
        for point in points[i::n]:
            _, found = _fail_at(
                scenario, point, tmp_path / f"w-{i}", tmp_path / f"cwd-{i}", before, after
            )
            out += [f"{point.syscall} #{point.nth} {point.line}: {p}" for p in found]
        return out

    with ThreadPoolExecutor(max_workers=n) as pool:
        failures = [f for chunk in pool.map(run, range(n)) for f in chunk]
    print(f"\n{scenario.name}: an I/O error injected at each of {len(points)} points")
    assert not failures, "\n".join(failures)


def test_failing_write_of_the_new_env_leaves_it_untouched(tmp_path: Path) -> None:
    scenario = SCENARIOS[0]
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    points, before, after = _discover(scenario, tmp_path / "w-ref", cwd)
    [temp_write] = [p for p in points if p.syscall == "write" and "<W>/..env.<hex>" in p.line]
    work = tmp_path / "w"
    proc, found = _fail_at(scenario, temp_write, work, cwd, before, after)
    assert not found
    assert proc.returncode == 2
    env = work / ".env"
    assert proc.stderr.decode() == (
        f"envsync: error: could not write {env}: no space left on device; {env} is unchanged\n"
    )
    assert _state(work)[".env"] == before[".env"]
    assert "kill-test-password" not in proc.stdout.decode() + proc.stderr.decode()
