"""The fix merge: a pure function from documents and decisions to the new env text.

The template is the structure, byte for byte; an operator value that is kept replaces only
the value text on the template's line; keys the template does not assign go in one
trailing block. The result is verified by parsing it back: every key must read as intended.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, filterfalse, repeat
from operator import eq

from envsync_hook.compare import (
    DROP,
    KEEP,
    TAKE,
    TRAIL,
    UNDER,
    Comparison,
    Side,
    canonical,
    index,
    like,
    with_decisions,
)
from envsync_hook.document import (
    _GO_SPACE_CHARS,
    _INLINE_SPACE,
    BARE,
    PLAIN,
    Binding,
    Commented,
    Document,
    parse,
)
from envsync_hook.errors import EnvsyncError
from envsync_hook.escaping import escape_controls
from envsync_hook.lean import NamedTuple
from envsync_hook.references import (
    COMMENT_BLANKS,
    EMPTY,
    comment_text,
    first_changed,
    place,
    referencing_keys,
    unsure,
)

MARKER_PREFIX = "# envsync:"


class MergeError(EnvsyncError):
    """The merged text would not read as intended; nothing is written (exit 2)."""


def eol_of(text: str) -> str:
    nl = text.find("\n")
    if nl > 0 and text[nl - 1] == "\r":
        return "\r\n"
    return "\n"


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    """Offset of the end of the line containing ``offset`` (before ``\\r\\n`` or ``\\n``)."""
    nl = text.find("\n", offset)
    if nl < 0:
        return len(text)
    if nl > offset and text[nl - 1] == "\r":
        return nl - 1
    return nl


def double_quote(template: str) -> str:
    """A double-quoted value that compose reads as ``template``."""
    return '"' + template.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _splice_value(ttext: str, tvalue_end: int, raw: str, quoted: bool, etemplate: str) -> str:
    """The operator's value text as it should stand on the template's line, in place of the
    template's value ending at ``tvalue_end``: the env file's ``raw`` value text (``quoted``:
    in quotes; ``etemplate``: what it reads as)."""
    if quoted:
        return raw  # after a closing quote the rest of the line reads as before
    # unquoted: simulate how compose reads it followed by the rest of the template line
    rest = ttext[tvalue_end : _line_end(ttext, tvalue_end)]
    probe = raw + rest
    if raw == "":
        probe = probe.lstrip(_INLINE_SPACE)
        if probe[:1] in ("'", '"'):
            return double_quote(etemplate)
    cut = probe.find(" #")
    if cut >= 0:
        probe = probe[:cut]
    if probe.rstrip(_GO_SPACE_CHARS) == raw:
        return raw
    return double_quote(etemplate)


def _stmt_start(text: str, b: Binding) -> int:
    """Where the statement's own text begins: its line's start when only blanks precede it
    there, else the statement itself (after a closing quote a new statement may follow on
    the same line, and a lone CR is no line break)."""
    ls = _line_start(text, b.start)
    before = text[ls : b.start].lstrip("\ufeff")
    return ls if before.strip(_INLINE_SPACE) == "" and "\r" not in before else b.start


def _bare_word_at_eof(text: str, b: Binding) -> bool:
    """compose-go's key "": a statement with no ``=`` or ``:`` at the very end of the input
    (``A`` or ``export A`` with no newline) is read as the key "" with the word as its value."""
    if b.key or b.inherited:
        return False
    head = text[b.start : b.value_start]
    return "=" not in head and ":" not in head


def _statement_text(side: Side, b: Binding, eol: str = "\n") -> str:
    """The statement's line(s) as written, without the final line ending; a bare ``KEY``
    that followed it in the env file comes along (on its own line, joined by ``eol``)."""
    text = side.doc.text
    start = _stmt_start(text, b)
    stmt = text[start : _line_end(text, b.value_end if not b.inherited else b.start)]
    if _bare_word_at_eof(text, b):
        # written out mid-file it would be a bare KEY: give the key "" its ``=``
        at = b.value_start - start
        stmt = stmt[:at] + "=" + stmt[at:]
    # trailing CRs are line-ending debris, not value (the value ends at value_end); the env
    # file's BOM belongs to the start of a file
    stmt = stmt.lstrip("\ufeff").rstrip("\r")
    bi = side.bare_after.get(b.key)
    if bi is not None:
        bare_start = side.doc.starts[bi]
        if bare_start != b.start:
            stmt += eol + text[_line_start(text, bare_start) : _line_end(text, bare_start)]
    return stmt


def _comments_above(
    side: Side, b: Binding, spans: list[tuple[int, int]], starts: list[int]
) -> list[str]:
    """The comment lines right above ``b``; ``starts``: the spans' starts (both in text order,
    and the spans do not overlap, so only the last span starting before a line can hold it)."""
    text = side.doc.text
    lines: list[str] = []
    pos = _line_start(text, b.start)
    while pos > 0:
        prev = _line_start(text, pos - 1)
        i = bisect_left(starts, prev) - 1
        if i >= 0 and prev < spans[i][1]:
            break
        line = text[prev:pos].rstrip("\r\n").lstrip("\ufeff")
        stripped = line.strip()
        if not stripped.startswith("#") or stripped.startswith(MARKER_PREFIX):
            break
        lines.append(line)
        pos = prev
    lines.reverse()
    return lines


def _near(path: str, folder: str) -> str:
    """``path`` as the env file's folder sees it, so that the text fix writes does not depend
    on the directory it runs from; control characters escaped (a comment is one line)."""
    return escape_controls(os.path.relpath(path, folder))


def merge(
    template: Side,
    env: Side,
    comparison: Comparison,
    template_name: str,
    comments: OwnComments | None = None,
) -> str:
    """The new env text. ``template_name`` names the template in the trailing block's marker."""
    return merged(template, env, comparison, template_name, comments)[0]


