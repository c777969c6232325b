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
from collections.abc import Mapping, Sequence
from itertools import compress, repeat
from operator import contains

from envsync_hook.lean import NamedTuple, lazy_pattern

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
_ESCAPES = lazy_pattern(r"""\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})""")
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


#: documents whose strings a parse may reuse (see :func:`parse`): each with its index, key ->
#: the binding whose value to compare with (``compare.index``'s ``last``)
Like = Sequence[tuple[Mapping[str, int], Document]]


class _Columns:
    """The writer of a document's columns: every binding, syntax error, trailing comment and
    ``export`` prefix the parse finds goes through it.

    ``keys``, ``templates``, ``lines`` and ``starts`` get one entry per binding; a kind other
    than PLAIN, and a value span other than the usual one (see :meth:`Document.value_span`),
    are noted by index, and :meth:`finish` writes the ``kinds`` column from them. A key or a
    value template equal to one of the ``like`` documents' (:meth:`shared`) is written as that
    document's string object, not as a new one.
    """

    __slots__ = (
        "doc",
        "keys",
        "kinds_of",
        "lag",
        "like",
        "lines",
        "spans_of",
        "starts",
        "templates",
    )

    def __init__(self, doc: Document, like: Like = ()) -> None:
        self.doc = doc
        self.like = like
        self.keys = doc.keys
        self.templates = doc.templates
        self.lines = doc.lines
        self.starts = doc.starts
        self.spans_of = doc._spans_of
        self.kinds_of: dict[int, int] = {}  # binding index -> kind, where not PLAIN
        #: compose-go's error line numbers lag behind by one after each bare ``KEY `` line with
        #: a trailing space (a quirk of its counter)
        self.lag = 0

    def add(
        self, key: str, line: int, start: int, vstart: int, vend: int, kind: int, template: str
    ) -> None:
        """A binding of the statement scanner: its kind and span noted unless PLAIN and usual."""
        i = len(self.keys)
        if kind != PLAIN or vstart != start + len(key) + 1 or vend != vstart + len(template):
            self.spans_of[i] = (vstart, vend)
            if kind != PLAIN:
                self.kinds_of[i] = kind
        if self.like:
            key, template = self.shared(key, template)
        self.keys.append(key)
        self.lines.append(line)
        self.starts.append(start)
        self.templates.append(template)

    def shared(self, key: str, template: str) -> tuple[str, str]:
        """``key`` and ``template`` as the ``like`` documents hold them where equal: the key
        of the first that has it, the value template of the first whose binding of the key has
        it (a bare ``KEY``'s empty one included: the same object either way)."""
        found_key = False
        for last, doc in self.like:
            i = last.get(key)
            if i is None:
                continue
            if not found_key:
                key, found_key = doc.keys[i], True
            theirs = doc.templates[i]
            if theirs == template:
                return key, theirs
        return key, template

    def tail(self, text: str) -> None:
        """The trailing comment of the binding added last (from its value's end, or `` #``, to
        the end of the line, as written)."""
        self.doc.tails.append((len(self.keys) - 1, text))

    def export(self) -> None:
        """The statement about to be read may start with ``export``."""
        self.doc.exports.append(len(self.keys))

    def error(self, line: int, start: int, message: str) -> None:
        """A syntax error of the statement at ``start`` (``line``: the true line)."""
        self.doc.errors.append(SyntaxIssue(line, start, message, line - self.lag))

    def finish(self) -> Document:
        """The document, with its ``kinds`` column written."""
        kinds = self.doc.kinds
        kinds.extend(bytes(len(self.keys)))
        for i, kind in self.kinds_of.items():
            kinds[i] = kind
        return self.doc


def parse(text: str, like: Like = ()) -> Document:
    """Parse ``text`` losslessly. Never raises; syntax errors are recorded in ``errors``.

    ``like``: documents (with their indexes) that hold most of the keys and values of
    ``text``, such as the template of an env file: where a key or a value template equals
    theirs, the new document holds their string, not a copy (:meth:`_Columns.shared`), and
    the columns are the same as without them (100,000 keys: 10 MB less per document).

    Most lines are comments, blank lines and single-line ``KEY=value`` statements: the fast run
    (:func:`_ordinary_lines`) takes them with one anchored regex match each. The statement
    scanner (:func:`_scan`) takes everything else, statement by statement, and hands back to
    the fast run at the first line the fast run can take: no stretch of text is read more than
    twice. The first line is always the scanner's (the fast run starts at a newline).
    """
    out = _Columns(Document(text), like)
    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0
    line = 1
    while pos < n:
        pos, line, fm = _scan(text, pos, line, out)
        if fm is not None:
            pos, line = _ordinary_lines(text, fm, line, out)
    return out.finish()


