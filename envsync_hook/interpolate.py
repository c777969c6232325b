"""Compose-go's variable interpolation (``template`` package), as dotenv files use it.

``$$`` is a literal dollar; ``$NAME`` and ``${NAME}`` look the name up; ``${NAME:-d}``,
``${NAME-d}``, ``${NAME:+a}``, ``${NAME+a}``, ``${NAME:?msg}`` and ``${NAME?msg}`` behave as
in the shell; a malformed ``${`` is an error. The structure follows compose-go so that its
quirks (greedy braces, nested defaults) come out the same.
"""

from __future__ import annotations

import re
from bisect import bisect_left

from envsync_hook.lean import TYPE_CHECKING, lazy_pattern

if TYPE_CHECKING:
    from typing import Callable, Optional

    Lookup = Callable[[str], Optional[str]]


class TemplateError(ValueError):
    pass


#: a variable name where compose's pattern takes one (``(?i)`` as compose-go has it)
_NAME = lazy_pattern(r"(?i:[_a-z][_a-z0-9]*)")  # (0.7 ms to compile; most values hold no $)
#: braces, for :func:`_partners`
_BRACES = lazy_pattern(r"[{}]")
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

    __slots__ = ("end", "op", "out", "pos", "value")

    def __init__(self, pos: int, end: int) -> None:
        self.pos = pos
        self.end = end
        self.out: list[str] = []
        # the reference waiting for this frame's child (its default word): operator, value
        self.op = ""
        self.value: str | None = None


def _combine(op: str, value: str | None, default: str) -> str:
    """compose-go's ``-``, ``:-``, ``+`` and ``:+`` with the default word already interpolated."""
    if op in ("-", ":-"):
        if value is None or (op == ":-" and value == ""):
            return default
        return value
    if value is not None and (op == "+" or value != ""):
        return default
    return value or ""


class _Braces:
    """Where a braced reference of ``text`` ends, with what that needs computed once, on first
    use: the newline offsets (a reference's ``}`` is looked for on its own line) and the
    brace partners (:func:`_partners`)."""

    __slots__ = ("_newlines", "_partner", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._newlines: list[int] | None = None
        self._partner: dict[int, int] | None = None

    def close(self, p: int, op_end: int, end: int) -> int:
        """The offset of the ``}`` that ends the reference ``${NAME<op>...`` at ``p`` whose
        word starts at ``op_end``, within a range ending at ``end``: the brace partnering the
        ``{`` if it comes before the pattern's ``(.*)\\}`` (the last ``}`` on the line), else
        that last one. Raises :class:`TemplateError` when the line has none."""
        text = self.text
        if self._newlines is None:
            self._newlines = [m.start() for m in re.finditer("\n", text)]
        i = bisect_left(self._newlines, p)
        line_end = min(end, self._newlines[i]) if i < len(self._newlines) else end
        last = text.rfind("}", op_end, line_end)
        if last < 0:
            raise TemplateError(_INVALID)
        if self._partner is None:
            self._partner = _partners(text)
        close = self._partner.get(p + 1, -1)
        return last if close < 0 or close > last else close


def substitute(template: str, lookup: Lookup) -> str:
    """Interpolate ``template``; raises :class:`TemplateError` as compose would.

    The same result as compose-go's recursive ``substitute`` (``tests/interp_reference.py``
    keeps a direct port, and a test compares the two), computed with an explicit stack and
    offsets into ``template``: no recursion limit on nesting (``${A:-${A:-...}}``), and linear
    time on long lines of references (the port rescanned each line from every ``${``). The
    first error in evaluation order is raised, as compose-go reports it.

    Each frame of the stack is a range being interpolated (:func:`_run`); a reference with a
    default word pushes the word's frame, and its value is combined with the reference's when
    the word is done.
    """
    if "$" not in template:
        return template
    braces = _Braces(template)
    stack = [_Frame(0, len(template))]
    while True:
        frame = stack[-1]
        child = _run(braces, frame, lookup)
        if child is not None:
            stack.append(child)
            continue
        stack.pop()
        done = "".join(frame.out)
        if not stack:
            return done
        parent = stack[-1]  # the default word of the parent's reference is ready
        parent.out.append(_combine(parent.op, parent.value, done))


def _run(braces: _Braces, frame: _Frame, lookup: Lookup) -> _Frame | None:
    """Interpolate ``frame``'s range from ``frame.pos``, appending to ``frame.out``, up to its
    end (returns None) or up to a reference with a default word (returns the word's frame;
    ``frame`` notes the reference and where to read on)."""
    text = braces.text
    pos, end, out = frame.pos, frame.end, frame.out
    while True:
        p = text.find("$", pos, end)
        if p < 0:
            out.append(text[pos:end])
            return None
        out.append(text[pos:p])
        c = text[p + 1] if p + 1 < end else ""
        if c == "$":
            out.append("$")
            pos = p + 2
        elif c != "{":
            m = _NAME.match(text, p + 1, end)
            if m is None:
                out.append("$")  # a dollar that starts no reference is literal
                pos = p + 1
            else:
                out.append(lookup(m.group()) or "")
                pos = m.end()
        else:
            after = _braced(braces, frame, p, end, lookup)
            if isinstance(after, _Frame):
                return after
            pos = after


def _braced(braces: _Braces, frame: _Frame, p: int, end: int, lookup: Lookup) -> int | _Frame:
    """The reference ``${...}`` at ``p``: ``${NAME}`` and ``${NAME?msg}`` forms append their
    value to ``frame.out`` and return the offset after the reference; a form with a default
    word (``-``, ``:-``, ``+``, ``:+``) is noted in ``frame`` and returns the word's frame.
    Raises :class:`TemplateError` as compose would."""
    text = braces.text
    m = _NAME.match(text, p + 2, end)
    if m is None:
        raise TemplateError(_INVALID)
    name, name_end = m.group(), m.end()
    c = text[name_end] if name_end < end else ""
    if c == "}":
        frame.out.append(lookup(name) or "")
        return name_end + 1
    if c == ":" and name_end + 1 < end and text[name_end + 1] in "-+?":
        op = text[name_end : name_end + 2]
    elif c in ("-", "+", "?") and c:
        op = c
    else:
        raise TemplateError(_INVALID)
    op_end = name_end + len(op)
    close = braces.close(p, op_end, end)
    value = lookup(name)
    if op in ("?", ":?"):
        if value is None or (op == ":?" and value == ""):
            arg = text[op_end:close]
            if arg:
                raise TemplateError(f"required variable {name} is missing a value: {arg}")
            raise TemplateError(f"required variable {name} is missing a value")
        frame.out.append(value)
        return close + 1  # the text after the reference's brace is read on
    frame.op, frame.value = op, value
    frame.pos = close + 1  # where the frame reads on once the word is done
    return _Frame(op_end, close)


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