def merged(
    template: Side,
    env: Side,
    comparison: Comparison,
    template_name: str,
    comments: OwnComments | None = None,
) -> tuple[str, Document]:
    """:func:`merge`, with the parse of the new text that verified it (fix compares it again
    for the findings that remain, without parsing it twice).

    The steps: the edits to the template's text (opt-ins under their comments, the operator's
    own comment lines above the keys they stood above, kept values on the template's lines),
    applied; the trailing block of kept keys no template line assigns; lines moved where a
    kept value's reference would resolve elsewhere; then :func:`verify`. ``comments``: the
    operator's own comment lines to keep (:func:`own_comments`; none when not given)."""
    ttext = template.doc.text
    eol = eol_of(ttext)
    decisions = comparison.decisions
    if comments is None:
        comments = NO_OWN_COMMENTS
    # (opt-ins first: inserted at the start of a line, they go before an ``export `` that
    # the statement starting there gets; the operator's comments next, then that ``export ``)
    edits = _opt_in_inserts(template, env, decisions, eol, comments.above)
    edits += _comment_inserts(template, comments.above, decisions, eol)
    edits += _template_line_edits(template, env, comparison, eol)
    (trail,) = with_decisions(decisions, TRAIL)
    edits += _open_last_word(template, env, decisions, edits, bool(trail))
    body = _applied(ttext, edits)
    in_order = _in_env_order(env, trail)
    text, block_header = _with_trailing_block(body, env, comparison, in_order, template_name, eol)
    del body  # (a copy of the template's text: not kept while the result is verified)
    # (its keys and values are the env file's or the template's: their strings, not copies)
    doc = parse(text, like(env, template))
    text, doc, checked = _placed_for_references(
        text, doc, template, env, decisions, trail, block_header, eol, comments
    )
    verify(text, template, env, decisions, comparison.unequal, doc, checked, in_order)
    return text, doc


def _in_env_order(env: Side, keys: list[str]) -> list[str]:
    """``keys`` (of the env file) in the env file's order (``env.last``'s: a key's first
    assignment): sorting the few kept at the end rather than filtering every key of the env
    file (100,000 keys: 20 ms, twice a merge). A key assigned more than once sorts by its last
    assignment, not its first: then the filter."""
    elast, dups = env.last, env.dups
    if dups and any(k in dups for k in keys):
        wanted = set(keys)
        return [k for k in elast if k in wanted]
    return sorted((k for k in keys if k in elast), key=elast.__getitem__)


#: an edit of the template's text: (start, end, replacement)
_Edit = tuple[int, int, str]


def _opt_in_inserts(
    template: Side,
    env: Side,
    decisions: dict[str, str],
    eol: str,
    above: dict[str, list[str]],
) -> list[_Edit]:
    """The operator's statement of each opt-in (UNDER), inserted right below the template's
    commented-out ``# KEY=`` line (several at one place keep the template's order), with the
    operator's own comment lines that stood right above it (``above``)."""
    ttext = template.doc.text
    inserts: dict[int, list[str]] = {}  # template offset -> statements to insert there
    for key, c in _last_commented(template).items():
        if decisions.get(key) != UNDER:
            continue
        at = ttext.find("\n", c.start)
        eb = env.at(key)
        stmt = "".join(line + eol for line in above.get(key, ())) + _statement_text(env, eb, eol)
        if at < 0:  # the comment is the last line and has no newline
            # (a bare KEY as the very last line with no newline would read as key "")
            tail = eol if eb.inherited or key in env.bare_after else ""
            inserts.setdefault(len(ttext), []).append(eol + stmt + tail)
        else:
            inserts.setdefault(at + 1, []).append(stmt + eol)
    return [(at, at, "".join(stmts)) for at, stmts in inserts.items()]


