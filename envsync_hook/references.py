"""References across lines: what Compose reads from the merged file, and where lines must go.

Compose resolves ``${X}`` in an env file from the process environment first, then from the
lines *above* (DESIGN.md section 13). Fix moves lines (the template's order, opt-ins under their
``# KEY=`` comment, the operator's own keys at the end), so a reference can lose its target or
find another one. This module

- reads the merged file as Compose does and compares it, key by key, with what the decisions
  say (:func:`first_changed`), in an empty environment and in one that sets every name the files
  reference;
- moves lines so that every reference of a kept value resolves as it did in the env file
  (:func:`place`): a kept key that a kept value references goes up to before its first use, and
  a kept value that must not see a line goes up to before that line.

What "the decisions say", per environment: a kept key (the operator's value, wherever it
stands) reads what the env file gave it, except where it references a key that takes the
template's value (a new key, a stale default, ``--take-template``): that reference reads what
the merged file gives it there (the change the operator agreed to reaches the values built on
it, as the template's author meant: ``COMPOSE_PROFILES=${DB_TYPE:-postgresql}`` follows a
``DB_TYPE`` the template adds). A key taking the template's value must hold the template's
text (checked by ``merge.verify``); what its references give is the merged file's reading.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import compress, repeat
from operator import contains

from envsync_hook.compare import KEEP, TAKE, TRAIL, UNDER, Side
from envsync_hook.document import BARE, SINGLE, Document
from envsync_hook.interpolate import TemplateError, substitute
from envsync_hook.lean import TYPE_CHECKING, NamedTuple

#: every name an interpolation of a value template may look up, and some more (``$$X`` gives
#: ``X``): a superset is safe, as each name found only adds a condition
_NAME = re.compile(r"\$\{?([_A-Za-z][_A-Za-z0-9]*)")
KEPT = (KEEP, TRAIL, UNDER)
#: the block marker line: not a comment of the statement below it
_BLOCK_MARKER = "# envsync: kept from"


class ReadError(NamedTuple):
    """A value Compose refuses to read (``${X:?msg}`` with X unset, ...)."""

    message: str


if TYPE_CHECKING:
    from typing import Callable, Union

    Reading = Union[str, ReadError]


def names(kind: int, template: str) -> list[str]:
    """Names a value's interpolation may look up (none for a single-quoted or bare value)."""
    if kind in (SINGLE, BARE) or "$" not in template:
        return []
    return _NAME.findall(template)


def readings(
    doc: Document,
    environ: Mapping[str, str],
    resolve: Callable[[str, int], tuple[bool, str | None]] | None = None,
    given: Mapping[int, Reading | None] | None = None,
) -> dict[str, Reading]:
    """Key -> what Compose reads from ``doc`` in ``environ``, as ``compose_values`` does, but
    an interpolation error is recorded for its key instead of raised (so that two files can be
    compared key by key). ``resolve(name, i)``: (True, value) to decide what a reference of
    binding ``i`` gets for a name the environment does not set, (False, None) for the usual
    (the file's lines above). ``given``: bindings that read the given value (None: unset)
    instead of their own."""
    out: dict[str, Reading] = {}
    at = 0

    def lookup(name: str) -> str | None:
        v = environ.get(name)
        if v is not None:
            return v
        if resolve is not None:
            decided, value = resolve(name, at)
            if decided:
                return value
        got = out.get(name)
        return got if isinstance(got, str) else None

    kinds, templates = doc.kinds, doc.templates
    for i, key in enumerate(doc.keys):
        if given is not None and i in given:
            value = given[i]
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
            continue
        at = i
        kind = kinds[i]
        template = templates[i]
        if kind == BARE:
            if key in environ:
                out[key] = environ[key]
            continue
        if kind == SINGLE or "$" not in template:
            out[key] = template.replace("$$", "$") if kind == SINGLE else template
            continue
        try:
            out[key] = substitute(template, lookup)
        except TemplateError as e:
            out[key] = ReadError(str(e))
        except _Unknown:
            out[key] = ReadError("not known")
    return out


class _Unknown(Exception):
    """A reference whose planned value this check cannot tell (an earlier duplicate of a key
    in the merged file): the key counts as changed, and fix refuses."""


