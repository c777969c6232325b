"""The ``github`` report: workflow commands that GitHub Actions shows as annotations.

``::error file=.env.example,line=3,title=ENV001 missing-key::DB_HOST: message``

Escaping follows ``@actions/core`` (``toolkit/packages/core/src/command.ts``): the message
escapes ``%``, CR and LF; property values also escape ``:`` and ``,``.
:func:`step_summary` renders the Markdown the CLI appends to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

from collections.abc import Sequence

from envsync_hook.escaping import escape_controls
from envsync_hook.findings import Finding, PairResult
from envsync_hook.lean import TYPE_CHECKING
from envsync_hook.reporters.summary import base_line, count, skip_notice, summary_line

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions

#: finding severity -> workflow command
COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(s: str) -> str:
    """Escape a command's message (``escapeData`` in ``@actions/core``), after escaping every
    other control character (:func:`~envsync_hook.escaping.escape_controls`): the log shows no
    raw escape sequence."""
    s = escape_controls(s, keep="\r\n")
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    """Escape a command's property value (``escapeProperty`` in ``@actions/core``)."""
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(name: str, properties: Sequence[tuple[str, str]], message: str) -> str:
    """``::name k=v,k=v::message``, every part escaped."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties)
    head = f"::{name} {props}" if props else f"::{name}"
    return f"{head}::{escape_data(message)}"


def annotation(f: Finding) -> str:
    props = [("file", f.file)]
    if f.line > 0:
        props.append(("line", str(f.line)))
    props.append(("title", f"{f.code} {f.slug}"))
    message = f"{f.key}: {f.message}" if f.key else f.message
    return command(COMMANDS.get(f.severity, "warning"), props, message)


def on_template(f: Finding, pair: PairResult) -> Finding:
    """``f`` as an annotation shows it: on the pair's template, never on the env file, which
    is git-ignored (GitHub cannot show it). A finding in the env file names the file and its
    line in the message instead; no value is added."""
    if f.file != pair.env or pair.env == pair.template:
        return f
    where = f"{f.file}, line {f.line}" if f.line > 0 else f.file
    return f._replace(file=pair.template, line=0, message=f"{f.message} ({where})")


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    """One annotation a finding, a notice a skipped pair, then the summary as a plain log line."""
    lines: list[str] = []
    for pair in results:
        if pair.skipped:
            lines.append(command("notice", [("title", "envsync skipped")], skip_notice(pair)))
        lines.extend(annotation(on_template(f, pair)) for f in pair.findings)
    lines.append(summary_line(count(results, options.fail_on), options.fail_on))
    return "\n".join(lines) + "\n"


_MARKDOWN_SPECIAL = "\\`*_[]<>|~"
_MARKDOWN_ESCAPES = str.maketrans(
    {**{c: "\\" + c for c in _MARKDOWN_SPECIAL}, "\r": " ", "\n": " "}
)


def escape_cell(s: str) -> str:
    """Text for a Markdown table cell: ``|`` and inline markup escaped, one line, no control
    character."""
    return escape_controls(s, keep="\r\n").translate(_MARKDOWN_ESCAPES)


def step_summary(results: Sequence[PairResult], options: ReportOptions) -> str:
    """Markdown: a heading, the counts, skipped pairs, and a table of every finding."""
    counts = count(results, options.fail_on)
    verdict = "failed" if counts.failed else "passed"
    out = [
        f"## envsync {options.command}: {verdict}",
        "",
        summary_line(counts, options.fail_on),
        "",
    ]
    bases = [escape_cell(base_line(p)) for p in results if not p.skipped]
    if bases:
        out.extend(f"- {line}" for line in bases)
        out.append("")
    skipped = [escape_cell(skip_notice(p)) for p in results if p.skipped]
    if skipped:
        out.extend(f"- skipped: {notice}" for notice in skipped)
        out.append("")
    if not counts.total:
        out.append("No findings.")
        return "\n".join(out) + "\n"
    out.append("| File | Line | Code | Slug | Key | Message |")
    out.append("| --- | ---: | --- | --- | --- | --- |")
    for pair in results:
        for f in pair.findings:
            cells = (
                f.file,
                str(f.line) if f.line > 0 else "",
                f.code,
                f.slug,
                f.key,
                f.message,
            )
            out.append("| " + " | ".join(escape_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"