class OwnComments(NamedTuple):
    """The operator's own comment lines in the env file: those whose text no template of the
    set (nor the base) has, so fix cannot take them from the template."""

    #: key -> its own comment lines that stood right above its statement, to stand right above
    #: it in the merged file too (a template key's line, or an opt-in under its ``# KEY=``)
    above: dict[str, list[str]]
    #: line numbers of own comment lines the merged file does not hold: above a key fix drops
    #: or an earlier assignment of a duplicate, or not above a statement at all (the backup
    #: has them; fix's notice says which lines)
    lost: list[int]


#: a comment line, whole (group 1), after the newline before it (the first line:
#: :func:`_comment_chunks`). A ``#`` line inside a quoted value that crosses lines matches too
#: (:func:`_lines_in_spans` tells)
_COMMENT_LINE = re.compile(r"\n([\ufeff \t]*#[^\n]*)")

NO_OWN_COMMENTS = OwnComments({}, [])


#: the text one regex pass of :func:`_comment_chunks` reads (its comment lines are a list)
_CHUNK = 1 << 20


def _comment_chunks(text: str) -> Iterator[list[str]]:
    """The comment lines of ``text``, whole and in order (:data:`_COMMENT_LINE`), a list for
    each megabyte or so of the text: one regex pass in C (0.05 s at 100,000 keys, no slower
    than a split and a filter), never all the lines at once (that list is 12 MB)."""
    # (the first line on its own, not a search of "\n" + text: no copy)
    nl = text.find("\n")
    first = text if nl < 0 else text[:nl]
    if first.lstrip("\ufeff \t")[:1] == "#":
        yield [first]
    findall, n = _COMMENT_LINE.findall, len(text)
    start = nl  # (a newline: each part ends right before one, or at the end)
    while 0 <= start < n:
        end = text.find("\n", start + _CHUNK)
        end = n if end < 0 else end
        yield findall(text, start, end)
        start = end


def own_comments(
    template: Side,
    env: Side,
    decisions: dict[str, str],
    others: Sequence[Side | None] = (),
    keep: bool = True,
) -> OwnComments:
    """The env file's own comment lines (:class:`OwnComments`): a comment line whose text
    (indentation and trailing blanks aside) neither the template nor ``others`` (the set's
    other templates, the base) has is the operator's; where it stands right above a
    statement fix writes (in a run of comment lines ending there), it goes with it.

    ``keep`` False (no base: the previous release's comments, reworded since, would pass for
    the operator's and stand twice): none is kept; those above the trailing block's keys go
    with them as ever, the rest are ``lost``.

    In the usual case every comment line of the env file is a template's: one regex pass
    over each text and set look-ups, and nothing more. (A cost that grows with the text:
    1 ms on a Dify pair; at 100,000 keys 0.12 s of CPU, 0.14 s with 500 lines of the
    operator's to place, and at most 12 MB held: the template's comment lines.)"""
    etext = env.doc.text
    if "#" not in etext:
        return NO_OWN_COMMENTS
    texts = [side.doc.text for side in others if side is not None]
    own = own_comment_lines(etext, template.doc.text, texts)
    if not own:
        return NO_OWN_COMMENTS
    return _place_own(template, env, decisions, own, keep)


def own_comment_lines(etext: str, ttext: str, others: Sequence[str] = ()) -> list[str]:
    """The comment lines of ``etext`` (whole, in order, each time one stands) whose text
    (:func:`comment_text`) no comment line of ``ttext`` or of the ``others`` has, and that
    are no trailing block's marker lines."""
    own = _not_in_template(etext, ttext)
    for text in others:
        if not own:
            break
        own = _not_in(own, chain.from_iterable(_comment_chunks(text)))
    return [c for c in own if not comment_text(c).startswith(MARKER_PREFIX)]


def _not_in_template(etext: str, ttext: str) -> list[str]:
    """The comment lines of ``etext`` (whole, in order, each time one stands) whose text no
    comment line of ``ttext`` has: first as written (the template's as keys of a dict, and
    the env file's looked up in it, part by part: most are the template's), then as
    :func:`comment_text` compares them."""
    # (a dict, not a set: it is read in the template's order, which is memory order, 8 ms less)
    theirs = dict.fromkeys(chain.from_iterable(_comment_chunks(ttext)))
    own: list[str] = []
    for part in _comment_chunks(etext):
        own.extend(filterfalse(theirs.__contains__, part))
    return _not_in(own, theirs) if own else own


def _not_in(own: list[str], theirs: Iterable[str]) -> list[str]:
    """The lines of ``own`` whose text (:func:`comment_text`) no line of ``theirs`` has."""
    # (theirs as compared, in C: one strip of each, most give back the line itself)
    wanted = set(map(comment_text, own))
    wanted.difference_update(map(str.strip, theirs, repeat(COMMENT_BLANKS)))
    return [c for c in own if comment_text(c) in wanted]


