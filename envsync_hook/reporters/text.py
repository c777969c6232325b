"""The ``text`` report: one line a finding, then a summary line.

``docker/.env.example:12: ENV001 missing-key DB_HOST: message``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from envsync_hook.escaping import escape
from envsync_hook.findings import Finding, PairResult
from envsync_hook.reporters.summary import (
    base_line,
    count,
    skip_notice,
    summary_line,
    upgrade_line,
)

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_SEVERITY_COLOR = {"error": "\x1b[31m", "warning": "\x1b[33m", "info": "\x1b[36m"}
_GREEN = "\x1b[32m"


def one_line(s: str) -> str:
    """``s`` made safe for a terminal (:func:`envsync_hook.escaping.escape`): control
    characters escaped (``a\\nb`` for a line break), no workflow command."""
    return escape(s)


def location(file: str, line: int) -> str:
    """``file:line``, or ``file`` alone when the finding has no line (``line`` 0)."""
    return f"{file}:{line}" if line > 0 else file


def format_finding(f: Finding, color: bool = False) -> str:
    """``path:line: CODE slug KEY: message`` (no ``KEY`` part when the finding has no key).

    Control characters in the path, key and message are escaped (:func:`one_line`).
    """
    where = location(one_line(f.file), f.line)
    rule = f"{f.code} {f.slug}"
    if color:
        where = f"{_BOLD}{where}{_RESET}"
        rule = f"{_SEVERITY_COLOR.get(f.severity, '')}{rule}{_RESET}"
    head = f"{where}: {rule} {one_line(f.key)}" if f.key else f"{where}: {rule}"
    return f"{head}: {one_line(f.message)}"


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    """The text report: findings in the order given, skipped pairs' notices, a summary."""
    lines: list[str] = []
    for pair in results:
        based = base_line(pair)  # (header: which base the pair was compared with)
        if based:
            lines.append(one_line(based))
        if pair.skipped:
            notice = one_line(skip_notice(pair))
            lines.append(f"{_DIM}{notice}{_RESET}" if options.color else notice)
        lines.extend(format_finding(f, options.color) for f in pair.findings)
    counts = count(results, options.fail_on)
    summary = summary_line(counts, options.fail_on)
    if options.color:
        if counts.failed:
            tone = _SEVERITY_COLOR["error"]
        elif counts.total:
            tone = _SEVERITY_COLOR["warning"]
        else:
            tone = _GREEN
        summary = f"{_BOLD}{tone}{summary}{_RESET}"
    upgrade = upgrade_line(results, options.command)
    if upgrade:
        lines.append(upgrade)
    lines.append(summary)
    return "\n".join(lines) + "\n"