def _planned(
    env: Side,
    result: Side,
    decisions: Mapping[str, str],
    environ: Mapping[str, str],
    got: Mapping[str, Reading],
) -> dict[str, Reading]:
    """What the decisions say each key of the env file reads: the env file read in its own
    order, but a key taking the template's value reads what the merged file gives it, and a
    reference to such a key (or to a key only the template has) reads what the merged file
    gives it at the referencing key's place there."""
    rv = _Visible(result.doc, result.last, result.dups)
    elast, rlast = env.last, result.last
    ekeys = env.doc.keys

    def resolve(name: str, i: int) -> tuple[bool, str | None]:
        key = ekeys[i]
        if (name in elast and decisions.get(name) != TAKE) or elast.get(key) != i:
            return False, None
        ri = rlast.get(key)
        j = rv.before(name, ri) if ri is not None else None
        if j is None:
            return True, None
        if j != rlast.get(name):
            raise _Unknown
        value = got.get(name)
        return True, value if isinstance(value, str) else None

    taken = {i: got.get(k) for k, i in elast.items() if decisions.get(k) == TAKE}
    return readings(env.doc, environ, resolve, taken)


class EveryName(Mapping[str, str]):
    """A process environment that sets every variable (each to a value of its own that no
    file holds): in it every reference resolves from the environment."""

    def __getitem__(self, name: str) -> str:
        return f"<envsync probe {name}>"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


EMPTY: Mapping[str, str] = {}
ENVIRONMENTS: tuple[Mapping[str, str], ...] = (EMPTY, EveryName())


class _Visible:
    """Where a name resolves from in one document: its last binding before a position that is
    not a bare ``KEY`` (a bare ``KEY`` changes nothing a reference sees: the environment is
    looked up first anyway)."""

    def __init__(self, doc: Document, last: Mapping[str, int], dups: Mapping[str, object]):
        self.doc = doc
        self.last = last
        self.dups = dups
        self._positions: dict[str, list[int]] = {}

    def before(self, name: str, at: int) -> int | None:
        i = self.last.get(name)
        if i is None:
            return None
        kinds = self.doc.kinds
        if name not in self.dups:
            return i if i < at and kinds[i] != BARE else None
        positions = self._positions.get(name)
        if positions is None:
            keys = self.doc.keys
            positions = [j for j in range(len(keys)) if keys[j] == name and kinds[j] != BARE]
            self._positions[name] = positions
        found = None
        for j in positions:
            if j >= at:
                break
            found = j
        return found


def unsure(
    env: Side,
    result: Side,
    decisions: Mapping[str, str],
    environ: Mapping[str, str],
    keys: Iterable[str],
) -> list[str]:
    """The kept keys among ``keys`` whose reading the references alone do not prove unchanged.

    A shortcut that spares interpolating every value with a ``$`` (10,000 of them in the
    100,000-key benchmark, where interpolating them would cost more than the rest of the
    verification): a value whose text is the same in both files (``verify`` checks the text)
    reads the same when every name it references resolves to the same thing in both: the
    environment, nothing, or the name's own final binding in each file (whose reading is
    compared on its own). Only the keys left over are interpolated."""
    elast, rlast = env.last, result.last
    if isinstance(environ, EveryName):
        # every reference resolves from the environment: the same text reads the same
        return [k for k in keys if k not in rlast]
    ekinds, etemplates = env.doc.kinds, env.doc.templates
    rkinds = result.doc.kinds
    # a name assigned more than once, or bare, needs the slow look (_Visible)
    plain = not env.dups and not result.dups and BARE not in ekinds and BARE not in rkinds
    ev = rv = None
    if not plain:
        ev = _Visible(env.doc, elast, env.dups)
        rv = _Visible(result.doc, rlast, result.dups)
    out: list[str] = []
    findall = _NAME.findall
    for key in keys:
        ei = elast[key]
        ri = rlast.get(key)
        if ri is None:
            out.append(key)
            continue
        # (``keys`` hold references: no single-quoted or bare value among them)
        for name in findall(etemplates[ei]):
            if name in environ or name not in elast or decisions.get(name) == TAKE:
                continue  # the environment's, or by decision the merged file's
            if ev is None or rv is None:
                e = elast[name]
                r = rlast.get(name)
                if (e < ei) == (r is not None and r < ri):
                    continue  # both see the name's final binding, or neither sees it
                out.append(key)
                break
            e2 = ev.before(name, ei)
            r2 = rv.before(name, ri)
            if e2 is None and r2 is None:
                continue
            if e2 is None or r2 is None or e2 != elast[name] or r2 != rlast.get(name):
                out.append(key)
                break
    return out