def _place_own(
    template: Side,
    env: Side,
    decisions: dict[str, str],
    own: list[str],
    keep: bool,
) -> OwnComments:
    """Where each of the env file's own comment lines (``own``, whole lines as written, in
    order) goes: with the statement right below the run of comment lines it stands in, or
    nowhere (``lost``)."""
    # (every line between two newlines; one copy, not two: 10 MB less at 100,000 keys)
    text = "".join(("\n", env.doc.text, "\n"))
    inside = _lines_in_spans(env.doc)
    above: dict[str, list[str]] = {}
    lost: list[int] = []
    homes: dict[int, str | None] = {}  # the line (0-based) after a run -> the key it goes with
    after = -1  # the line right below the run of comment lines looked at last
    for n, end, line in _own_lines(text, own):
        if n in inside:
            continue  # (a ``#`` line inside a quoted value is value)
        # (one walk a run, not one a line of it: 20,000 own lines in one run took minutes)
        if n >= after:
            after = _run_end(text, end, n)
        if after not in homes:
            homes[after] = _home_of(template, env, decisions, after + 1)
        key = homes[after]
        if key is None or (key and not keep):
            lost.append(n + 1)
        elif key:
            above.setdefault(key, []).append(line.lstrip("\ufeff").rstrip("\r"))
    return OwnComments(above, lost)


def _own_lines(text: str, own: list[str]) -> Iterator[tuple[int, int, str]]:
    """``(number, end, line)`` of each line of ``text`` (a file's text between two newlines)
    in ``own``, in order: its (0-based) number, the offset of the newline that ends it, and
    the line. ``own`` is some of the file's comment lines in order: each is the next whole
    line like it after the last (every line like it is a comment line, and ours)."""
    # (searched for and counted from the last one: no split of the text, 0.05 s at 100,000 keys)
    pos, newlines = 0, 0  # where to search from, and the newlines before it
    for line in own:
        found = text.find("\n" + line + "\n", pos)  # (the newline before it)
        n = newlines + text.count("\n", pos, found)
        end = found + 1 + len(line)
        yield n, end, line
        pos, newlines = end, n + 1


def _run_end(text: str, end: int, n: int) -> int:
    """The number of the line right below the run of comment lines that line ``n`` (ended by
    the newline at ``end`` of ``text``, a file's text between two newlines) stands in."""
    after = n + 1
    while end + 1 < len(text):  # (to the end of the run of comment lines)
        nxt = text.find("\n", end + 1)
        line = comment_text(text[end + 1 : nxt])
        if line[:1] != "#" or line.startswith(MARKER_PREFIX) or "\r" in line:
            break
        after, end = after + 1, nxt
    return after


def _lines_in_spans(doc: Document) -> set[int]:
    """The (0-based) numbers of the lines inside quoted values that cross lines (not their
    first line): a ``#`` there is value, not a comment."""
    out: set[int] = set()
    text, line, counted = doc.text, 0, 0
    for start, end in doc.spans:
        line += text.count("\n", counted, start)
        last = line + text.count("\n", start, end)
        out.update(range(line + 1, last + 1))
        line, counted = last, end
    return out


def _home_of(template: Side, env: Side, decisions: dict[str, str], line: int) -> str | None:
    """The key whose statement, on env line ``line`` (right below a run of comment lines),
    carries the run's own lines: its key (a template key kept or taken, an opt-in), "" when
    the trailing block carries them already (its keys come with the comments above them), or
    None when the merged file will not hold them (a key fix drops, an earlier assignment of a
    duplicate, a blank line or no statement there)."""
    doc = env.doc
    i = bisect_left(doc.lines, line)
    if i >= len(doc.lines) or doc.lines[i] != line:
        return None
    key = doc.keys[i]
    b = doc.binding(i)
    if (
        env.last.get(key) != i
        or _stmt_start(doc.text, b) != _line_start(doc.text, b.start)
        or key in env.bare_after
    ):
        return None
    decision = decisions.get(key)
    if decision == TRAIL:
        return ""
    if decision == UNDER:
        return key
    if decision not in (KEEP, TAKE) or key not in template.last:
        return None
    ttext = template.doc.text
    tb = template.at(key)
    ls = _line_start(ttext, tb.start)
    if _stmt_start(ttext, tb) != ls or (ls == 0 and ttext.startswith("\ufeff")):
        return None  # (no line of its own to stand above; before a BOM it would read as a key)
    return key


def _comment_inserts(
    template: Side, above: dict[str, list[str]], decisions: dict[str, str], eol: str
) -> list[_Edit]:
    """The operator's own comment lines, each run right above the template line of the key
    it stood above (after the template's own comments there)."""
    ttext = template.doc.text
    edits: list[_Edit] = []
    for key, lines in above.items():
        if decisions.get(key) not in (KEEP, TAKE):
            continue  # (an opt-in's go with its statement: _opt_in_inserts)
        at = _line_start(ttext, template.at(key).start)
        edits.append((at, at, "".join(line + eol for line in lines)))
    return edits


