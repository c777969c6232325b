"""Unified diffs of env files with values masked (``--diff``).

Masking follows the parse, not a line pattern: every value Docker Compose reads (wherever the
statement stands: two on one line, after a CR-only line ending, across lines), the value of
every assignment inside a comment (``# KEY=value``, ``# KEY: value``, ``# export A="x"``) and
the key of a statement that is no plausible name or does not start its line are replaced by
``***``. Lines are split at ``\\n`` only, as the parser splits them, and each line is shown
through :func:`~envsync_hook.escaping.escape` (a CR, a U+2028 or an escape sequence is shown,
never obeyed).

The diff itself is a patience diff (lines unique to both sides anchor it, the gaps between
anchors are diffed the same way): near-linear where ``difflib`` was quadratic (8,000 keys
under identical comments, reordered, took 21 s).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from envsync_hook.compare import odd_keys
from envsync_hook.document import Document, parse
from envsync_hook.escaping import escape, plausible_key
from envsync_hook.secrets import display_value, holds_pattern, is_secret_key, mask_url_password

MASK = "***"
CONTINUED = MASK + " (continued)"
CONTEXT = 3


def _value_span(doc: Document, i: int) -> tuple[int, int]:
    """The raw value text of binding ``i`` without its quotes."""
    start, end = doc.value_span(i)
    if doc.kinds[i] in (1, 2) and end - start >= 2:  # SINGLE, DOUBLE: keep the quotes
        return start + 1, end - 1
    return start, end


def _shown_value(raw: str, key: str, show_values: bool, patterns: tuple[str, ...]) -> str:
    """What stands for the raw value text ``raw``, with exactly as many newlines."""
    if show_values and not (is_secret_key(key, patterns) and raw.strip()):
        # innocent (or empty) values show, with URL and DSN secrets masked; the masking
        # never takes a newline away (a password ends at white space)
        shown = display_value(key, raw, patterns) if "\n" not in raw else mask_url_password(raw)
        if shown.count("\n") == raw.count("\n"):
            return shown
    if "\n" not in raw:
        return MASK
    return MASK + ("\n" + CONTINUED) * raw.count("\n")


#: in a comment: a word, then ``=`` or ``:`` (``KEY=``, ``# KEY: value``), then the text to
#: mask: the rest of the comment's line, but trailing white space
_COMMENT_ASSIGNMENT = re.compile(r"(?<![\w.\-])([\w.\-]+)[ \t]*([=:])[ \t]*")


def _names_a_variable(word: str, patterns: tuple[str, ...]) -> bool:
    """Before a ``:``: a word that reads as a variable (``DB_HOST``, ``db_pass``, ``PORT``,
    ``password``, ``mypassword``), not prose (``Note:``, ``e.g.:``, the ``http:`` of a URL).
    A pattern anywhere in the word counts (:func:`holds_pattern`, not the word rule of
    :func:`is_secret_key`): a comment's ``mypassword: ...`` is masked."""
    return "_" in word or word.isupper() or holds_pattern(word, patterns)


def _comment_masks(
    body: str, offset: int, show_values: bool, patterns: tuple[str, ...]
) -> list[tuple[int, int, str]]:
    """The mask for a comment's text ``body`` (starting at ``offset``): everything after its
    first ``word=`` or ``VARIABLE:`` (a commented-out assignment in any form, and whatever a
    line separator or a CR inside the comment makes look like one)."""
    for m in _COMMENT_ASSIGNMENT.finditer(body):
        key, sep = m.groups()
        if sep == ":" and not _names_a_variable(key, patterns):
            continue
        start = m.end()
        value = body[start:].rstrip()
        if not value:
            return []
        end = start + len(value)
        return [(offset + start, offset + end, _shown_value(value, key, show_values, patterns))]
    return []


#: fix's note on a key it moved (``merge.MARKER_PREFIX``): ``# envsync: KEY is now defined in ...``
_MARKER_KEY = re.compile(r" envsync: (\S+) is now defined in ")


def _marker_key_mask(
    body: str, body_start: int, hide_keys: frozenset[str]
) -> list[tuple[int, int, str]]:
    """The key that fix's note names, masked when it is no plausible name or a hidden key: the
    note is a comment, and a pasted PEM or token line read as a key must not print there
    either."""
    m = _MARKER_KEY.match(body)
    if m is None or (plausible_key(m.group(1)) and m.group(1) not in hide_keys):
        return []
    return [(body_start + m.start(1), body_start + m.end(1), MASK)]


