"""Findings: small immutable values with a stable code, and the rule table.

Kept free of pydantic and dataclasses so that the default (text) path stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

from envsync_hook.lean import NamedTuple

SEVERITIES = ("error", "warning", "info")
#: rank used for ``--fail-on`` comparisons; higher is more severe.
SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}
FAIL_ON_CHOICES = ("error", "warning", "info", "never")


class Rule(NamedTuple):
    code: str
    slug: str
    severity: str
    summary: str


RULES: tuple[Rule, ...] = (
    Rule("ENV001", "missing-key", "error", "The template assigns the key; the env file does not."),
    Rule(
        "ENV002",
        "extra-key",
        "warning",
        "The env file assigns a key that no template of the set defines "
        "(not even as a commented-out assignment).",
    ),
    Rule(
        "ENV003",
        "changed-default",
        "info",
        "The env file's value differs from the template default (a customisation).",
    ),
    Rule(
        "ENV004",
        "stale-default",
        "warning",
        "The env file holds the previous template's default, which the template changed; "
        "fix takes the new default.",
    ),
    Rule(
        "ENV005",
        "conflict",
        "warning",
        "The operator customised the value and the template default changed; "
        "fix keeps the operator's value.",
    ),
    Rule(
        "ENV006",
        "duplicate-key",
        "warning",
        "The env file assigns the key more than once (Docker Compose uses the last).",
    ),
    Rule("ENV007", "syntax-error", "error", "A line that Docker Compose would reject."),
    Rule(
        "ENV008",
        "relocated-key",
        "info",
        "The key is not in the primary template but in another template of the set.",
    ),
    Rule(
        "ENV009",
        "renamed-key",
        "info",
        "Hint: a key that left the template looks renamed to a key that arrived.",
    ),
    Rule(
        "ENV010",
        "new-optional-key",
        "info",
        "The template gained a commented-out assignment that the env file does not set.",
    ),
    Rule(
        "ENV011",
        "unsafe-permissions",
        "warning",
        "The env file or a backup is readable or writable by group or others.",
    ),
    Rule("ENV012", "missing-env-file", "error", "The pair's env file does not exist."),
    Rule(
        "ENV013",
        "default-secret",
        "warning",
        "A secret-looking key holds a default published by the template or the base: anyone "
        "who can read the template knows it.",
    ),
)

RULES_BY_CODE = {r.code: r for r in RULES}
RULES_BY_SLUG = {r.slug: r for r in RULES}

#: the kinds of change reported in ``Finding.analysis`` for ENV003-ENV005
ANALYSIS_KINDS = (
    "empty-to-value",
    "value-to-empty",
    "numeric-increase",
    "numeric-decrease",
    "boolean-toggle",
    "url-change",
    "path-change",
    "text-change",
)


#: what ENV013 adds for a key that ``fix --generate-secrets KEY`` refuses alone (key names only
#: in ``-v``'s view of each finding; a report groups the findings without it, and ``next:``
#: suggests no such key)
SECRET_SHARED = (
    "; other secret-looking keys hold the same value: choose them with it (fix refuses it alone)"
)
SECRET_INSIDE = (
    "; another key holds its value inside its own (a URL): change both by hand (fix refuses it)"
)
SECRET_TIES = (SECRET_SHARED, SECRET_INSIDE)


#: each kind of change said in the operator's frame: what the template default is, relative to
#: the value in the env file (the messages of ENV003-ENV005; the slugs stay in ``analysis``)
ANALYSIS_TEXT = {
    "empty-to-value": "template default is set, yours is empty",
    "value-to-empty": "template default is empty",
    "numeric-increase": "template default is higher than yours",
    "numeric-decrease": "template default is lower than yours",
    "boolean-toggle": "template default is the other way round",
    "url-change": "template default is a different URL",
    "path-change": "template default is a different path",
    "text-change": "template default is a different value",
}


class Finding(NamedTuple):
    """One problem found in one pair. Sorts by file, line, code."""

    file: str
    line: int
    code: str
    slug: str
    severity: str
    key: str
    message: str
    analysis: str | None = None

    def at_or_above(self, fail_on: str) -> bool:
        return severity_fails(self.severity, fail_on)


def severity_fails(severity: str, fail_on: str) -> bool:
    """Whether a finding of ``severity`` fails a run with ``--fail-on fail_on``."""
    return fail_on != "never" and SEVERITY_RANK[severity] >= SEVERITY_RANK[fail_on]


_new_finding = tuple.__new__  # (a finding without the NamedTuple constructor's Python call)


def make_finding(
    code: str,
    key: str,
    file: str,
    line: int,
    message: str,
    severity: str | None = None,
    analysis: str | None = None,
) -> Finding:
    rule = RULES_BY_CODE[code]
    return _new_finding(
        Finding, (file, line, code, rule.slug, severity or rule.severity, key, message, analysis)
    )


#: first characters (after spaces) of what ``float`` reads: digits, sign, point, inf, nan
_NUMBER_START = frozenset("0123456789+-.iInN")


def _number(s: str) -> float | None:
    t = s.strip()
    # most values are no number: skip the exception (float also reads non-ASCII digits)
    if not t or (t[0] not in _NUMBER_START and t[0].isascii()):
        return None
    try:
        return float(t)
    except ValueError:
        return None


_BOOLS = {"true", "false", "yes", "no", "on", "off", "1", "0", "enabled", "disabled"}


def analyse_change(current: str, default: str) -> str:
    """Describe what adopting ``default`` in place of ``current`` would do.

    Dify's script reports the same kinds: ``.env`` ``20``, template ``10`` is a
    ``numeric-decrease``.
    """
    if current == "" and default != "":
        return "empty-to-value"
    if default == "" and current != "":
        return "value-to-empty"
    a, b = _number(current), _number(default)
    if a is not None and b is not None and a != b:
        return "numeric-increase" if b > a else "numeric-decrease"
    if current.lower() in _BOOLS and default.lower() in _BOOLS:
        return "boolean-toggle"
    if "://" in current or "://" in default:
        return "url-change"
    if current.startswith(("/", "./", "../", "~")) or default.startswith(("/", "./", "../", "~")):
        return "path-change"
    return "text-change"


class FixActions(NamedTuple):
    """What fix did (or, in a dry run, would do) to one env file: the text report's account.

    Key names only, never values.
    """

    added: tuple[str, ...] = ()  # template keys the env file lacked, added with their defaults
    updated: tuple[str, ...] = ()  # stale defaults replaced by the new default
    taken: tuple[str, ...] = ()  # customised values replaced on request (--take-template)
    kept: int = 0  # operator values that differ from the template default, kept
    trailing: tuple[str, ...] = ()  # keys no template line assigns, kept at the end
    dropped: tuple[str, ...] = ()  # keys not written (safe to drop, or --prune)
    conflicts: tuple[str, ...] = ()  # customised, and the default changed: left to review
    backup: str = ""  # the backup made before writing ("" when none)
    created: bool = False  # the env file did not exist and was created from the template
    dry_run: bool = False  # nothing was written (--dry-run or --diff)
    relocated: int = 0  # of ``trailing``: keys another template of the set now defines
    #: keys the env file assigns more than once, written once: their earlier assignments
    #: (which Docker Compose overrode with the last) are not in the result, only in the backup
    duplicates: tuple[str, ...] = ()
    #: keys given a fresh random value (--generate-secrets); not in the lists above, which say
    #: the template default or the operator's value was written
    generated: tuple[str, ...] = ()


#: what joins the lines of a notice of several (``PairResult.notice``): a NUL, which no path
#: (the system refuses it), key (the parser refuses the file) or message holds, so that a
#: newline in a path stays part of its line: each line is escaped on its own when printed
NOTICE_BREAK = "\x00"


def joined_notice(*lines: str) -> str:
    """The non-empty ``lines`` as one notice (``PairResult.notice``), joined by NOTICE_BREAK."""
    return NOTICE_BREAK.join(line for line in lines if line)


class PairResult(NamedTuple):
    """What one template/env pair produced: the input of every reporter."""

    template: str  # template path as given (display form)
    env: str  # env path as given (display form)
    findings: tuple[Finding, ...]
    #: every key the check looked at, with its location: (key, file, line).
    #: Template keys first (template location), then env-only keys (env location).
    keys: Sequence[tuple[str, str, int]] = ()
    skipped: bool = False  # ``--if-missing skip`` and the env file does not exist
    changed: bool = False  # fix rewrote (or would rewrite) the env file
    duration: float = 0.0  # seconds spent on this pair
    #: notice for the user (skipped pair, backup made, ...): one line, or several joined by
    #: NOTICE_BREAK (see :func:`joined_notice`)
    notice: str = ""
    #: where the three-way base came from: option | record | hook | git-history | none
    base_source: str = "none"
    #: human text about the base: which file or commit, how many keys matched
    base_detail: str = ""
    #: how many templates the pair's set holds (the template and its ``--also`` templates)
    set_size: int = 1
    #: fix only: what it did (None for check, and for a pair fix skipped)
    fixed: FixActions | None = None
    #: two-way: the template's commented-out assignments (``# KEY=value``) the env file does not
    #: set: counted, not reported key by key (with a base, ENV010 names the ones it gained)
    offers: int = 0
    #: the ENV013 keys that are opt-ins: the template offers them commented out (``# KEY=``),
    #: so their findings stand at the env file's line, yet the services read them
    opt_in_secrets: frozenset[str] = frozenset()