# Over 80 lines on purpose: the loop runs once a line, and a call a line costs 5-10 % of the parse.
def _ordinary_lines(text: str, fm: re.Match[str], line: int, out: _Columns) -> tuple[int, int]:
    """The fast run: blank and comment lines and single-line ``KEY=value`` statements, one
    ``_FAST`` match each, from ``fm`` (the first match, at the newline before line ``line``).

    Returns the offset and line number of the first line it does not take (an ``export``, a
    key after spaces, a quoted value that crosses lines or holds a backslash, ...), where the
    scanner goes on; ``len(text)`` or more at the end of the text.
    """
    fast = _FAST.match  # (locals: looked up once a run, not once a line)
    count = text.count
    special = _VALUE_SPECIAL
    go_space = _GO_SPACE_CHARS
    # The two common cases below write the columns themselves, through bound appenders, rather
    # than through the writer's methods: a call per line costs 5-10 % of a 100,000-key parse.
    keys, kinds_of, spans_of = out.keys, out.kinds_of, out.spans_of
    keys_append, lines_append = keys.append, out.lines.append
    starts_append, templates_append = out.starts.append, out.templates.append
    tails_append = out.doc.tails.append
    # The first ``like`` document (see _Columns.shared) is looked at here, the others only
    # where it has not the key or not the value: a call a line would cost 10 % of the parse.
    # Its bindings mostly come in the same order: the one after the last found is tried first
    # (a dict look-up a line costs twice as much: it misses the cache).
    like_get, like_keys, like_templates = None, keys, keys
    more = len(out.like) > 1
    cursor = n_like = 0  # (the binding of the first ``like`` document to try first)
    if out.like:
        like_last, like_doc = out.like[0]
        like_get, like_keys, like_templates = like_last.get, like_doc.keys, like_doc.templates
        n_like = len(like_keys)
    at = fm.start()  # the newline before the current line
    while True:
        key, lead, double, single, value = fm.groups()
        start = fm.start(1)
        if start - at > 1:  # comment or blank lines before the statement
            line += count("\n", at + 1, start)
        if value is not None and (lead or value[:1] in special):
            if value[:1] in special:
                # a quote the regex did not take (multi-line, escaped, something after it on
                # the line): the scanner's
                return start, line
            _spaced_line(key, line, start, lead, value, out)
        else:
            if value is not None:  # the usual ``KEY=value``
                if " #" in value:  # (an operator: cheaper than a method call on every line)
                    cut = value.find(" #")
                    tails_append((len(keys), value[cut:]))
                    value = value[:cut]
                template = value.rstrip(go_space)
            else:  # a one-line quoted value with no backslash, taken whole
                i = len(keys)
                if double is None:
                    content, template = single, single.replace("$", "$$")
                    kinds_of[i] = SINGLE
                else:
                    content = template = double
                    kinds_of[i] = DOUBLE
                if lead or len(template) != len(content):  # not the usual span
                    vstart = start + len(key) + 1 + len(lead)
                    spans_of[i] = (vstart, vstart + len(content) + 2)
                closed = start + len(key) + len(lead) + len(content) + 3
                if fm.end() != closed and "#" in text[closed : fm.end()]:
                    tails_append((i, text[closed : fm.end()]))  # a comment after the quote
            if like_get is not None:  # (100,000 keys: 10 MB less, 10 % more time for the parse)
                j = cursor if cursor < n_like and like_keys[cursor] == key else like_get(key)
                if j is not None:
                    cursor = j + 1
                    key = like_keys[j]
                    theirs = like_templates[j]
                    # (not equal: a value of its own, or ``j`` an earlier assignment of the key)
                    template = theirs if theirs == template else out.shared(key, template)[1]
                elif more:
                    key, template = out.shared(key, template)
            keys_append(key)
            lines_append(line)
            starts_append(start)
            templates_append(template)
        line += 1
        at = fm.end()
        following = fast(text, at)
        if following is None:
            return at + 1, line
        fm = following


