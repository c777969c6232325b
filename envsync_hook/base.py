"""Where a pair's three-way base comes from (DESIGN.md section 12).

First that applies: ``--base``/``--base-ref`` (or the configuration), the sync record, the
commit before an upgrade-hook run, the template's git history, none (two-way). ``--no-base``
forces none. :func:`choose_base` is the one function that picks; ``compare`` never knows where a
base came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from envsync_hook import files
from envsync_hook.compare import Side, index
from envsync_hook.document import parse
from envsync_hook.errors import EnvsyncError

if TYPE_CHECKING:
    from envsync_hook.runner import Job

#: the values of ``PairResult.base_source``
SOURCES = ("option", "record", "hook", "git-history", "none")


class BaseChoice(NamedTuple):
    """The base picked for one pair, and what the report says about it."""

    #: the base of the pair's template; None: two-way
    side: Side | None
    source: str  # one of SOURCES
    detail: str = ""  # human text: which file or commit, how many keys matched
    #: the base of each template of ``Job.also`` (same order), where one is known
    also: tuple[Side | None, ...] = ()
    notice: str = ""  # one line for stderr (a fallback, a new template), if any


def valid_rev(rev: str) -> str:
    """``rev``, refused (EnvsyncError) when git could read it as an option (``--output=pwn``)
    or it is no name (empty, control characters)."""
    if not rev or rev.startswith("-") or not rev.isprintable():
        raise EnvsyncError(
            f"invalid git revision {rev!r} (it must not be empty, start with '-' "
            "or hold control characters)"
        )
    return rev


def resolve_rev(directory: Path, rev: str, template: Path) -> str:
    """The commit ``rev`` names, as a full hash: ``git rev-parse --verify --end-of-options
    REV^{commit}`` (nothing in ``rev`` reaches git as an option); raises EnvsyncError naming
    ``template``."""
    valid_rev(rev)
    import subprocess  # only --base-ref needs it; importing it costs check/fix start-up time

    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--verify",
             "--end-of-options", f"{rev}^{{commit}}"],
            capture_output=True,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise EnvsyncError("--base-ref needs git, which is not installed") from None
    commit = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0 or not commit:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = reason[0] if reason else "no such commit"
        raise EnvsyncError(f"cannot read {template} at {rev}: {detail}")
    return commit


def read_base_ref(template: Path, rev: str) -> str:
    """The template as it was at git revision ``rev`` (``git show COMMIT:./name``, ``rev``
    resolved to a commit first: :func:`resolve_rev`)."""
    directory = template.parent if str(template.parent) else Path(".")
    spec = f"{resolve_rev(directory, rev, template)}:./{template.name}"
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "show", "--end-of-options", spec],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise EnvsyncError("--base-ref needs git, which is not installed") from None
    if proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = reason[0] if reason else f"git exited {proc.returncode}"
        raise EnvsyncError(f"cannot read {template} at {rev}: {detail}")
    data = proc.stdout
    if b"\x00" in data:
        raise EnvsyncError(f"cannot read {template} at {rev}: contains NUL bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EnvsyncError(
            f"cannot read {template} at {rev}: invalid UTF-8 at byte {e.start}"
        ) from None


def _from_option(job: Job) -> BaseChoice | None:
    """``--base PATH`` / ``--base-ref REV`` (or the configuration's ``base``/``base_ref``)."""
    if job.base is not None:
        side = index(str(job.base), parse(files.read_text(job.base, "base template")))
        return BaseChoice(side, "option", f"--base {job.base}")
    if job.base_ref is not None:
        text = read_base_ref(job.template, job.base_ref)
        side = index(f"{job.template}@{job.base_ref}", parse(text))
        return BaseChoice(side, "option", f"--base-ref {job.base_ref}")
    return None


def choose_base(job: Job, template: Side) -> BaseChoice:
    """The base of ``job``'s template: option > sync record > hook ref > git history > none."""
    if job.no_base:
        return BaseChoice(None, "none", "--no-base")
    chosen = _from_option(job)
    if chosen is not None:
        return chosen
    return BaseChoice(None, "none")