def masked_text(
    doc: Document,
    show_values: bool,
    patterns: tuple[str, ...],
    hide_keys: frozenset[str] = frozenset(),
) -> str:
    """``doc``'s text with every value replaced (see the module docstring); the same number of
    ``\\n`` as the original, so that line ``i`` of one is line ``i`` of the other. The keys in
    ``hide_keys`` are masked wherever they stand (an odd key of the file before the merge,
    which the merge moved onto a line of its own)."""
    text = doc.text
    masks: list[tuple[int, int, str]] = []  # (start, end, replacement), in text order
    covered: list[tuple[int, int]] = []  # statements: a '#' inside them starts no comment
    keys, starts, lines = doc.keys, doc.starts, doc.lines
    for i, key in enumerate(keys):
        start = starts[i]
        vstart, vend = doc.value_span(i)
        covered.append((start, max(vend, start + len(key))))
        mid_line = i > 0 and lines[i] == lines[i - 1]
        if mid_line or key in hide_keys or not plausible_key(key):
            at = text.find(key, start) if key else -1
            if at >= 0:
                masks.append((at, at + len(key), MASK))
        if doc.kinds[i] == 3:
            continue
        s, e = _value_span(doc, i)
        if e > s:
            masks.append((s, e, _shown_value(text[s:e], key, show_values, patterns)))
    # comments: a '#' at a line start or after white space, outside every statement
    cstarts = [c[0] for c in covered]
    pos = 0
    n = len(text)
    while pos < n:
        hash_at = text.find("#", pos)
        if hash_at < 0:
            break
        k = bisect_left(cstarts, hash_at + 1) - 1
        if k >= 0 and covered[k][0] <= hash_at < covered[k][1]:
            pos = covered[k][1]
            continue
        eol = text.find("\n", hash_at)
        eol = n if eol < 0 else eol
        body_start = hash_at + 1
        body = text[body_start:eol]
        if k >= 0 and text.rfind("\n", 0, hash_at) < covered[k][1] and not show_values:
            # a comment after a statement on its line: the operator's note beside a value
            # (``DB_PASSWORD=x # was hunter2``), hidden whole
            if body.strip():
                lead = len(body) - len(body.lstrip())
                masks.append((body_start + lead, body_start + len(body.rstrip()), MASK))
        else:
            masks.extend(_comment_masks(body, body_start, show_values, patterns))
            masks.extend(_marker_key_mask(body, body_start, hide_keys))
        pos = eol
    # lines compose rejects (the parser may stop there: everything after is hidden)
    hidden_from = n
    for issue in doc.errors:
        line_start = text.rfind("\n", 0, issue.offset) + 1
        if issue.message.startswith("unterminated"):
            hidden_from = min(hidden_from, line_start)
        eol = text.find("\n", issue.offset)
        masks.append((line_start, n if eol < 0 else eol, "<line with a syntax error, not shown>"))
    if hidden_from < n:
        masks.append((hidden_from, n, _hide_lines(text[hidden_from:])))
    return _apply(text, masks)


def _hide_lines(text: str) -> str:
    return "\n".join("<not shown>" if line else "" for line in text.split("\n"))


def _apply(text: str, masks: list[tuple[int, int, str]]) -> str:
    """``text`` with the non-overlapping spans of ``masks`` replaced (the first of two that
    overlap wins; a span that overlaps a taken one keeps its newlines only)."""
    masks.sort(key=lambda m: (m[0], -m[1]))
    out: list[str] = []
    pos = 0
    for start, end, repl in masks:
        if start < pos:
            if end > pos:  # overlapping: hide the rest, newlines kept
                out.append(_hide_lines(text[pos:end]).replace("<not shown>", MASK))
                pos = end
            continue
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def masked_lines(
    doc: Document,
    show_values: bool,
    patterns: tuple[str, ...],
    hide_keys: frozenset[str] = frozenset(),
) -> list[str]:
    """Each line of ``doc`` (split at ``\\n``) as it may be shown: values replaced, escaped."""
    text = masked_text(doc, show_values, patterns, hide_keys)
    return [_display_line(line) for line in text.split("\n")]


def _display_line(line: str) -> str:
    """A line for the terminal: one trailing CR (a CRLF file) dropped, the rest escaped."""
    return escape(line[:-1] if line.endswith("\r") else line)


# --- the diff -------------------------------------------------------------------------------

Opcode = tuple[str, int, int, int, int]


