"""Lossless dotenv documents, read the way Docker Compose v2 reads them.

The document keeps the input text itself; every binding is a set of offsets into it,
so rendering is the identity and an edit is a splice. The scanner follows compose-go's
``dotenv`` parser statement by statement (see DESIGN.md section 3 and the vectors in
``tests/data/dotenv-vectors.jsonl``): where this module and compose-go disagree, compose-go
is right and this module has a bug.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from itertools import chain
from typing import NamedTuple

from envsync_hook.interpolate import TemplateError, check_template, substitute

# Go's unicode.IsSpace (the White_Space property) and the parser's own isSpace (no \n).
GO_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_INLINE_SPACE = "\t\x0b\x0c\r \x85\xa0"

#: first characters of a line or a value that the line-at-a-time path looks at twice
_LINE_SPACE = frozenset(_GO_SPACE_CHARS)
_VALUE_SPECIAL = frozenset(_INLINE_SPACE + "\"'")
_INLINE_SPACES = re.compile("[" + _INLINE_SPACE + "]*")
# statement head: skipped blanks and comments (1), an ``export`` prefix (2), the key run (3)
_HEAD = re.compile(
    r"((?:[" + GO_SPACE + r"]+|#[^\n]*)*)"
    r"(export(?=[\t\n\f\r ])[" + _INLINE_SPACE + r"]*)?"
    r"([\w.\-\[\] \t\x0b\x0c\r\x85\xa0]*)"
    # fast path: ``=`` or ``:``, spaces, then an unquoted value up to the end of the line (4)
    r"(?:[=:](?![" + _INLINE_SPACE + r"]*[\"'])[" + _INLINE_SPACE + r"]*([^\n]*))?"
)
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_SINGLE = re.compile(r"'((?:[^'\\]|\\.)*)'", re.S)
_ESCAPES = re.compile(r"""\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})""")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
#: a commented-out assignment: ``^\ufeff?[ \t]*`` (checked by hand), then this pattern, which
#: starts with a literal and so is searched for quickly, from '#' to '#'
_COMMENTED_BODY = re.compile(r"#[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*=[^\n]*)")


class DotenvSyntaxError(ValueError):
    """What Docker Compose would reject. ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


class Binding(NamedTuple):
    """One ``KEY=value`` statement, as offsets into the document text."""

    key: str
    line: int  # 1-based line of the statement's start
    start: int  # offset of the statement (``export`` or the key)
    value_start: int  # offset of the raw value text (after ``=`` and spaces)
    value_end: int  # offset just past the raw value (closing quote, or last non-space char)
    quote: str  # "", "'" or '"'
    #: the value in interpolation-template form, before interpolation: ``$$`` is a literal
    #: dollar, ``${A}`` a reference. Two values are equal when these are equal.
    template: str
    inherited: bool = False  # a bare ``KEY`` line: the value comes from the environment


_new_binding = tuple.__new__


def _skip_inline(text: str, pos: int) -> int:
    m = _INLINE_SPACES.match(text, pos)
    return pos if m is None else m.end()


class Commented(NamedTuple):
    """A commented-out assignment such as ``# KEY=value`` (an opt-in the template offers)."""

    key: str
    line: int
    start: int  # offset of the comment line's first character
    template: str


class SyntaxIssue(NamedTuple):
    line: int  # the true 1-based line
    offset: int
    message: str
    #: the line number compose-go reports, which lags ``line`` by one after each bare
    #: ``KEY `` line with a trailing space (a quirk of its counter); 0: same as ``line``
    compose_line: int = 0


