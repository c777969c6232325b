"""Reporters: plain functions in a dict keyed by format name.

Every reporter is ``render(results, options) -> str`` and returns the whole report, ending in
one newline, for the CLI to write to stdout or a file. Reporters print nothing, read nothing and
see only :class:`~envsync_hook.findings.PairResult` values, which hold no values of either file.

Each format lives in its own module and is imported on first use, so importing this package
(and the ``text`` path) never imports pydantic, XML or JSON machinery.
"""

from __future__ import annotations

import importlib

from envsync_hook.lean import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from envsync_hook.findings import PairResult

    Reporter = Callable[[Sequence[PairResult], "ReportOptions"], str]


class ReportOptions(NamedTuple):
    """What a reporter needs beyond the results; built once by the CLI."""

    fail_on: str  # one of findings.FAIL_ON_CHOICES
    color: bool  # ANSI colour (text only); the CLI decides from the TTY, NO_COLOR, --color
    version: str  # envsync-hook's version, for reports that name the tool
    command: str = "check"  # "check" or "fix"
    #: absolute path of the directory the report's relative paths start from (the repository
    #: root for ``github`` and ``sarif``, see locate.py); "" when unknown
    root: str = ""
    #: text only: -1 ``-q`` (errors and the summary), 0 the grouped screenful, 1 ``-v`` (every
    #: finding, one a line)
    verbosity: int = 0
    #: text only: this run's arguments, shell-quoted, for the commands ``next:`` suggests
    #: (without the subcommand and the report options)
    rerun: str = ""
    #: the same for a suggested ``check``: without the options only fix takes (None: ``rerun``)
    rerun_check: str | None = None
    #: the same for the fix that writes what a dry run showed: with ``--generate-secrets``
    #: (None: ``rerun``)
    rerun_write: str | None = None
    #: text only: whether a suggested ``fix`` could run (not on ``--env -``, a pipe)
    can_fix: bool = True
    show_values: bool = False  # the run printed values (``next:`` does not suggest it again)
    width: int = 100  # text only: where packed key lists wrap


#: format name -> module holding its ``render``
_MODULES = {
    "text": "envsync_hook.reporters.text",
    "json": "envsync_hook.reporters.json_report",
    "junit": "envsync_hook.reporters.junit",
    "github": "envsync_hook.reporters.github",
    "sarif": "envsync_hook.reporters.sarif",
}


def get_reporter(name: str) -> Reporter:
    """Import the reporter for format ``name`` and return its ``render``.

    Raises ``KeyError`` for an unknown format.
    """
    module = importlib.import_module(_MODULES[name])
    render: Reporter = module.render
    return render


def _lazy(name: str) -> Reporter:
    def render(results: Sequence[PairResult], options: ReportOptions) -> str:
        return get_reporter(name)(results, options)

    render.__name__ = render.__qualname__ = f"render_{name}"
    render.__doc__ = f"Render the {name} report (imports its module on first call)."
    return render


#: format name -> reporter; the CLI's ``--format`` choices are these keys.
REPORTERS: dict[str, Reporter] = {name: _lazy(name) for name in _MODULES}
FORMATS = tuple(REPORTERS)


def json_schema() -> str:
    """The JSON Schema of the ``json`` report (what ``envsync schema`` prints)."""
    from envsync_hook.reporters.json_report import json_schema as schema

    return schema()


def step_summary(results: Sequence[PairResult], options: ReportOptions) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: a heading, the counts and a table of all findings."""
    from envsync_hook.reporters.github import step_summary as summary

    return summary(results, options)


__all__ = [
    "FORMATS",
    "REPORTERS",
    "ReportOptions",
    "get_reporter",
    "json_schema",
    "step_summary",
]
