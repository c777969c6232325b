"""What CPython alone costs on this machine for the 100,000-key case: ``python bench/floor.py``.

The budgets of the performance issues (100,000 keys: check 0.5 s, fix 1 s, 100 MB) were set on
a faster machine. This script measures a *lower bound* of any CPython implementation of check and
fix on the machine it runs on: programs that do strictly less than envsync does, each step the
cheapest C-level way CPython offers (``str.split``, ``map`` over built-in methods, ``dict(zip())``,
set operations), with no Python-level loop over lines at all:

- ``check-floor``: start the interpreter, read both files, split them into lines, cut each line at
  its first ``=``, map keys to values (the last assignment wins), find the missing, extra and
  changed keys, write their counts. It ignores comments, quotes, multi-line values,
  ``export``, line numbers, offsets, duplicates, opt-ins, the base, renames and secrets: a correct
  check does all of that *and* this, and makes a finding (a message naming the key and the
  line) of each difference.
- ``check-floor+regex``: the same, but each line classified with one anchored regex match, the
  least a parser that follows Compose's rules for keys and values must do per line.
- ``fix-floor``: ``check-floor``, plus what fix must do besides: the merged text joined, the backup
  written and flushed to disk, the merged text written to a temporary file, flushed and renamed
  over the env file, and the written text read back and mapped again (the verification).

Each program runs in a fresh process (``python -S``); the table gives the best CPU time (user +
system, from ``wait4``) of ``--runs`` runs, next to ``python -c pass``. When a floor is above a
time budget, no CPython implementation meets that budget on this machine. The peak memory column
is these speed-first programs' own (they hold every line as a string); it is not a floor: a
program that streams its input can use less memory at a cost in time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cases

HERE = Path(__file__).resolve().parent

#: The floor programs. Each reads ``.env.example`` and ``.env`` in its working directory.
_READ_AND_MAP = r"""
import sys
from itertools import compress, repeat
from operator import itemgetter, ne

def mapped(text):
    lines = text.split("\n")
    parts = list(map(str.partition, lines, repeat("=")))
    has = list(map(itemgetter(1), parts))
    keys = compress(map(itemgetter(0), parts), has)
    return dict(zip(keys, compress(map(itemgetter(2), parts), has)))

def findings(t, e):
    common = t.keys() & e.keys()
    differs = map(ne, map(t.__getitem__, common), map(e.__getitem__, common))
    counts = (len(t.keys() - e.keys()), len(e.keys() - t.keys()), sum(differs))
    sys.stdout.write("missing %d, extra %d, changed %d\n" % counts)
    return counts

with open(".env.example", encoding="utf-8") as f:
    template_text = f.read()
with open(".env", encoding="utf-8") as f:
    env_text = f.read()
"""

_REGEX = r"""
import re
_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=(?:[^\s'\"][^\n]*)?|#|$")
def classified(text):
    lines = text.split("\n")
    return list(map(_LINE.match, lines))
classified(template_text)
classified(env_text)
"""

_CHECK = r"""
t = mapped(template_text)
e = mapped(env_text)
findings(t, e)
"""

_FIX = r"""
import os
kept = "\n".join(map("{}=".format, e.keys() - t.keys()))
merged = "\n".join(template_text.split("\n")) + "\n" + kept
os.makedirs("env-backup", exist_ok=True)
with open("env-backup/.env.backup", "w", encoding="utf-8") as f:
    f.write(env_text)
    f.flush()
    os.fsync(f.fileno())
with open(".env.tmp", "w", encoding="utf-8") as f:
    f.write(merged)
    f.flush()
    os.fsync(f.fileno())
os.replace(".env.tmp", ".env")
with open(".env", encoding="utf-8") as f:
    written = mapped(f.read())
assert len(written) >= len(t)
"""

PROGRAMS = {
    "python -c pass": "pass",
    "check-floor": _READ_AND_MAP + _CHECK,
    "check-floor+regex": _READ_AND_MAP + _REGEX + _CHECK,
    "fix-floor": _READ_AND_MAP + _CHECK + _FIX,
}

BUDGETS = {"check-floor": 0.5, "check-floor+regex": 0.5, "fix-floor": 1.0}


def run_once(code: str, case_dir: Path) -> tuple[float, int]:
    """CPU seconds (user + system) and peak KiB of one fresh ``python -S -c code`` in a copy of
    the case."""
    with tempfile.TemporaryDirectory(prefix="envsync-floor-") as tmp:
        for name in (".env.example", ".env"):
            shutil.copyfile(case_dir / name, Path(tmp) / name)
        # posix_spawn, not fork: a forked child's peak memory would start at this process's
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-S", "-c", "import os, sys; os.chdir(sys.argv[1])\n" + code, tmp],
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)],
        )
        _, status, usage = os.wait4(pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"floor program failed: exit {os.waitstatus_to_exitcode(status)}")
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def make_case(root: Path, keys: int) -> Path:
    """The synthetic case, built in a child process so that this one stays small: a spawned
    child's peak memory counts its parent's pages until it execs."""
    subprocess.run(
        [sys.executable, str(Path(__file__)), "--make-case", str(root), str(keys)], check=True
    )
    return root / f"synthetic-{keys}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--keys", type=int, default=100_000, help="synthetic key count")
    p.add_argument("--runs", type=int, default=5, help="runs of each program (best is kept)")
    p.add_argument("--make-case", nargs=2, metavar=("ROOT", "KEYS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make_case:
        cases.synthetic_case(Path(args.make_case[0]), int(args.make_case[1]))
        return 0
    with tempfile.TemporaryDirectory(prefix="envsync-floor-case-") as root:
        case_dir = make_case(Path(root), args.keys)
        size = os.path.getsize(case_dir / ".env") / 1e6
        print(f"case: {args.keys} template keys ({size:.1f} MB env file)")
        print(f"{'program':<20} {'best cpu s':>10} {'peak MB':>8}  budget")
        for name, code in PROGRAMS.items():
            runs = [run_once(code, case_dir) for _ in range(args.runs)]
            cpu = min(r[0] for r in runs)
            peak = max(r[1] for r in runs) / 1024
            budget = BUDGETS.get(name)
            verdict = ""
            if budget is not None:
                above = "above" if cpu > budget else "below"
                verdict = f"{budget:.1f} s: {above} ({cpu / budget:.0%} of it)"
            print(f"{name:<20} {cpu:>10.3f} {peak:>8.1f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