class Document:
    """A parsed dotenv text. ``str(doc)`` and ``doc.render()`` give back the input exactly."""

    __slots__ = ("_commented", "bindings", "errors", "text")

    def __init__(self, text: str, bindings: list[Binding], errors: list[SyntaxIssue]) -> None:
        self.text = text
        self.bindings = bindings
        self.errors = errors
        self._commented: list[Commented] | None = None

    def render(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Document {len(self.bindings)} bindings, {len(self.errors)} errors>"

    @property
    def commented(self) -> list[Commented]:
        """Commented-out assignments (``# KEY=value``) outside quoted values."""
        if self._commented is None:
            self._commented = _find_commented(self)
        return self._commented

    def values(self) -> dict[str, str]:
        """Key -> value template (last assignment wins), inherited keys excluded."""
        return {b.key: b.template for b in self.bindings if not b.inherited}

    def line_of(self, offset: int) -> int:
        return self.text.count("\n", 0, offset) + 1


def _go_key_ok(key: str) -> str | None:
    """The first character of ``key`` compose-go rejects, for non-ASCII keys."""
    import unicodedata

    for ch in key:
        if ch.isascii() or ch in _INLINE_SPACE:
            continue
        if unicodedata.category(ch)[0] not in "LN":
            return ch
    return None


def _go_quote(s: str) -> str:
    """Go's %q, close enough for error messages."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return '"' + out + '"'


def _expand_escape(m: re.Match[str]) -> str:
    s = m.group(0)
    c = s[1]
    if c == "$":
        return "$$"
    if c == "0":
        # compose-go rewrites ``\0NNN`` to ``\NNN`` and unquotes it as Go would; when that
        # fails (fewer than three digits, 8 or 9, over 0377) the rewritten text stays.
        digits = s[2:]
        if len(digits) == 3 and "8" not in digits and "9" not in digits:
            code = int(digits, 8)
            if code <= 0o377:
                return chr(code)
        return "\\" + digits
    return _SIMPLE_ESCAPES.get(c, s)


def _quoted_template(content: str, quote: str) -> str:
    """Template form of a quoted value's inner text (quote escapes already resolved)."""
    if quote == "'":
        return content.replace("$", "$$")
    if "\\" in content:
        return _ESCAPES.sub(_expand_escape, content)
    return content


def _lines(text: str, chunk: int = 1 << 18) -> Iterator[str]:
    """``iter(text.split("\\n"))``, split a chunk at a time so that the lines of a large text
    are not all held at once (they would double the peak memory of a parse)."""
    if len(text) <= chunk:
        return iter(text.split("\n"))
    return chain.from_iterable(part.split("\n") for part in _chunks(text, chunk))


def _chunks(text: str, size: int) -> Iterator[str]:
    """``text`` in pieces that end just before a newline (which no piece includes)."""
    start = 0
    while True:
        nl = text.find("\n", start + size)
        if nl < 0:
            yield text[start:]
            return
        yield text[start:nl]
        start = nl + 1


def parse(text: str) -> Document:
    """Parse ``text`` losslessly. Never raises; syntax errors are recorded in ``errors``."""
    bindings: list[Binding] = []
    errors: list[SyntaxIssue] = []
    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0
    line = 1
    lag = 0  # compose-go's error line numbers lag behind after a bare ``KEY `` line
    count = text.count
    head = _HEAD.match
    bindings_append = bindings.append
    # Most lines are comments, blank lines and single-line ``KEY=value`` statements: they are
    # taken a line at a time (str methods, no regex), the rest by the scanner below. ``lines``
    # yields the line that starts at ``next_off``; the scanner hands back at a line start.
    lines = _lines(text)
    next_off = 0
    while True:
        if pos >= next_off and (pos == next_off or text[pos - 1] == "\n"):
            if pos > next_off:
                for _ in range(count("\n", next_off, pos)):
                    next(lines)
            off = pos
            for s in lines:
                end = off + len(s) + 1
                c = s[:1]
                if not c or c == "#":
                    pass
                elif c in _LINE_SPACE:
                    rest = s.lstrip(_GO_SPACE_CHARS)
                    if rest and rest[0] != "#":
                        break
                else:
                    key, eq, val = s.partition("=")
                    if not (eq and key.isidentifier() and key.isascii()):
                        break
                    vstart = off + len(key) + 1
                    c = val[:1]
                    if c in _VALUE_SPECIAL:
                        v = val.lstrip(_INLINE_SPACE)
                        vstart += len(val) - len(v)
                        c = v[:1]
                        if c == '"' or c == "'":
                            close = v.find(c, 1)
                            if close < 0:
                                break
                            content = v[1:close]
                            rest = v[close + 1 :].lstrip(_GO_SPACE_CHARS)
                            if "\\" in content or (rest and rest[0] != "#"):
                                break
                            bindings_append(
                                _new_binding(
                                    Binding,
                                    (
                                        key,
                                        line,
                                        off,
                                        vstart,
                                        vstart + close + 1,
                                        c,
                                        content if c == '"' else content.replace("$", "$$"),
                                        False,
                                    ),
                                )
                            )
                            line += 1
                            off = end
                            continue
                        val = v
                    cut = val.find(" #")
                    if cut >= 0:
                        val = val[:cut]
                    val = val.rstrip(_GO_SPACE_CHARS)
                    if not val:
                        vstart = off + len(key) + 1  # right after the separator, never past a CR
                    bindings_append(
                        _new_binding(
                            Binding, (key, line, off, vstart, vstart + len(val), "", val, False)
                        )
                    )
                line += 1
                off = end
            else:
                break  # every line taken
            # the scanner takes the statement that starts on line ``s``
            pos = off
            next_off = end
        m = head(text, pos)
        if m is None:  # pragma: no cover - every part of _HEAD is optional
            break
        skip_end = m.end(1)
        if skip_end > pos:
            line += count("\n", pos, skip_end)
        if skip_end >= n:
            break
        start = skip_end
        raw = m.group(4)
        if raw is not None:
            raw_key = m.group(3)
            if raw_key.isascii() and " " not in raw_key.rstrip(_GO_SPACE_CHARS):
                vstart = m.start(4)
                cut = raw.find(" #")
                if cut >= 0:
                    raw = raw[:cut]
                raw = raw.rstrip(_GO_SPACE_CHARS)
                if not raw:
                    # an empty value sits right after the separator (never past a CR)
                    vstart = m.end(3) + 1
                bindings_append(
                    _new_binding(
                        Binding,
                        (
                            raw_key.rstrip(_GO_SPACE_CHARS),
                            line,
                            start,
                            vstart,
                            vstart + len(raw),
                            "",
                            raw,
                            False,
                        ),
                    )
                )
                line += 1
                pos = m.end() + 1
                if pos > n:
                    break
                continue
        key_start, kend = m.span(3)
        if key_start >= n and m.start(2) >= 0:
            # ``export`` and nothing but spaces up to the end of the input
            errors.append(SyntaxIssue(line, start, "zero length string", line - lag))
            break
        sep = text[kend] if kend < n else ""
        raw_key = m.group(3)
        if sep in ("=", ":", "\n"):
            bad = None if raw_key.isascii() else _go_key_ok(raw_key)
        elif sep == "":
            bad = None
        else:
            bad = sep
        if bad is not None:
            nl = text.find("\n", key_start)
            first_line = text[key_start : nl if nl >= 0 else n]
            errors.append(
                SyntaxIssue(
                    line,
                    start,
                    f"unexpected character {_go_quote(bad)} "
                    f"in variable name {_go_quote(first_line)}",
                    line - lag,
                )
            )
            nl = text.find("\n", start)
            if nl < 0:
                break
            pos = nl + 1
            line += 1
            continue
        if sep == "":
            # compose-go quirk: a statement with no separator at end of input has key ""
            # and the whole statement as its value.
            key = ""
            vpos = key_start
            inherited = False
        else:
            inherited = sep == "\n"
            key = raw_key.rstrip(_GO_SPACE_CHARS)
            vpos = kend + 1
        if " " in key:
            errors.append(SyntaxIssue(line, start, "key cannot contain a space", line - lag))
            nl = text.find("\n", kend)
            if nl < 0:
                break
            pos = nl + 1
            line += 1
            continue
        if inherited:
            at = key_start + len(key)  # just after the key, before any spaces or CR
            bindings.append(Binding(key, line, start, at, at, "", "", True))
            line += 1
            if " " in raw_key:
                lag += 1
            pos = kend + 1
            continue
        vstart = _skip_inline(text, vpos)
        q = text[vstart] if vstart < n else ""
        if q == '"' or q == "'":
            qm = (_DOUBLE if q == '"' else _SINGLE).match(text, vstart)
            if qm is None:
                nl = text.find("\n", vstart)
                shown = text[vstart : nl if nl >= 0 else n]
                errors.append(
                    SyntaxIssue(
                        line + count("\n", vstart),
                        start,
                        f"unterminated quoted value {shown}",
                        line + count("\n", vstart) - lag,
                    )
                )
                break
            content = qm.group(1)
            if "\\" in content:
                content = content.replace("\\" + q, q)
            bindings.append(
                Binding(key, line, start, vstart, qm.end(), q, _quoted_template(content, q))
            )
            line += count("\n", vstart, qm.end())
            pos = qm.end()
            continue
        nl = text.find("\n", vstart)
        eol = n if nl < 0 else nl
        raw = text[vstart:eol]
        cut = raw.find(" #")
        if cut >= 0:
            raw = raw[:cut]
        raw = raw.rstrip(_GO_SPACE_CHARS)
        if not raw:
            vstart = vpos  # an empty value sits right after the separator (never past a CR)
        bindings.append(Binding(key, line, start, vstart, vstart + len(raw), "", raw))
        line += 1
        if nl < 0:
            break
        pos = nl + 1
    return Document(text, bindings, errors)


def _find_commented(doc: Document) -> list[Commented]:
    text = doc.text
    # spans of quoted values that cross lines: a '#' line inside them is value, not comment
    spans = [
        (b.value_start, b.value_end)
        for b in doc.bindings
        if b.quote and text.count("\n", b.value_start, b.value_end)
    ]
    out: list[Commented] = []
    # matches and spans both come in text order: walk them together, and count lines from the
    # previous match rather than from the start (which is quadratic in the number of matches)
    k, n_spans = 0, len(spans)
    line, counted = 1, 0
    for m in _COMMENTED_BODY.finditer(text):
        # the search jumps from '#' to '#'; only one that is first on its line (after an
        # optional BOM and spaces or tabs) starts a commented-out assignment
        at = text.rfind("\n", 0, m.start()) + 1
        lead = text[at : m.start()]
        if lead and (lead[1:] if lead[0] == "\ufeff" else lead).strip(" \t"):
            continue
        while k < n_spans and spans[k][1] <= at:
            k += 1
        if k < n_spans and spans[k][0] <= at:
            continue
        sub = parse(m.group(1))
        if sub.errors or not sub.bindings:
            continue
        b = sub.bindings[0]
        line += text.count("\n", counted, at)
        counted = at
        out.append(Commented(b.key, line, at, b.template))
    return out


#: templates that :func:`check_template` certainly accepts (a fast regex instead of a full
#: interpolation): every ``{`` and ``}`` belongs to a ``${NAME}`` or ``${NAME<op>word}``
#: reference whose word holds no ``$``, ``{`` or ``}``
_WELL_FORMED = re.compile(r"(?:[^${}]|\$(?!\{)|\$\{[_A-Za-z][_A-Za-z0-9]*(?::?[-+?][^${}]*)?\})*")


def template_errors(doc: Document) -> list[SyntaxIssue]:
    """Syntax errors plus malformed ``${`` in values compose would interpolate."""
    issues = list(doc.errors)
    well_formed = _WELL_FORMED.fullmatch
    for b in doc.bindings:
        if b.quote != "'" and "$" in b.template and not well_formed(b.template):
            problem = check_template(b.template)
            if problem is not None:
                issues.append(SyntaxIssue(b.line, b.start, problem))
    issues.sort()
    return issues


def compose_values(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values Docker Compose reads from ``text``, interpolation included.

    ``environ`` is the process environment compose would see (``None``: empty). As in
    compose-go, a reference resolves from ``environ`` first, then from the file's earlier
    assignments. Raises :class:`DotenvSyntaxError` where compose errors.
    """
    doc = parse(text)
    env: Mapping[str, str] = environ if environ is not None else {}
    out: dict[str, str] = {}
    errors = doc.errors
    first_error = errors[0] if errors else None

    def lookup(name: str) -> str | None:
        v = env.get(name)
        if v is None:
            v = out.get(name)
        return v

    for b in doc.bindings:
        if first_error is not None and first_error.offset < b.start:
            break
        if b.inherited:
            if b.key in env:
                out[b.key] = env[b.key]
            continue
        if b.quote == "'" or "$" not in b.template:
            out[b.key] = b.template.replace("$$", "$") if b.quote == "'" else b.template
            continue
        try:
            out[b.key] = substitute(b.template, lookup)
        except TemplateError as e:
            raise DotenvSyntaxError(str(e), b.line) from None
    if first_error is not None:
        raise DotenvSyntaxError(first_error.message, first_error.compose_line or first_error.line)
    return out
