"""Counting findings across pairs, and the one-line summary the text-like reports end with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import itemgetter

from envsync_hook.findings import RULES, SEVERITIES, PairResult, severity_fails
from envsync_hook.lean import NamedTuple

_SEVERITY, _CODE = itemgetter(4), itemgetter(2)  # (Finding.severity, Finding.code)


class Counts(NamedTuple):
    """Finding counts over all pairs of a run."""

    by_severity: dict[str, int]  # every severity, zero included
    by_code: dict[str, int]  # every rule code, zero included, in rule order
    total: int
    failed: bool  # some finding is at or above fail-on
    pairs: int
    skipped: int
    changed: int


def count(results: Sequence[PairResult], fail_on: str) -> Counts:
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_code = {rule.code: 0 for rule in RULES}
    total = 0
    failed = False
    for pair in results:
        # (counted in C, a Counter of each column: 16,000 findings, 12 -> 4 ms; a severity
        # and a code are added in the order they first occur, as one finding at a time would)
        severities = Counter(map(_SEVERITY, pair.findings))
        for severity, n in severities.items():
            by_severity[severity] = by_severity.get(severity, 0) + n
            # (Finding.at_or_above of the first finding of each severity, in that order)
            failed = failed or severity_fails(severity, fail_on)
        for code, n in Counter(map(_CODE, pair.findings)).items():
            by_code[code] = by_code.get(code, 0) + n
        total += len(pair.findings)
    return Counts(
        by_severity,
        by_code,
        total,
        failed,
        pairs=len(results),
        skipped=sum(1 for p in results if p.skipped),
        changed=sum(1 for p in results if p.changed),
    )


def plural(n: int, word: str) -> str:
    """``1 key``, ``2 keys``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(counts: Counts, fail_on: str) -> str:
    """``2 errors, 1 warning, 3 info in 1 pair (fail-on: error)``.

    Skipped and changed pairs are named when there are any:
    ``0 errors, 0 warnings, 0 info in 2 pairs, 1 skipped (fail-on: error)``.
    """
    sev = counts.by_severity
    text = (
        f"{plural(sev['error'], 'error')}, {plural(sev['warning'], 'warning')}, "
        f"{sev['info']} info in {plural(counts.pairs, 'pair')}"
    )
    if counts.skipped:
        text += f", {counts.skipped} skipped"
    if counts.changed:
        text += f", {counts.changed} changed"
    return f"{text} (fail-on: {fail_on})"


#: how each ``PairResult.base_source`` is named in reports
BASE_SOURCE_NAMES = {
    "option": "option",
    "record": "sync record",
    "hook": "commit before the checkout/merge",
    "git-history": "git history",
}


def base_line(pair: PairResult) -> str:
    """Which base a pair was compared with, and where it came from (``""`` for a skipped pair).

    ``.env: base from sync record: env-backup/.env.sync (synced 2026-12-04 16:30)``;
    ``.env: no base (two-way)``.
    """
    if pair.skipped:
        return ""
    detail = f": {pair.base_detail}" if pair.base_detail else ""
    name = BASE_SOURCE_NAMES.get(pair.base_source)
    if name is None:
        return f"{pair.env}: no base (two-way){detail}"
    return f"{pair.env}: base from {name}{detail}"


def skip_notice(pair: PairResult) -> str:
    """The line that stands for a skipped pair."""
    return pair.notice or f"{pair.env}: skipped (template {pair.template})"


def upgrade_line(results: Sequence[PairResult], command: str) -> str:
    """Three-way news: how many stale defaults fix updates (or updated), how many conflicts.

    Empty when there are neither (no base, or nothing changed upstream).
    """
    stale = taken = conflicts = 0
    for pair in results:
        for f in pair.findings:
            if f.code == "ENV004":
                stale += 1
                if "fix keeps it" not in f.message and (command != "fix" or pair.changed):
                    taken += 1
            elif f.code == "ENV005":
                conflicts += 1
    if not stale and not conflicts:
        return ""
    parts = []
    if stale:
        if command == "fix":
            parts.append(f"{plural(stale, 'stale default')}, {taken} updated")
        elif taken == stale:
            parts.append(f"{plural(stale, 'stale default')} (fix takes the new default)")
        else:  # (a secret in use, and what one reads, are kept; so is all with --keep-stale)
            parts.append(
                f"{plural(stale, 'stale default')} (fix takes the new default for {taken}, "
                f"keeps {stale - taken})"
            )
    if conflicts:
        verb = "needs" if conflicts == 1 else "need"
        parts.append(f"{plural(conflicts, 'conflict')} {verb} a decision (fix keeps yours)")
    return "upgrade: " + "; ".join(parts)
