"""Lossless dotenv documents, read the way Docker Compose v2 reads them.

The document keeps the input text itself; every binding is a set of offsets into it,
so rendering is the identity and an edit is a splice. The scanner follows compose-go's
``dotenv`` parser statement by statement (see DESIGN.md section 3 and the vectors in
``tests/data/dotenv-vectors.jsonl``): where this module and compose-go disagree, compose-go
is right and this module has a bug.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections.abc import Mapping
from itertools import compress, repeat
from operator import contains
from typing import NamedTuple

# Go's unicode.IsSpace (the White_Space property) and the parser's own isSpace (no \n).
GO_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_CHARS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)
_INLINE_SPACE = "\t\x0b\x0c\r \x85\xa0"

#: first characters of a value that the fast path does not take as an unquoted value
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
    """One ``KEY=value`` statement, as offsets into the document text.

    A view: the document keeps its bindings as columns (see :class:`Document`) and makes a
    ``Binding`` when asked for one (``doc.binding(i)``, ``doc.bindings``).
    """

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

#: ``Document.kinds`` codes: an unquoted, single-quoted or double-quoted value, or a bare ``KEY``
PLAIN, SINGLE, DOUBLE, BARE = 0, 1, 2, 3
_KIND_OF_QUOTE = {"": PLAIN, "'": SINGLE, '"': DOUBLE}
_QUOTE_OF_KIND = ("", "'", '"', "")


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


def _offsets(text: str) -> array[int]:
    """An empty array wide enough for the offsets (and line numbers) of ``text``."""
    return array("i" if len(text) < 0x7FFFFFFF else "q")


class Document:
    """A parsed dotenv text. ``str(doc)`` and ``doc.render()`` give back the input exactly.

    The bindings are columns, one entry per ``KEY=value`` statement in text order (see
    :class:`Binding` for what each holds): ``keys`` and ``templates`` (lists of str), ``lines``
    and ``starts`` (arrays of int) and ``kinds`` (a bytearray of PLAIN, SINGLE, DOUBLE or BARE).
    The value's offsets are kept only where they differ from the usual ``KEY=value`` (value
    right after the ``=``, as long as its template and its quotes): see :meth:`value_span`.
    Columns rather than
    one object per statement: a parse of 100,000 keys holds a fraction of the memory, and an
    index is ``dict(zip(keys, range(n)))``.
    """

    __slots__ = (
        "_commented",
        "_issues",
        "_spans_of",
        "errors",
        "exports",
        "keys",
        "kinds",
        "lines",
        "spans",
        "tails",
        "starts",
        "templates",
        "text",
    )

    def __init__(self, text: str) -> None:
        self.text = text
        self.keys: list[str] = []
        self.templates: list[str] = []
        self.lines = _offsets(text)
        self.starts = _offsets(text)
        self.kinds = bytearray()
        #: binding index -> (value_start, value_end) where they are not the usual ones
        self._spans_of: dict[int, tuple[int, int]] = {}
        self.errors: list[SyntaxIssue] = []
        #: (value_start, value_end) of the quoted values that cross lines, in text order
        self.spans: list[tuple[int, int]] = []
        self._commented: list[Commented] | None = None
        self._issues: list[SyntaxIssue] | None = None
        #: (index, text) of the bindings whose line goes on after the value with a ``#`` (a
        #: trailing comment): the text from the end of the value (or from `` #``) to the end
        #: of the line, as written
        self.tails: list[tuple[int, str]] = []
        #: indexes of bindings that may start with ``export`` (check ``text.startswith``): the
        #: scanner notes the prefix before it knows whether the statement is valid
        self.exports: list[int] = []

    def value_span(self, i: int) -> tuple[int, int]:
        """``(value_start, value_end)`` of the ``i``-th binding."""
        if i < 0:
            i += len(self.keys)
        span = self._spans_of.get(i)
        if span is not None:
            return span
        vstart = self.starts[i] + len(self.keys[i]) + 1
        quotes = 0 if self.kinds[i] == PLAIN else 2  # (a BARE binding always has its span)
        return vstart, vstart + len(self.templates[i]) + quotes

    def __len__(self) -> int:
        return len(self.keys)

    def binding(self, i: int) -> Binding:
        """The ``i``-th binding (text order; negative counts from the end)."""
        kind = self.kinds[i]
        vstart, vend = self.value_span(i)
        return _new_binding(
            Binding,
            (
                self.keys[i],
                self.lines[i],
                self.starts[i],
                vstart,
                vend,
                _QUOTE_OF_KIND[kind],
                self.templates[i],
                kind == BARE,
            ),
        )

    @property
    def bindings(self) -> list[Binding]:
        """Every binding, in text order (made on each call: loop over the columns in hot code)."""
        return [self.binding(i) for i in range(len(self.keys))]

    def render(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Document {len(self.keys)} bindings, {len(self.errors)} errors>"

    @property
    def commented(self) -> list[Commented]:
        """Commented-out assignments (``# KEY=value``) outside quoted values."""
        if self._commented is None:
            self._commented = _find_commented(self)
        return self._commented

    def values(self) -> dict[str, str]:
        """Key -> value template (last assignment wins), inherited keys excluded."""
        kinds = self.kinds
        return {k: t for i, (k, t) in enumerate(zip(self.keys, self.templates)) if kinds[i] != BARE}

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


#: Go's white space but the newline: what may follow a closing quote on its line
_GO_INLINE = GO_SPACE.replace("\n", "")
#: the fast path, matched at the newline that ends the previous statement's line: blank and
#: comment lines, then a ``KEY=value`` line whose key is an ASCII identifier at the start of the
#: line (1). The value, after spaces (2): double-quoted (3) or single-quoted (4) with no
#: backslash and only spaces or a comment after it on the line, else the rest of the line (5).
#: No blank or comment line can start a key, so the possessive forms (3.11+) match exactly the
#: same (and the plain ones backtrack a line at a time).
_FAST_TAIL = (
    r"(?:\"([^\"\\\n]*)\"[" + _GO_INLINE + r"]*(?:#[^\n]*)?(?=\n|\Z)"
    r"|'([^'\\\n]*)'[" + _GO_INLINE + r"]*(?:#[^\n]*)?(?=\n|\Z)"
)
_FAST = re.compile(
    r"\n(?:[ \t\r]*+(?:#[^\n]*+)?+\n)*+([A-Za-z_][A-Za-z0-9_]*+)=(["
    + _INLINE_SPACE
    + r"]*+)"
    + _FAST_TAIL
    + r"|([^\n]*+))"
    if sys.version_info >= (3, 11)
    else r"\n(?:[ \t\r]*(?:#[^\n]*)?\n)*([A-Za-z_][A-Za-z0-9_]*)=(["
    + _INLINE_SPACE
    + r"]*)"
    + _FAST_TAIL
    + r"|([^\n]*))"
)


def parse(text: str) -> Document:
    """Parse ``text`` losslessly. Never raises; syntax errors are recorded in ``errors``."""
    doc = Document(text)
    keys = doc.keys
    templates = doc.templates
    lines = doc.lines
    starts = doc.starts
    kinds_of: dict[int, int] = {}  # binding index -> kind, where not PLAIN
    spans_of = doc._spans_of
    keys_append = keys.append
    templates_append = templates.append
    lines_append = lines.append
    starts_append = starts.append
    errors = doc.errors
    tails_append = doc.tails.append

    def add(key: str, line: int, start: int, vstart: int, vend: int, kind: int, tmpl: str) -> None:
        i = len(keys)
        if kind != PLAIN or vstart != start + len(key) + 1 or vend != vstart + len(tmpl):
            spans_of[i] = (vstart, vend)
            if kind != PLAIN:
                kinds_of[i] = kind
        keys_append(key)
        lines_append(line)
        starts_append(start)
        templates_append(tmpl)

    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0
    line = 1
    lag = 0  # compose-go's error line numbers lag behind after a bare ``KEY `` line
    count = text.count
    head = _HEAD.match
    fast = _FAST.match
    special = _VALUE_SPECIAL
    go_space = _GO_SPACE_CHARS
    # Most lines are comments, blank lines and single-line ``KEY=value`` statements. The fast
    # path takes them with one anchored regex match each (``_FAST``: the comment lines before a
    # statement and the statement); at anything else it hands over to the statement scanner
    # below, which takes one statement (``pending``: the scanner's turn until it has moved past
    # it) before the fast path is tried again: no stretch of text is read more than twice.
    pending = 0  # (and the first line is never the fast path's: no newline before it)
    while pos < n:
        if pos > pending and text[pos - 1] == "\n":
            fpos = pos - 1  # the newline before the current line
            fline = line - 1  # (its line)
            while True:
                fm = fast(text, fpos)
                if fm is None:
                    break  # something else than blank or comment lines and a KEY=value line
                key, lead, double, single, val = fm.groups()
                kstart = fm.start(1)
                # the line: one past the newline at fpos, and those of the comment lines between
                gap_lines = count("\n", fpos + 1, kstart) if kstart - fpos > 1 else 0
                if val is None:  # a quoted value, taken whole by the regex
                    i = len(keys)
                    content = single if double is None else double
                    closed = kstart + len(key) + len(lead) + len(content) + 3
                    if fm.end() != closed and "#" in text[closed : fm.end()]:
                        tails_append((i, text[closed : fm.end()]))  # a comment after the quote
                    if lead or (double is None and "$" in content):
                        # not the usual offsets for its template (see Document.value_span)
                        vstart = kstart + len(key) + 1 + len(lead)
                        spans_of[i] = (vstart, vstart + len(content) + 2)
                    if double is None:
                        kinds_of[i] = SINGLE
                        content = content.replace("$", "$$")
                    else:
                        kinds_of[i] = DOUBLE
                    fline += gap_lines + 1
                    keys_append(key)
                    lines_append(fline)
                    starts_append(kstart)
                    templates_append(content)
                    fpos = fm.end()
                    continue
                if lead or val[:1] in special:
                    if val[:1] in special:
                        # a quote the regex did not take: multi-line, escaped, or something
                        # after it on the line: the scanner's
                        fline += gap_lines
                        fpos = kstart - 1
                        break
                    # spaces before an unquoted value
                    cut = val.find(" #")
                    if cut >= 0:
                        tails_append((len(keys), val[cut:]))
                        val = val[:cut]
                    val = val.rstrip(go_space)
                    vstart = kstart + len(key) + 1
                    if val:
                        vstart += len(lead)  # (an empty value sits right after the separator)
                    add(key, fline + 1 + gap_lines, kstart, vstart, vstart + len(val), PLAIN, val)
                    fline += 1 + gap_lines
                    fpos = fm.end()
                    continue
                if " #" in val:
                    cut = val.find(" #")
                    tails_append((len(keys), val[cut:]))
                    val = val[:cut]
                fline += gap_lines + 1
                keys_append(key)
                lines_append(fline)
                starts_append(kstart)
                templates_append(val.rstrip(go_space))
                fpos = fm.end()
            pos = fpos + 1
            line = fline + 1
            pending = pos  # the scanner takes the next statement
            continue
        # the statement scanner: one statement (with the blanks and comments before it)
        m = head(text, pos)
        if m is None:  # pragma: no cover - every part of _HEAD is optional
            break
        if m.start(2) >= 0:
            doc.exports.append(len(keys))
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
                    tails_append((len(keys), raw[cut:]))
                    raw = raw[:cut]
                raw = raw.rstrip(_GO_SPACE_CHARS)
                if not raw:
                    # an empty value sits right after the separator (never past a CR)
                    vstart = m.end(3) + 1
                add(
                    raw_key.rstrip(_GO_SPACE_CHARS),
                    line,
                    start,
                    vstart,
                    vstart + len(raw),
                    PLAIN,
                    raw,
                )
                line += 1
                pos = m.end() + 1
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
            add(key, line, start, at, at, BARE, "")
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
            add(key, line, start, vstart, qm.end(), _KIND_OF_QUOTE[q], _quoted_template(content, q))
            nl = text.find("\n", qm.end())
            rest = text[qm.end() : n if nl < 0 else nl]
            if "#" in rest:
                tails_append((len(keys) - 1, rest))
            crossed = count("\n", vstart, qm.end())
            if crossed:
                line += crossed
                doc.spans.append((vstart, qm.end()))
            pos = qm.end()
            continue
        nl = text.find("\n", vstart)
        eol = n if nl < 0 else nl
        raw = text[vstart:eol]
        cut = raw.find(" #")
        if cut >= 0:
            tails_append((len(keys), raw[cut:]))
            raw = raw[:cut]
        raw = raw.rstrip(_GO_SPACE_CHARS)
        if not raw:
            vstart = vpos  # an empty value sits right after the separator (never past a CR)
        add(key, line, start, vstart, vstart + len(raw), PLAIN, raw)
        line += 1
        if nl < 0:
            break
        pos = nl + 1
    kinds = doc.kinds
    kinds.extend(bytes(len(keys)))
    for i, kind in kinds_of.items():
        kinds[i] = kind
    return doc


def _find_commented(doc: Document) -> list[Commented]:
    text = doc.text
    # spans of quoted values that cross lines: a '#' line inside them is value, not comment
    spans = doc.spans
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
        body = m.group(1)
        key, _, val = body.partition("=")
        if val[:1] in _VALUE_SPECIAL or "\r" in val:
            sub = parse(body)  # quotes, leading spaces, CRs: the full parser
            if sub.errors or not sub.keys:
                continue
            key, template = sub.keys[0], sub.templates[0]
        else:
            cut = val.find(" #")
            template = (val if cut < 0 else val[:cut]).rstrip(_GO_SPACE_CHARS)
        line += text.count("\n", counted, at)
        counted = at
        out.append(Commented(key, line, at, template))
    return out


#: templates that :func:`check_template` certainly accepts (a fast regex instead of a full
#: interpolation): every ``{`` and ``}`` belongs to a ``${NAME}`` or ``${NAME<op>word}``
#: reference whose word holds no ``$``, ``{`` or ``}``
_WELL_FORMED = re.compile(r"(?:[^${}]|\$(?!\{)|\$\{[_A-Za-z][_A-Za-z0-9]*(?::?[-+?][^${}]*)?\})*")


def template_errors(doc: Document) -> list[SyntaxIssue]:
    """Syntax errors plus malformed ``${`` in values compose would interpolate."""
    if doc._issues is None:
        doc._issues = _template_errors(doc)
    return list(doc._issues)


def _template_errors(doc: Document) -> list[SyntaxIssue]:
    text = doc.text
    last = text.count("\n", 0, max(len(text) - 1, 0)) + 1  # the file's last line
    # (a value left open at the end fails on the line after the final newline: a finding
    # points at the last real line instead)
    issues = [e if e.line <= last else e._replace(line=last) for e in doc.errors]
    if "$" in doc.text:
        well_formed = _WELL_FORMED.fullmatch
        kinds, templates = doc.kinds, doc.templates
        for i in compress(range(len(templates)), map(contains, templates, repeat("$"))):
            t = templates[i]
            if kinds[i] != SINGLE and not well_formed(t):
                from envsync_hook.interpolate import check_template  # (rarely needed)

                problem = check_template(t)
                if problem is not None:
                    issues.append(SyntaxIssue(doc.lines[i], doc.starts[i], problem))
    issues.sort()
    return issues


def compose_values(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values Docker Compose reads from ``text``, interpolation included.

    ``environ`` is the process environment compose would see (``None``: empty). As in
    compose-go, a reference resolves from ``environ`` first, then from the file's earlier
    assignments. Raises :class:`DotenvSyntaxError` where compose errors.
    """
    from envsync_hook.interpolate import TemplateError, substitute

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

    for i, key in enumerate(doc.keys):
        if first_error is not None and first_error.offset < doc.starts[i]:
            break
        kind = doc.kinds[i]
        template = doc.templates[i]
        if kind == BARE:
            if key in env:
                out[key] = env[key]
            continue
        if kind == SINGLE or "$" not in template:
            out[key] = template.replace("$$", "$") if kind == SINGLE else template
            continue
        try:
            out[key] = substitute(template, lookup)
        except TemplateError as e:
            raise DotenvSyntaxError(str(e), doc.lines[i]) from None
    if first_error is not None:
        raise DotenvSyntaxError(first_error.message, first_error.compose_line or first_error.line)
    return out


class UnclosedQuote(NamedTuple):
    """A quote that opens a value and is never closed where its line ends (see
    :func:`unclosed_quote`)."""

    line: int  # the line where the quote opened
    offset: int  # the quote character's offset in the text
    quote: str  # ``"`` or ``'``
    error_line: int  # the line where Docker Compose then fails


#: a line inside a quoted value that reads as a statement of its own: the quote swallowed it
_SWALLOWED = re.compile(r"\n[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]*=")


def unclosed_quote(doc: Document) -> UnclosedQuote | None:
    """The quote that caused ``doc``'s first syntax error, if an unclosed quote did; else None.

    Docker Compose reads a quoted value on to the next matching quote, lines later. A quote
    left open therefore either runs to the end of the file (compose reports the last line), or
    takes the following statements into the value and pairs every later quote wrongly until a
    line no longer parses (compose reports that line, far below the cause). The cause is the
    first value that crosses lines and holds a line reading as a statement (``KEY=``), or the
    unterminated value itself. Only called on the error path: the parse is not slowed down.
    """
    if not doc.errors:
        return None
    first = doc.errors[0]
    text = doc.text
    for vstart, vend in doc.spans:
        if vstart >= first.offset:
            break
        if _SWALLOWED.search(text, vstart, vend):
            line = doc.line_of(vstart)
            return UnclosedQuote(line, vstart, text[vstart], first.line)
    if first.message.startswith("unterminated quoted value"):
        # the statement's value is the quote: find it after the key and the separator
        m = re.compile(r"[^=:\n]*[=:][ \t]*(['\"])").match(text, first.offset)
        if m is not None:
            at = m.start(1)
            return UnclosedQuote(doc.line_of(at), at, m.group(1), first.line)
    return None


def without_quote(text: str, quote: UnclosedQuote) -> str:
    """``text`` without the unclosed quote: what the operator most likely meant (the value ends
    with its line), for reporting the rest of the file as if the quote were not there. Line
    numbers are unchanged."""
    return text[: quote.offset] + text[quote.offset + 1 :]