def _lis(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by the first item) increasing in the second item:
    patience sorting, O(n log n)."""
    tails: list[int] = []  # the smallest last b of an increasing run of each length
    tail_at: list[int] = []  # its index in pairs
    back: list[int] = []
    for k, (_a, b) in enumerate(pairs):
        j = bisect_left(tails, b)
        if j == len(tails):
            tails.append(b)
            tail_at.append(k)
        else:
            tails[j] = b
            tail_at[j] = k
        back.append(tail_at[j - 1] if j else -1)
    out = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        out.append(pairs[k])
        k = back[k]
    out.reverse()
    return out


def _matches(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of equal lines, increasing in both, that the diff keeps: a patience
    diff with an explicit stack of ranges (no recursion limit)."""
    out: list[tuple[int, int]] = []
    todo = [(0, len(a), 0, len(b))]
    while todo:
        a0, a1, b0, b1 = todo.pop()
        # equal lines at both ends
        while a0 < a1 and b0 < b1 and a[a0] == b[b0]:
            out.append((a0, b0))
            a0 += 1
            b0 += 1
        while a0 < a1 and b0 < b1 and a[a1 - 1] == b[b1 - 1]:
            a1 -= 1
            b1 -= 1
            out.append((a1, b1))
        if a0 == a1 or b0 == b1:
            continue
        # lines that occur once in each side: the anchors
        count: dict[str, list[int]] = {}
        for i in range(a0, a1):
            entry = count.get(a[i])
            if entry is None:
                count[a[i]] = [1, i, 0, -1]
            else:
                entry[0] += 1
        for j in range(b0, b1):
            entry = count.get(b[j])
            if entry is not None:
                entry[2] += 1
                entry[3] = j
        pairs = sorted((e[1], e[3]) for e in count.values() if e[0] == 1 and e[2] == 1)
        anchors = _lis(pairs)
        if not anchors:
            continue  # no anchor: the range is replaced as a whole
        out.extend(anchors)
        prev_a, prev_b = a0, b0
        for i, j in anchors:
            todo.append((prev_a, i, prev_b, j))
            prev_a, prev_b = i + 1, j + 1
        todo.append((prev_a, a1, prev_b, b1))
    out.sort()
    return out


def opcodes(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """``difflib.SequenceMatcher.get_opcodes`` of a patience diff of ``a`` and ``b``."""
    codes: list[Opcode] = []
    i = j = 0
    for mi, mj in [*_matches(a, b), (len(a), len(b))]:
        if i < mi or j < mj:
            tag = "replace" if i < mi and j < mj else ("delete" if i < mi else "insert")
            codes.append((tag, i, mi, j, mj))
        if mi < len(a) and mj < len(b):
            if codes and codes[-1][0] == "equal":
                _, ei, _, ej, _ = codes[-1]
                codes[-1] = ("equal", ei, mi + 1, ej, mj + 1)
            else:
                codes.append(("equal", mi, mi + 1, mj, mj + 1))
        i, j = mi + 1, mj + 1
    return codes


def grouped(codes: list[Opcode], context: int = CONTEXT) -> list[list[Opcode]]:
    """Hunks: the changes with up to ``context`` equal lines around them (as difflib groups)."""
    if not codes:
        return []
    codes = list(codes)
    if codes[0][0] == "equal":
        _, i1, i2, j1, j2 = codes[0]
        codes[0] = ("equal", max(i1, i2 - context), i2, max(j1, j2 - context), j2)
    if codes[-1][0] == "equal":
        _, i1, i2, j1, j2 = codes[-1]
        codes[-1] = ("equal", i1, min(i2, i1 + context), j1, min(j2, j1 + context))
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return [g for g in groups if any(c[0] != "equal" for c in g)]


def masked_diff(
    old: str,
    new: str,
    old_name: str,
    new_name: str,
    show_values: bool,
    patterns: tuple[str, ...],
) -> str:
    """A unified diff of ``old`` -> ``new`` whose lines show no value unless ``show_values``."""
    a_real, b_real = old.split("\n"), new.split("\n")
    old_doc = parse(old)
    odd = odd_keys(old_doc) | {k for k in old_doc.keys if not plausible_key(k)}
    a_show = masked_lines(old_doc, show_values, patterns, frozenset(odd))
    b_show = masked_lines(parse(new), show_values, patterns, frozenset(odd))
    out = [f"--- {escape(old_name)}", f"+++ {escape(new_name)}"]
    for group in grouped(opcodes(a_real, b_real)):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(" " + line for line in a_show[a1:a2])
                continue
            if tag in ("replace", "delete"):
                out.extend("-" + line for line in a_show[a1:a2])
            if tag in ("replace", "insert"):
                out.extend("+" + line for line in b_show[b1:b2])
    if len(out) == 2:
        return ""
    return "\n".join(out) + "\n"