def _spaced_line(key: str, line: int, start: int, lead: str, value: str, out: _Columns) -> None:
    """A ``_FAST`` match of ``KEY=  value``: spaces between the ``=`` and an unquoted value."""
    value, tail = _without_comment(value)
    vstart = start + len(key) + 1
    if value:
        vstart += len(lead)  # (an empty value sits right after the separator)
    out.add(key, line, start, vstart, vstart + len(value), PLAIN, value)
    if tail:
        out.tail(tail)


def _scan(text: str, pos: int, line: int, out: _Columns) -> tuple[int, int, re.Match[str] | None]:
    """The statement scanner: statements from ``pos`` (on line ``line``), each after the blank
    and comment lines before it, with compose-go's rules for keys, separators and values, up to
    a line the fast run can take.

    Writes the bindings and syntax errors to ``out``; returns where it stopped, the line there
    and the fast run's match at the newline before it (None: the parse ends here, at the end of
    the text or at an error compose-go does not read past).
    """
    n = len(text)
    head = _HEAD.match
    fast = _FAST.match
    while True:
        m = head(text, pos)
        if m is None:  # pragma: no cover - every part of _HEAD is optional
            return n, line, None
        if m.start(2) >= 0:
            out.export()
        start = m.end(1)  # the statement: ``export`` or the key
        if start > pos:
            line += text.count("\n", pos, start)
        if start >= n:
            return n, line, None
        raw_key = m.group(3)
        if (
            m.group(4) is not None
            and raw_key.isascii()
            and " " not in raw_key.rstrip(_GO_SPACE_CHARS)
        ):
            pos, line = _head_value(m, start, line, out)
        else:
            pos, line = _statement(text, m, start, line, out)
        if pos >= n:
            return pos, line, None
        if text[pos - 1] == "\n":
            fm = fast(text, pos - 1)
            if fm is not None:
                return pos, line, fm


def _statement(
    text: str, m: re.Match[str], start: int, line: int, out: _Columns
) -> tuple[int, int]:
    """The statement at ``start`` (on line ``line``) whose head ``_HEAD`` matched (``m``): its
    key, separator and value, or its syntax error.

    Returns where the next statement may start (just past the value) and its line, or
    ``len(text)`` when the parse ends there.
    """
    n = len(text)
    raw_key = m.group(3)
    key_start, key_end = m.span(3)
    if key_start >= n and m.start(2) >= 0:
        # ``export`` and nothing but spaces up to the end of the input
        out.error(line, start, "zero length string")
        return n, line
    sep = text[key_end] if key_end < n else ""
    problem = _key_problem(text, raw_key, key_start, sep)
    if problem is not None:
        out.error(line, start, problem)
        return _next_line(text, start, line)
    if sep == "":
        # compose-go quirk: a statement with no separator at end of input has key "" and the
        # whole statement as its value
        return _value(text, "", key_start, start, line, out)
    key = raw_key.rstrip(_GO_SPACE_CHARS)
    if " " in key:
        out.error(line, start, "key cannot contain a space")
        return _next_line(text, key_end, line)
    if sep == "\n":  # a bare ``KEY``: the value comes from the environment
        at = key_start + len(key)  # just after the key, before any spaces or CR
        out.add(key, line, start, at, at, BARE, "")
        if " " in raw_key:
            out.lag += 1
        return key_end + 1, line + 1
    return _value(text, key, key_end + 1, start, line, out)


def _head_value(m: re.Match[str], start: int, line: int, out: _Columns) -> tuple[int, int]:
    """A statement ``_HEAD`` took whole: an ASCII key, ``=`` or ``:``, an unquoted value."""
    value, tail = m.group(4), ""
    if " #" in value:  # (the test before the call: most values have no comment)
        value, tail = _without_comment(value)
    else:
        value = value.rstrip(_GO_SPACE_CHARS)
    # an empty value sits right after the separator (never past a CR)
    vstart = m.start(4) if value else m.end(3) + 1
    out.add(
        m.group(3).rstrip(_GO_SPACE_CHARS), line, start, vstart, vstart + len(value), PLAIN, value
    )
    if tail:
        out.tail(tail)
    return m.end() + 1, line + 1