def _keys_to_visit(
    template: Side, env: Side, comparison: Comparison, own: tuple[dict[str, str], set[str]]
) -> Iterable[str]:
    """The template keys whose line may need an edit: all of them, or, in the usual case (no
    bare ``KEY`` line, and the comparison knows which texts differ), only those, plus the
    ones carrying the operator's own comment or ``export``."""
    if comparison.unequal is None or BARE in template.doc.kinds or BARE in env.doc.kinds:
        return template.last
    comments, exported = own
    visit = comparison.unequal
    if comments or exported:
        listed = set(visit)
        extra = [k for k in (*comments, *exported) if k in template.last and k not in listed]
        visit = [*visit, *dict.fromkeys(extra)]
    return visit


def _template_line_edits(
    template: Side, env: Side, comparison: Comparison, eol: str
) -> list[_Edit]:
    """The edits to the template's lines: for each key kept (KEEP) or taken (TAKE), what
    :func:`_line_edits` says."""
    decisions = comparison.decisions
    own = _operator_text(template, env, decisions)
    edits: list[_Edit] = []
    tdoc, edoc = template.doc, env.doc
    tkinds, ttemplates, ekinds, etemplates = tdoc.kinds, tdoc.templates, edoc.kinds, edoc.templates
    tlast, elast, ebare = template.last, env.last, env.bare_after
    comments, exported = own
    for key in _keys_to_visit(template, env, comparison, own):
        decision = decisions.get(key)
        if decision not in (KEEP, TAKE):
            continue
        ti, ei = tlast[key], elast[key]
        bi = ebare.get(key) if ebare else None
        if (
            decision == KEEP
            and bi is None
            and ttemplates[ti] == etemplates[ei]
            and tkinds[ti] != BARE
            and ekinds[ei] != BARE
            and key not in comments
            and key not in exported
        ):
            continue  # the template's line already reads as the operator's
        if (
            decision == KEEP
            and bi is None
            and tkinds[ti] != BARE
            and ekinds[ei] != BARE
            and key not in comments
            and key not in exported
        ):
            edits += _kept_value_edit(template.doc, env.doc, ti, ei)
        else:
            edits += _line_edits(template, env, key, decision, own, eol)
    return edits


def _kept_value_edit(tdoc: Document, edoc: Document, ti: int, ei: int) -> list[_Edit]:
    """:func:`_line_edits` of the usual kept key (an assignment on both sides, no ``export``,
    comment or bare ``KEY`` of the operator's): the operator's value spliced in for the
    template's, where it reads differently. From the columns, with no Binding made (100,000
    keys: 25 ms)."""
    tt, et = tdoc.templates[ti], edoc.templates[ei]
    if et == tt or canonical(et) == canonical(tt):
        return []
    tstart, tend = tdoc.value_span(ti)
    estart, eend = edoc.value_span(ei)
    raw = edoc.text[estart:eend]
    return [(tstart, tend, _splice_value(tdoc.text, tend, raw, edoc.kinds[ei] != PLAIN, et))]


def _line_edits(
    template: Side,
    env: Side,
    key: str,
    decision: str,
    own: tuple[dict[str, str], set[str]],
    eol: str,
) -> list[_Edit]:
    """The edits of one template line: the operator's whole statement where either side is a
    bare ``KEY``; else ``export``, the operator's value (with its own comment, when it has
    one) spliced into the template's line, and a bare ``KEY`` override kept after it."""
    tdoc, edoc, ttext = template.doc, env.doc, template.doc.text
    tb = tdoc.binding(template.last[key])
    eb = edoc.binding(env.last[key])
    bi = env.bare_after.get(key) if env.bare_after else None
    bare_after = edoc.binding(bi) if bi is not None else None
    if decision == TAKE:
        eb = tb  # the template's value; an operator's bare KEY override still follows it
    elif tb.inherited and eb.inherited:
        return []
    elif tb.inherited or eb.inherited:
        return _whole_statement(template, env, key, tb, eb, bare_after is not None, eol)
    edits: list[_Edit] = []
    comments, exported = own
    if decision == KEEP and key in exported and not ttext.startswith("export", tb.start):
        edits.append((tb.start, tb.start, "export "))
    own_comment = comments.get(key) if decision == KEEP else None
    if own_comment is not None and own_comment != _comment_after(ttext, tb.value_end):
        # the operator's value with the rest of its line, as written: it reads as it did
        etext = env.doc.text
        mine = etext[eb.value_start : _line_end(etext, eb.value_end)]
        edits.append((tb.value_start, _line_end(ttext, tb.value_end), mine))
    elif (
        eb is not tb
        and eb.template != tb.template
        and canonical(eb.template) != canonical(tb.template)
    ):
        raw = env.doc.text[eb.value_start : eb.value_end]
        spliced = _splice_value(ttext, tb.value_end, raw, bool(eb.quote), eb.template)
        edits.append((tb.value_start, tb.value_end, spliced))
    if bare_after is not None and key not in template.bare_after:
        # keep the operator's bare ``KEY`` override right after the template's line
        # (unless the template has such a line of its own, which already stands there)
        e = _line_end(ttext, tb.value_end)
        etext = env.doc.text
        bare = etext[_line_start(etext, bare_after.start) : _line_end(etext, bare_after.start)]
        edits.append((e, e, eol + bare + (eol if e == len(ttext) else "")))
    return edits


