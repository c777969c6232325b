"""A direct port of compose-go's recursive interpolation: the reference that tests compare
``envsync_hook.interpolate`` with (kept as it was before the explicit-stack rewrite).

``$$`` is a literal dollar; ``$NAME`` and ``${NAME}`` look the name up; ``${NAME:-d}``,
``${NAME-d}``, ``${NAME:+a}``, ``${NAME+a}``, ``${NAME:?msg}`` and ``${NAME?msg}`` behave as
in the shell; a malformed ``${`` is an error. The structure follows compose-go so that its
quirks (greedy braces, nested defaults) come out the same.
"""

from __future__ import annotations

import re
from typing import Callable, Optional

Lookup = Callable[[str], Optional[str]]

_PATTERN = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))"
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class TemplateError(ValueError):
    pass


def _first_closing_brace(s: str) -> int:
    """compose-go's ``getFirstBraceClosingIndex``: every ``{`` opens (and skips the next
    character), every ``}`` closes; the index where the count returns to zero, or -1."""
    depth = 0
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "}":
            depth -= 1
            if depth == 0:
                return i
        elif c == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operator(substring: str) -> str:
    best = ""
    best_at = -1
    for op in _OPERATORS:
        at = substring.find(op)
        if at >= 0 and (best_at < 0 or at < best_at):
            best, best_at = op, at
    return best


def _partition(s: str, sep: str) -> tuple[str, str]:
    if sep in s:
        name, _, rest = s.partition(sep)
        return name, rest
    return s, ""


def _apply(braced: str, op: str, lookup: Lookup) -> tuple[str, bool]:
    """compose-go's substitution functions; returns (value, applied)."""
    if not op or op not in braced:
        return "", False
    name, arg = _partition(braced, op)
    value = lookup(name)
    if op in ("?", ":?"):
        if value is None or (op == ":?" and value == ""):
            if arg:
                raise TemplateError(f"required variable {name} is missing a value: {arg}")
            raise TemplateError(f"required variable {name} is missing a value")
        return value, True
    default = substitute(arg, lookup)
    if op in ("-", ":-"):
        if value is None or (op == ":-" and value == ""):
            return default, True
        return value, True
    # "+" and ":+"
    if value is not None and (op == "+" or value != ""):
        return default, True
    return value or "", True


def _replace(substring: str, lookup: Lookup) -> str:
    op = _operator(substring)
    close = _first_closing_brace(substring)
    rest = ""
    if close > -1:
        rest = substring[close + 1 :]
        substring = substring[: close + 1]
    m = _PATTERN.search(substring)
    if m is None:
        raise TemplateError(f"Invalid template: {substring!r}")
    if m.group("escaped"):
        return "$"
    name = m.group("named")
    if not name:
        braced = m.group("braced")
        if not braced:
            raise TemplateError(f"Invalid template: {substring!r}")
        value, applied = _apply(braced, op, lookup)
        if applied:
            return value + substitute(rest, lookup)
        name = braced
    found = lookup(name)
    return "" if found is None else found


def substitute(template: str, lookup: Lookup) -> str:
    """Interpolate ``template``; raises :class:`TemplateError` as compose would."""
    if "$" not in template:
        return template
    first: list[TemplateError] = []

    def repl(m: re.Match[str]) -> str:
        try:
            return _replace(m.group(0), lookup)
        except TemplateError as e:
            if not first:
                first.append(e)
            return ""

    out = _PATTERN.sub(repl, template)
    if first:
        raise first[0]
    return out


def _no_lookup(name: str) -> str | None:
    return None


def check_template(template: str) -> str | None:
    """A message when ``template`` is malformed whatever the environment, else None."""
    try:
        substitute(template, _no_lookup)
    except TemplateError as e:
        msg = str(e)
        if msg.startswith("required variable"):
            return None
        return msg
    return None