def _key_problem(text: str, raw_key: str, key_start: int, sep: str) -> str | None:
    """The error compose-go reports for a key run ``raw_key`` ended by ``sep`` (``=``, ``:``, a
    newline, ``""`` at the end of the text, or the character that stopped it), or None."""
    if sep in ("=", ":", "\n"):
        bad = None if raw_key.isascii() else _go_key_ok(raw_key)
    elif sep == "":
        bad = None
    else:
        bad = sep
    if bad is None:
        return None
    nl = text.find("\n", key_start)
    first_line = text[key_start : nl if nl >= 0 else len(text)]
    return f"unexpected character {_go_quote(bad)} in variable name {_go_quote(first_line)}"


def _value(text: str, key: str, vpos: int, start: int, line: int, out: _Columns) -> tuple[int, int]:
    """The value of ``key`` from ``vpos`` (just past the separator), by its quote kind."""
    vstart = _skip_inline(text, vpos)
    q = text[vstart] if vstart < len(text) else ""
    if q == '"' or q == "'":
        return _quoted_value(text, key, q, vstart, start, line, out)
    return _unquoted_value(text, key, vpos, vstart, start, line, out)


def _quoted_value(
    text: str, key: str, q: str, vstart: int, start: int, line: int, out: _Columns
) -> tuple[int, int]:
    """A value in quotes ``q`` from ``vstart`` to the matching quote, lines later perhaps.

    Returns the offset just past the closing quote (the rest of the line is the next
    statement's skipped comment) and its line; an unclosed quote ends the parse.
    """
    n = len(text)
    qm = (_DOUBLE if q == '"' else _SINGLE).match(text, vstart)
    if qm is None:
        nl = text.find("\n", vstart)
        shown = text[vstart : nl if nl >= 0 else n]
        out.error(line + text.count("\n", vstart), start, f"unterminated quoted value {shown}")
        return n, line
    content = qm.group(1)
    if "\\" in content:
        content = content.replace("\\" + q, q)
    end = qm.end()
    out.add(key, line, start, vstart, end, _KIND_OF_QUOTE[q], _quoted_template(content, q))
    nl = text.find("\n", end)
    rest = text[end : n if nl < 0 else nl]
    if "#" in rest:
        out.tail(rest)
    crossed = text.count("\n", vstart, end)
    if crossed:
        out.doc.spans.append((vstart, end))
    return end, line + crossed


def _unquoted_value(
    text: str, key: str, vpos: int, vstart: int, start: int, line: int, out: _Columns
) -> tuple[int, int]:
    """An unquoted value from ``vstart`` to the end of its line (a `` #`` starts a comment).
    Returns the start of the next line and its number."""
    nl = text.find("\n", vstart)
    value, tail = _without_comment(text[vstart : len(text) if nl < 0 else nl])
    if not value:
        vstart = vpos  # an empty value sits right after the separator (never past a CR)
    out.add(key, line, start, vstart, vstart + len(value), PLAIN, value)
    if tail:
        out.tail(tail)
    return (len(text), line + 1) if nl < 0 else (nl + 1, line + 1)


def _without_comment(raw: str) -> tuple[str, str]:
    """An unquoted value as written up to the end of its line -> the value (a `` #`` starts a
    comment; trailing white space dropped) and the comment (``""``: none)."""
    cut = raw.find(" #")
    if cut < 0:
        return raw.rstrip(_GO_SPACE_CHARS), ""
    return raw[:cut].rstrip(_GO_SPACE_CHARS), raw[cut:]


def _next_line(text: str, at: int, line: int) -> tuple[int, int]:
    """Where the scanner goes on after an error on line ``line``: the line after the newline
    at or after ``at`` (``len(text)``, the end, when there is none)."""
    nl = text.find("\n", at)
    return (len(text), line) if nl < 0 else (nl + 1, line + 1)


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
    issues: list[SyntaxIssue] = []
    if doc.errors:  # (the lines counted only then: 100,000 keys, 9 ms a file)
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
_SWALLOWED = lazy_pattern(r"\n[ \t]*(?:export[ \t]+)?[A-Za-z_][A-Za-z0-9_.]*[ \t]*=")


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
