"""Measure one command as a whole process: ``python bench/measure.py SPEC_JSON``.

Run in a fresh process for every measurement (``bench/run.py`` does), so that nothing of the
benchmark's own state (memory, open files, earlier children) reaches the measured child. It:

1. copies the case's files into a fresh directory (not timed), so that ``fix`` always has
   something to change and a ``env-backup/`` of its own;
2. starts the command with ``posix_spawn`` and waits for it with ``wait4``, which returns the
   resource usage of that one child (and of the processes it waited for: Dify's script's ``awk``
   and ``sort``): ``ru_maxrss`` is its peak resident memory;
3. prints one JSON line: wall seconds, CPU seconds (user + system), peak RSS in KiB, exit
   code, whether the env file changed, and the tail of stderr when the command crashed.

The spec: ``{"argv": [...], "env": {...}, "files": {"name": "source path"}, "tmp": "dir",
"watch": ".env", "stdout": "report.txt", "cwd": "dir"}`` (``cwd``: run there, not in the copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Any


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return ""


def measure(spec: dict[str, Any]) -> dict[str, object]:
    argv = [str(a) for a in spec["argv"]]
    env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    work = tempfile.mkdtemp(prefix="envsync-bench-", dir=spec.get("tmp") or None)
    try:
        for name, source in (spec.get("files") or {}).items():
            dest = os.path.join(work, name)
            shutil.copyfile(source, dest)
            os.chmod(dest, 0o600)
        watch = os.path.join(work, str(spec.get("watch") or ".env"))
        before = _digest(watch)
        out_fd = os.open(os.path.join(work, "stdout.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
        err_fd = os.open(os.path.join(work, "stderr.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
        null_fd = os.open(os.devnull, os.O_RDONLY)
        actions = [
            (os.POSIX_SPAWN_DUP2, null_fd, 0),
            (os.POSIX_SPAWN_DUP2, out_fd, 1),
            (os.POSIX_SPAWN_DUP2, err_fd, 2),
        ]
        cwd = os.getcwd()
        # posix_spawn has no cwd argument before Python 3.13; ``cwd`` in the spec runs the
        # command in place (a read-only check in a git repository: the base from its history)
        os.chdir(str(spec.get("cwd") or work))
        try:
            started = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
            _, status, usage = os.wait4(pid, 0)
            wall = time.perf_counter() - started
        finally:
            os.chdir(cwd)
            for fd in (out_fd, err_fd, null_fd):
                os.close(fd)
        # Linux reports KiB, macOS bytes
        rss_kib = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
        with open(os.path.join(work, "stderr.txt"), "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        with open(os.path.join(work, "stdout.txt"), "rb") as f:
            stdout_bytes = len(f.read())
        crashed = "Traceback (most recent call last)" in stderr
        return {
            "wall": wall,
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss_kib": rss_kib,
            "rc": os.waitstatus_to_exitcode(status),
            "changed": _digest(watch) != before,
            "stdout_bytes": stdout_bytes,
            "error": stderr[-2000:] if crashed else "",
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