def referencing_keys(env: Side, decisions: Mapping[str, str]) -> list[str]:
    """The kept keys whose value in the env file references a name."""
    kinds, templates, keys = env.doc.kinds, env.doc.templates, env.doc.keys
    elast = env.last
    out = []
    # (a C-level pass finds the values with a ``$``: most have none)
    for i in compress(range(len(templates)), map(contains, templates, repeat("$"))):
        if kinds[i] != SINGLE and kinds[i] != BARE:
            key = keys[i]
            if elast.get(key) == i and decisions.get(key) in KEPT:
                out.append(key)
    return out


def first_changed(
    env: Side,
    result: Side,
    decisions: Mapping[str, str],
    kept: list[str],
    empty_doubts: list[str] | None = None,
) -> str | None:
    """The first key (in the merged file's order) whose reading by Compose differs from what
    the decisions say, in an empty environment or in one that sets every referenced name; None
    when every key reads as decided. Plain values (no ``$``) read as their text, which
    ``verify`` compares: only values with references are looked at here. ``kept``: the kept
    keys whose env value has references (:func:`referencing_keys`); ``empty_doubts``: what
    :func:`unsure` gave for the empty environment, when the caller has it."""
    if not kept:
        return None
    changed: set[str] = set()
    for environ in ENVIRONMENTS:
        if environ is EMPTY and empty_doubts is not None:
            doubtful = empty_doubts
        else:
            doubtful = unsure(env, result, decisions, environ, kept)
        if not doubtful:
            continue
        got = readings(result.doc, environ)
        want = _planned(env, result, decisions, environ, got)
        changed.update(k for k in doubtful if got.get(k) != want.get(k))
    if not changed:
        return None
    rlast = result.last
    return min(changed, key=lambda k: rlast.get(k, len(result.doc.keys)))


# --------------------------------------------------------------------------------------------
# placement


#: what :func:`comment_text` strips from both ends of a comment line (the newline too: the
#: placement's lines keep theirs)
COMMENT_BLANKS = "\ufeff \t\r\x0b\x0c\n"


def comment_text(line: str) -> str:
    """A comment line's text, as the operator's own comment lines are compared: without
    indentation, trailing blanks, CR or newline."""
    return line.strip(COMMENT_BLANKS)


class _Item:
    """A piece of the merged text: a statement (``key`` set, ``head`` False), the comment lines
    right above a statement (``key`` set, ``head`` True; ``own``: the operator's own, which move
    with it), or other text (``key`` None)."""

    __slots__ = ("head", "key", "own", "stmt", "text")

    def __init__(
        self,
        text: str,
        key: str | None = None,
        head: bool = False,
        stmt: bool = False,
        own: bool = False,
    ) -> None:
        self.text = text
        self.key = key
        self.head = head
        self.stmt = stmt  # a statement (``key`` None: one that does not move, a duplicate)
        self.own = own