def _whole_statement(
    template: Side, env: Side, key: str, tb: Binding, eb: Binding, bare_follows: bool, eol: str
) -> list[_Edit]:
    """A bare ``KEY`` line on either side: the operator's whole statement replaces the
    template's line (and, for a bare KEY, every other template line assigning the key, which
    would otherwise give the key a value where the operator's file gave it none)."""
    tdoc, ttext = template.doc, template.doc.text
    stmt = _statement_text(env, eb, eol)
    targets = [tb]
    if eb.inherited and key in template.dups:
        targets = [tdoc.binding(i) for i, k in enumerate(tdoc.keys) if k == key]
    edits: list[_Edit] = []
    for t in targets:
        s = _stmt_start(ttext, t)
        e = _line_end(ttext, t.value_end)
        line = stmt
        if e == len(ttext) and (eb.inherited or bare_follows):
            line += eol  # a bare KEY last with no newline would read as key ""
        edits.append((s, e, line))
    return edits


def _open_last_word(
    template: Side, env: Side, decisions: dict[str, str], edits: list[_Edit], trail: bool
) -> list[_Edit]:
    """compose-go reads a template that ends in a bare word with no newline as the key "";
    once a line follows it (the trailing block, or an insert at the very end), it would become
    a bare KEY, and the operator's empty value spliced in for the word would leave no statement
    at all (so would an empty value with its own comment, `` # mine``): the word gets its
    ``=``. Not when the operator's own bare statement replaces the word whole
    (:func:`_whole_statement`)."""
    ttext, tdoc = template.doc.text, template.doc
    end = len(ttext)
    last = tdoc.binding(-1) if len(tdoc) and not ttext.endswith("\n") else None
    if last is None or not _bare_word_at_eof(ttext, last):
        return []
    ei = env.last.get(last.key)
    if decisions.get(last.key) == KEEP and ei is not None and env.doc.kinds[ei] == BARE:
        return []
    word = last.value_start  # (an edit from there to the end replaces the word)
    if trail or any(e[0] == end or (e[0] == word and e[1] == end) for e in edits):
        return [(last.value_start, last.value_start, "=")]
    return []


def _applied(text: str, edits: list[_Edit]) -> str:
    """``text`` with the (non-overlapping) ``edits`` made, in order of position."""
    edits.sort(key=lambda e: (e[0], e[1]))
    pieces: list[str] = []
    prev = 0
    for s, e, new in edits:
        pieces.append(text[prev:s])
        pieces.append(new)
        prev = e
    pieces.append(text[prev:])
    return "".join(pieces)


def _with_trailing_block(
    body: str,
    env: Side,
    comparison: Comparison,
    trail: list[str],
    template_name: str,
    eol: str,
) -> tuple[str, tuple[int, int] | None]:
    """``body`` followed by the block of kept keys no template line assigns (``trail``, in the
    env file's order), each with the comment lines above it and a note where another template
    now defines it; and the (start, end) of the block's marker line (None: no block)."""
    if not trail:
        return body, None
    final_newline = body == "" or body.endswith("\n")
    block: list[str] = [""] if body else []
    spans = env.doc.spans  # (a comment line inside a multi-line value is value)
    starts = [start for start, _ in spans]
    block.append(
        f"{MARKER_PREFIX} kept from the previous env file; not assigned in "
        + escape_controls(template_name)
    )
    folder = os.path.dirname(env.path) or os.curdir
    for key in trail:
        eb = env.at(key)
        where = comparison.relocated.get(key)
        if where is not None:
            block.append(f"{MARKER_PREFIX} {key} is now defined in {_near(where, folder)}")
        block.extend(_comments_above(env, eb, spans, starts))
        block.append(_statement_text(env, eb, eol))
    # a bare KEY as the very last line with no newline would read as the key ""
    last_key = trail[-1]
    bare_last = env.doc.kinds[env.last[last_key]] == BARE or last_key in env.bare_after
    end = eol if final_newline or bare_last else ""
    at = len(body) + (0 if final_newline else len(eol))
    marker = block[1 if body else 0]
    header = (at, at + (len(eol) if body else 0) + len(marker) + len(eol))
    return "".join((body, "" if final_newline else eol, eol.join(block), end)), header


