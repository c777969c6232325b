"""Where the repository root is, and paths as seen from it.

GitHub attaches an annotation, and code scanning a SARIF result, to a path from the repository
root, whatever directory the command ran in (the Action's ``working-directory: docker``). The
root is ``$GITHUB_WORKSPACE`` when the current directory lies in it, else the nearest directory
at or above the current one that holds ``.git`` (a directory, or a file in a worktree or
submodule): found by looking, not by running git, so no subprocess is started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from envsync_hook.findings import PairResult

GIT_MARKER = ".git"
#: how reports name an env file read from standard input (``--env -``): no path, never rebased
STDIN_NAME = "<stdin>"


def repo_root(start: str | Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``.git``; None when there is none."""
    here = Path(os.path.abspath(start))
    for directory in (here, *here.parents):
        if os.path.lexists(directory / GIT_MARKER):
            return directory
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def report_root(environ: Mapping[str, str], cwd: str) -> str | None:
    """The directory GitHub's paths are relative to: ``$GITHUB_WORKSPACE`` when ``cwd`` lies in
    it, else the repository root above ``cwd``; None when neither applies."""
    real_cwd = os.path.realpath(cwd)
    workspace = environ.get("GITHUB_WORKSPACE")
    if workspace:
        real = os.path.realpath(workspace)
        if _inside(real_cwd, real):
            return real
    root = repo_root(real_cwd)
    return str(root) if root is not None else None


class Rebaser:
    """Turns paths relative to ``cwd`` (as the reports show them) into paths from ``root``.

    A path outside ``root`` stays as it was; separators become ``/``. Results are cached: a
    report names a handful of files many times.
    """

    def __init__(self, root: str, cwd: str) -> None:
        self.root = root
        self.cwd = os.path.realpath(cwd)
        self._cache: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        done = self._cache.get(path)
        if done is None:
            done = self._cache[path] = self._rebase(path)
        return done

    def _rebase(self, path: str) -> str:
        if not path or path == STDIN_NAME:
            return path
        full = os.path.normpath(os.path.join(self.cwd, path))
        if not _inside(full, self.root):
            return path
        return Path(os.path.relpath(full, self.root)).as_posix()

    def results(self, results: Sequence[PairResult]) -> list[PairResult]:
        """``results`` with every path (template, env, findings, checked keys) from the root."""
        out = []
        for pair in results:
            out.append(
                pair._replace(
                    template=self(pair.template),
                    env=self(pair.env),
                    findings=tuple(f._replace(file=self(f.file)) for f in pair.findings),
                    keys=[(k, self(file), line) for k, file, line in pair.keys],
                )
            )
        return out