def _constraints(
    env: Side, decisions: Mapping[str, str], kept: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """For each kept key with references: the names that must stand before it (they resolved
    from a line above it in the env file) and those that must not (they did not)."""
    ev = _Visible(env.doc, env.last, env.dups)
    kinds, templates = env.doc.kinds, env.doc.templates
    before: dict[str, list[str]] = {}
    not_before: dict[str, list[str]] = {}
    for key in kept:
        ei = env.last[key]
        for name in names(kinds[ei], templates[ei]):
            if name == key or name not in env.last or decisions.get(name) == TAKE:
                continue  # (a key taking the template's value: read where it stands)
            if ev.before(name, ei) is not None:
                before.setdefault(key, []).append(name)
            else:
                not_before.setdefault(key, []).append(name)
    return before, not_before


def _items(
    text: str, doc: Document, block: tuple[int, int] | None, own: frozenset[str] = frozenset()
) -> list[_Item] | None:
    """``text`` cut into items, or None when a statement shares a line with another. The
    comment lines right above a statement whose text is in ``own`` (the operator's own, at the
    bottom of the run) are an item of their own."""
    items: list[_Item] = []
    prev = 0
    keys = doc.keys
    counts = Counter(keys)
    dup = {k for k, n in counts.items() if n > 1}
    cuts: list[int] = []
    if block is not None:
        cuts = [block[0], block[1]]
    for i in range(len(keys)):
        b = doc.binding(i)
        start = text.rfind("\n", 0, b.start) + 1
        if text[start : b.start].strip(" \t\ufeff") != "" or start < prev:
            return None
        end_at = b.value_end if not b.inherited else b.start
        nl = text.find("\n", end_at)
        end = len(text) if nl < 0 else nl + 1
        gap = text[prev:start]
        # the comment lines right above the statement
        lines = gap.splitlines(keepends=True)
        k = len(lines)
        while k > 0:
            stripped = lines[k - 1].strip()
            if not stripped.startswith("#") or stripped.startswith(_BLOCK_MARKER):
                break
            k -= 1
        m = len(lines)  # (the operator's own comment lines: the bottom of the run)
        while own and m > k and comment_text(lines[m - 1]) in own:
            m -= 1
        fill, head, mine = "".join(lines[:k]), "".join(lines[k:m]), "".join(lines[m:])
        if cuts and prev <= cuts[0] < prev + len(fill):
            # the trailing block's header (blank line and marker): an item of its own
            a, z = cuts[0] - prev, min(cuts[1] - prev, len(fill))
            for piece, key in ((fill[:a], None), (fill[a:z], "\0block"), (fill[z:], None)):
                if piece:
                    items.append(_Item(piece, key))
        elif fill:
            items.append(_Item(fill))
        movable = keys[i] not in dup
        if head:
            items.append(_Item(head, keys[i] if movable else None, head=True))
        if mine:
            items.append(_Item(mine, keys[i] if movable else None, head=True, own=True))
        items.append(_Item(text[start:end], keys[i] if movable else None, stmt=True))
        prev = end
    if prev < len(text):
        items.append(_Item(text[prev:]))
    return items


def place(
    text: str,
    doc: Document,
    env: Side,
    decisions: Mapping[str, str],
    kept: list[str],
    block: tuple[int, int] | None,
    eol: str,
    own: frozenset[str] = frozenset(),
) -> str:
    """``text`` with lines moved so that every reference of a kept value resolves as in the env
    file, or ``text`` itself when none needs to move (or when its shape is not one this can
    move: then the verification that follows decides). ``block``: the trailing block's header
    (start, end offsets), removed if every statement under it moved up. ``own``: the text of
    the operator's own comment lines (as ``merge.own_comments`` compares them), which move
    with the statement right below them."""
    before, not_before = _constraints(env, decisions, kept)
    if not before and not not_before:
        return text
    ends_in_newline = text.endswith("\n")
    original = _items(text if ends_in_newline else text + eol, doc, block, own)
    if original is None:
        return text
    items = _arrange(original, before, not_before, decisions)
    moved = any(it is not was for it, was in zip(items, original))
    if not moved:
        return text
    out_items = items
    hdr = next((n for n, it in enumerate(items) if it.key == "\0block"), None)
    if hdr is not None and not any(it.stmt for it in items[hdr + 1 :]):
        out_items = items[:hdr] + items[hdr + 1 :]  # the trailing block is empty now
    out = "".join(it.text for it in out_items)
    if not ends_in_newline and out.endswith(eol):
        out = out[: -len(eol)]
    return out


def _arrange(
    items: list[_Item],
    before: Mapping[str, list[str]],
    not_before: Mapping[str, list[str]],
    decisions: Mapping[str, str],
) -> list[_Item]:
    """``items`` in an order where every reference of a kept value resolves as in the env file,
    in one pass (the constraints follow the env file's order, so they never form a cycle).

    The rules, as a person moving lines would apply them, top to bottom: a line that a kept
    value needs (``before``) goes up to right above that value (and above the comment lines
    over it); a kept value that must not see a line (``not_before``) goes up to right above
    that line. A line moved up brings along first what it needs itself. Comment lines stay
    where they are (they belong to the statement below them, as the next run reads them),
    except those right above a key of the trailing block, which move with it.

    Each item is emitted once and each constraint looked at once: linear in the file and the
    references (moving lines one at a time, a pass over the file per move, took 47 s on 20,000
    keys that each reference a key the template puts above them)."""
    return _Arranger(items, before, not_before, decisions).arranged()


class _Arranger:
    """The state of one :func:`_arrange`: which items are emitted, in what order."""

    def __init__(
        self,
        items: list[_Item],
        before: Mapping[str, list[str]],
        not_before: Mapping[str, list[str]],
        decisions: Mapping[str, str],
    ) -> None:
        self.items = items
        self.before = before
        self.decisions = decisions
        self.stmt_at: dict[str, int] = {}
        for n, it in enumerate(items):
            if it.stmt and it.key is not None:
                self.stmt_at[it.key] = n
        # the keys that must stand above a name (they must not see it), in the file's order
        self.shy: dict[str, list[str]] = {}
        for key in sorted(not_before, key=lambda k: self.stmt_at.get(k, -1)):
            if key in self.stmt_at:
                for name in not_before[key]:
                    if name in self.stmt_at:
                        self.shy.setdefault(name, []).append(key)
        self.done = [False] * len(items)
        self.out: list[_Item] = []
        self.active: set[str] = set()

    def arranged(self) -> list[_Item]:
        """Top to bottom: each run of comment lines with the statement below it, after what
        that statement needs."""
        items, done = self.items, self.done
        n = 0
        while n < len(items):
            if done[n]:
                n += 1
                continue
            it = items[n]
            if it.head or (it.stmt and it.key is not None):
                # the statement below this run of comments (moved lines leave no gap): what
                # it needs goes above the whole run
                m = n
                while m < len(items) and (done[m] or items[m].head):
                    m += 1
                below = items[m] if m < len(items) else None
                if below is not None and below.stmt and below.key is not None:
                    self.satisfy(below.key)
                for k in range(n, min(m + 1, len(items))):
                    if not done[k]:
                        self.emit(k)
                n = m + 1
                continue
            self.emit(n)
            n += 1
        return self.out

    def needs(self, key: str) -> list[str]:
        """What must be emitted before ``key``: the lines it needs, then the values that must
        not see it."""
        first = [n for n in self.before.get(key, ()) if n in self.stmt_at]
        return first + self.shy.get(key, [])

    def carried(self, n: int) -> list[int]:
        """The comment items that move with the statement at ``n``: for a key of the trailing
        block the run right above it, for any other key the operator's own comment lines right
        above it; not yet emitted."""
        items, done = self.items, self.done
        if self.decisions.get(items[n].key or "") != TRAIL:
            m = n - 1
            return [m] if m >= 0 and items[m].own and not done[m] else []
        run: list[int] = []
        m = n - 1
        while m >= 0 and (done[m] or items[m].head):
            if not done[m]:
                run.append(m)
            m -= 1
        return run[::-1] if run and items[run[0]].key == items[n].key else []

    def emit(self, n: int) -> None:
        self.done[n] = True
        self.out.append(self.items[n])

    def satisfy(self, root: str) -> None:
        """Emit, above the current place, everything ``root`` needs (each with what it needs,
        first); an explicit stack, since a chain can be 100,000 keys long."""
        stack: list[tuple[str, bool]] = [(n, False) for n in reversed(self.needs(root))]
        while stack:
            key, ready = stack.pop()
            n = self.stmt_at[key]
            if ready:
                self.active.discard(key)
                for m in self.carried(n):
                    self.emit(m)
                self.emit(n)
                continue
            if self.done[n] or key in self.active or key == root:
                continue
            self.active.add(key)
            stack.append((key, True))
            stack.extend((m, False) for m in reversed(self.needs(key)))