def _placed_for_references(
    text: str,
    doc: Document,
    template: Side,
    env: Side,
    decisions: dict[str, str],
    trail: list[str],
    block_header: tuple[int, int] | None,
    eol: str,
    comments: OwnComments = NO_OWN_COMMENTS,
) -> tuple[str, Document, _Checked | None]:
    """Where a kept value's reference would not resolve as in the env file (Compose reads a
    ``${X}`` from the lines above), the lines moved so that it does
    (:func:`references.place`); with what was worked out, for :func:`verify`. The operator's
    own comment lines above a moved statement move with it (``comments``)."""
    kept = referencing_keys(env, decisions)
    if not kept:
        return text, doc, None
    result = _result_side(doc, template, trail)
    doubts = unsure(env, result, decisions, EMPTY, kept)
    if doubts:
        own = frozenset(comment_text(c) for lines in comments.above.values() for c in lines)
        placed = place(text, doc, env, decisions, kept, block_header, eol, own)
        if placed != text:
            text, doc = placed, parse(placed, like(env, template))
            result = index("merged", doc)
            doubts = unsure(env, result, decisions, EMPTY, kept)
    return text, doc, _Checked(result, kept, doubts)


def _result_side(doc: Document, template: Side, trail: list[str]) -> Side:
    """The merged document indexed. In the usual layout (the template's statements, then the
    trailing block's ``trail``) a copy of the template's index, extended, serves: cheaper than
    indexing every statement anew."""
    tkeys, keys = template.doc.keys, doc.keys
    nt = len(tkeys)
    if len(keys) == nt + len(trail) and keys[nt:] == trail and all(map(eq, keys, tkeys)):
        last = template.last.copy()
        last.update(zip(trail, range(nt, nt + len(trail))))
        return Side("merged", doc, last, template.dups)
    return index("merged", doc)


def merged_index(path: str, doc: Document, template: Side) -> Side:
    """``index(path, doc)`` of a merged document. In the usual layout (the template's
    statements first, no key assigned twice) a copy of the template's index, extended: the
    dict of every key is not hashed anew (100,000 keys: 10 ms of a fix)."""
    keys, tkeys, tlast = doc.keys, template.doc.keys, template.last
    nt, n = len(tkeys), len(keys)
    if n >= nt and len(tlast) == nt and all(map(eq, keys, tkeys)):
        last = tlast.copy()
        last.update(zip(keys[nt:], range(nt, n)))
        if len(last) == n:  # (no key twice: no duplicates, no bare ``KEY`` after its own)
            return Side(path, doc, last, {}, {})
    return index(path, doc)


class _Checked(NamedTuple):
    """What merge already worked out for the check by references (``verify`` reuses it)."""

    result: Side
    kept: list[str]
    empty_doubts: list[str]


def _operator_text(
    template: Side, env: Side, decisions: dict[str, str]
) -> tuple[dict[str, str], set[str]]:
    """The kept keys whose env line carries the operator's own text beyond the value: a
    trailing comment unlike the template's (key -> the comment) and an ``export`` prefix.
    Only the lines the parser noted are looked at (most have neither), and a comment written
    as on the template's line is passed over at the cost of one dict look-up."""
    doc = env.doc
    text, keys, elast = doc.text, doc.keys, env.last
    tkeys = template.doc.keys
    tlast = template.last
    # (the tail of the template line the value goes on, its last: an earlier one of a key
    # assigned twice is not on it, and the operator's comment like it would be lost)
    theirs = {tkeys[i]: tail for i, tail in template.doc.tails if tlast.get(tkeys[i]) == i}
    comments: dict[str, str] = {}
    for i, tail in doc.tails:
        key = keys[i]
        if theirs.get(key) == tail or elast.get(key) != i or decisions.get(key) != KEEP:
            continue
        comment = _comment_after(text, doc.value_span(i)[1])
        if comment is not None:
            comments[key] = comment
    exported = {
        keys[i]
        for i in doc.exports
        if i < len(keys)
        and elast.get(keys[i]) == i
        and decisions.get(keys[i]) == KEEP
        and doc.kinds[i] != BARE
        and text.startswith("export", doc.starts[i])
    }
    return comments, exported


def _comment_after(text: str, value_end: int) -> str | None:
    """The comment after a value on its line (spaces around it stripped), or None."""
    rest = text[value_end : _line_end(text, value_end)].strip(_INLINE_SPACE)
    return rest if rest.startswith("#") else None


def _last_commented(template: Side) -> dict[str, Commented]:
    out: dict[str, Commented] = {}
    for c in template.doc.commented:
        if c.key not in template.last:
            out.setdefault(c.key, c)
    return out


def _value(inherited: bool, template: str) -> str:
    return "" if inherited else canonical(template)


