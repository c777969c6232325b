"""Compose-go's variable interpolation (``template`` package), as dotenv files use it.

``$$`` is a literal dollar; ``$NAME`` and ``${NAME}`` look the name up; ``${NAME:-d}``,
``${NAME-d}``, ``${NAME:+a}``, ``${NAME+a}``, ``${NAME:?msg}`` and ``${NAME?msg}`` behave as
in the shell; a malformed ``${`` is an error. The structure follows compose-go so that its
quirks (greedy braces, nested defaults) come out the same.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Callable, Optional

Lookup = Callable[[str], Optional[str]]


class TemplateError(ValueError):
    pass


#: a variable name where compose's pattern takes one (``(?i)`` as compose-go has it)
_NAME = re.compile(r"(?i:[_a-z][_a-z0-9]*)")
#: braces, for :func:`_partners`
_BRACES = re.compile(r"[{}]")
_INVALID = "Invalid template: '${'"


def _partners(template: str) -> dict[int, int]:
    """For each ``{`` that compose-go's ``getFirstBraceClosingIndex`` counts, the ``}`` that
    closes it: every ``{`` opens (and skips the next character), every ``}`` closes the
    innermost open one. One pass over the braces of the whole text, where compose-go scans
    again from each ``${`` (quadratic on a long line of them). Scanning from any ``${`` sees
    the same counts as this pass from there on (a ``$`` is never skipped into a brace), so the
    partner of the ``{`` after a ``$`` is where that scan returns to zero."""
    partner: dict[int, int] = {}
    stack: list[int] = []
    skip = -1
    for m in _BRACES.finditer(template):
        i = m.start()
        if i == skip:
            continue
        if template[i] == "{":
            stack.append(i)
            skip = i + 1
        elif stack:
            partner[stack.pop()] = i
    return partner


class _Frame:
    """One range of the template being interpolated: the whole value, or the default word of
    a ``${NAME:-word}`` (evaluated before the reference is decided, as compose does)."""

    __slots__ = ("end", "name", "op", "out", "pos", "resume", "value")

    def __init__(self, pos: int, end: int) -> None:
        self.pos = pos
        self.end = end
        self.out: list[str] = []
        # the reference waiting for this frame's child (its default word)
        self.name = ""
        self.op = ""
        self.value: str | None = None
        self.resume = 0


def _combine(op: str, value: str | None, default: str) -> str:
    """compose-go's ``-``, ``:-``, ``+`` and ``:+`` with the default word already interpolated."""
    if op in ("-", ":-"):
        if value is None or (op == ":-" and value == ""):
            return default
        return value
    if value is not None and (op == "+" or value != ""):
        return default
    return value or ""


def substitute(template: str, lookup: Lookup) -> str:
    """Interpolate ``template``; raises :class:`TemplateError` as compose would.

    The same result as compose-go's recursive ``substitute`` (``tests/interp_reference.py``
    keeps a direct port, and a test compares the two), computed with an explicit stack and
    offsets into ``template``: no recursion limit on nesting (``${A:-${A:-...}}``), and linear
    time on long lines of references (the port rescanned each line from every ``${``). The
    first error in evaluation order is raised, as compose-go reports it.
    """
    if "$" not in template:
        return template
    text = template
    n = len(text)
    partner: dict[int, int] | None = None
    newlines: list[int] | None = None
    stack = [_Frame(0, n)]
    done: str | None = None
    while True:
        frame = stack[-1]
        if done is not None:  # the default word of the frame's reference is ready
            frame.out.append(_combine(frame.op, frame.value, done))
            frame.pos = frame.resume
            done = None
        pos, end, out = frame.pos, frame.end, frame.out
        child: _Frame | None = None
        while True:
            p = text.find("$", pos, end)
            if p < 0:
                out.append(text[pos:end])
                break
            out.append(text[pos:p])
            c = text[p + 1] if p + 1 < end else ""
            if c == "$":
                out.append("$")
                pos = p + 2
                continue
            if c != "{":
                m = _NAME.match(text, p + 1, end)
                if m is None:
                    out.append("$")  # a dollar that starts no reference is literal
                    pos = p + 1
                else:
                    out.append(lookup(m.group()) or "")
                    pos = m.end()
                continue
            m = _NAME.match(text, p + 2, end)
            if m is None:
                raise TemplateError(_INVALID)
            name, name_end = m.group(), m.end()
            c = text[name_end] if name_end < end else ""
            if c == ":" and name_end + 1 < end and text[name_end + 1] in "-+?":
                op = text[name_end : name_end + 2]
            elif c in ("-", "+", "?") and c:
                op = c
            elif c == "}":
                out.append(lookup(name) or "")
                pos = name_end + 1
                continue
            else:
                raise TemplateError(_INVALID)
            op_end = name_end + len(op)
            # the pattern's ``(.*)\}``: the last ``}`` on the line, within this range
            if newlines is None:
                newlines = [m.start() for m in re.finditer("\n", text)]
            i = bisect_left(newlines, p)
            line_end = min(end, newlines[i]) if i < len(newlines) else end
            last = text.rfind("}", op_end, line_end)
            if last < 0:
                raise TemplateError(_INVALID)
            if partner is None:
                partner = _partners(text)
            close = partner.get(p + 1, -1)
            if close > last:
                close = -1
            head_end = last if close < 0 else close
            value = lookup(name)
            if op in ("?", ":?"):
                if value is None or (op == ":?" and value == ""):
                    arg = text[op_end:head_end]
                    if arg:
                        raise TemplateError(f"required variable {name} is missing a value: {arg}")
                    raise TemplateError(f"required variable {name} is missing a value")
                out.append(value)
                pos = head_end + 1  # the text after the reference's brace is read on
                continue
            frame.name, frame.op, frame.value = name, op, value
            frame.resume = head_end + 1
            child = _Frame(op_end, head_end)
            break
        if child is not None:
            frame.pos = pos
            stack.append(child)
            continue
        stack.pop()
        done = "".join(out)
        if not stack:
            return done


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