def _expected(
    template: Side, env: Side, decisions: dict[str, str]
) -> Iterator[tuple[str, bool, str]]:
    """(key, inherited, template) of the value the merged file must give, for every key."""
    tkinds, ttemplates = template.doc.kinds, template.doc.templates
    ekinds, etemplates = env.doc.kinds, env.doc.templates
    tlast, elast = template.last, env.last
    for key, ti in tlast.items():
        ei = elast.get(key)
        if ei is not None and decisions.get(key) == KEEP:
            yield key, ekinds[ei] == BARE, etemplates[ei]
        else:
            yield key, tkinds[ti] == BARE, ttemplates[ti]
    for key, ei in elast.items():
        if key not in tlast and decisions.get(key) in (TRAIL, UNDER, KEEP):
            yield key, ekinds[ei] == BARE, etemplates[ei]


def expected_values(template: Side, env: Side, decisions: dict[str, str]) -> dict[str, str]:
    """Key -> canonical template the merged file must give (inherited keys: "")."""
    return {k: _value(inh, t) for k, inh, t in _expected(template, env, decisions)}


def _reads_as_planned(
    doc: Document,
    template: Side,
    env: Side,
    decisions: dict[str, str],
    unequal: Iterable[str] | None,
    trail: list[str] | None = None,
) -> bool:
    """The usual merge, checked as lists: the merged file has the template's statements in
    order, each with the template's text or (where kept) the env file's, then the trailing
    block's statements. False when that is not the shape (a bare KEY, an opt-in placed under
    its comment, a value written in another form): the caller then checks key by key.
    ``trail``: the TRAIL keys in the env file's order, when the caller has them."""
    tdoc, edoc = template.doc, env.doc
    if BARE in tdoc.kinds or BARE in edoc.kinds or BARE in doc.kinds or UNDER in decisions.values():
        return False
    nt = len(tdoc.keys)
    if trail is None:
        trail = [k for k in env.last if decisions.get(k) == TRAIL]
    if len(doc.keys) != nt + len(trail) or doc.keys[:nt] != tdoc.keys or doc.keys[nt:] != trail:
        return False
    etemplates, elast = edoc.templates, env.last
    want = list(tdoc.templates)
    tlast = template.last
    # (``unequal``: the only template keys whose env text differs, when the comparison knows)
    for key in tlast if unequal is None else unequal:
        if decisions.get(key) == KEEP:
            want[tlast[key]] = etemplates[elast[key]]
    want += [etemplates[elast[k]] for k in trail]
    return doc.templates == want


def verify(
    text: str,
    template: Side,
    env: Side,
    decisions: dict[str, str],
    unequal: Iterable[str] | None = None,
    doc: Document | None = None,
    checked: _Checked | None = None,
    trail: list[str] | None = None,
) -> None:
    """Refuse (:class:`MergeError`) a merged ``text`` that would not read as decided: first
    the text of every key (the operator's, the template's, none), then what Compose reads
    where values reference other keys (:func:`references.first_changed`). ``doc``: ``text``
    parsed, ``checked`` and ``trail`` (the TRAIL keys in the env file's order), when the caller
    has them."""
    if doc is None:
        doc = parse(text)
    if doc.errors:
        raise MergeError(
            f"refusing to fix {env.path}: the merged file would have a syntax error at line "
            f"{doc.errors[0].line}; nothing was written"
        )
    if _reads_as_planned(doc, template, env, decisions, unequal, trail):
        _check_references(doc, env, decisions, checked)
        return
    # not the usual shape (a bare KEY, an opt-in under its comment, a re-quoted value): key
    # by key, and where the texts differ, as the values compose reads
    got = index("merged", doc).last
    gkinds, gtemplates = doc.kinds, doc.templates
    for key, inherited, template_text in _expected(template, env, decisions):
        gi = got.get(key)
        # the same text reads the same: canonical forms are compared only when texts differ
        if gi is None or (
            ((gkinds[gi] == BARE) != inherited or gtemplates[gi] != template_text)
            and _value(gkinds[gi] == BARE, gtemplates[gi]) != _value(inherited, template_text)
        ):
            raise MergeError(
                f"refusing to fix {env.path}: the merged file would not keep the value of "
                f"{key}; nothing was written"
            )
    tlast = template.last
    for key, d in decisions.items():
        if d == DROP and key not in tlast and key in got:
            raise MergeError(f"refusing to fix {env.path}: {key} would not be dropped")
    _check_references(doc, env, decisions, checked)


def _check_references(
    doc: Document, env: Side, decisions: dict[str, str], checked: _Checked | None = None
) -> None:
    """The texts are right; now what Compose reads from them (values with references)."""
    if checked is None:
        kept = referencing_keys(env, decisions)
        if not kept:
            return
        result = index("merged", doc)
        checked = _Checked(result, kept, unsure(env, result, decisions, EMPTY, kept))
    key = first_changed(env, checked.result, decisions, checked.kept, checked.empty_doubts)
    if key is not None:
        raise MergeError(
            f"refusing to fix {env.path}: Docker Compose would read {key} differently after "
            f"the merge (a reference to another key would resolve elsewhere); nothing was written"
        )
