"""Two- and three-way comparison of an env document with its template(s): pure functions.

The result is the findings and, for fix, a decision per key. No value from either file goes
into a message unless ``Settings.show_values`` (and then secrets stay masked).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, filterfalse, repeat
from operator import eq, itemgetter, ne, not_
from pathlib import Path

from envsync_hook.document import BARE, Binding, Document, Like, template_errors
from envsync_hook.errors import EnvsyncError
from envsync_hook.escaping import all_plausible, key_placeholder, plausible_key, shown_key
from envsync_hook.findings import ANALYSIS_TEXT, Finding, analyse_change, make_finding
from envsync_hook.lean import NamedTuple, overload
from envsync_hook.settings import Settings

_DOLLAR = re.compile(r"\$\$|\$([_A-Za-z][_A-Za-z0-9]*)|\$(?!\{)")


def _canon_dollar(m: re.Match[str]) -> str:
    name = m.group(1)
    if name is not None:
        return "${" + name + "}"
    return "$$"


def canonical(template: str) -> str:
    """Comparison form of a value template: compose reads two values alike iff these match.

    ``$NAME`` and ``${NAME}`` are one reference; a ``$`` that starts no reference is literal.
    """
    if "$" not in template:
        return template
    return _DOLLAR.sub(_canon_dollar, template)


def display(template: str) -> str:
    """The value as an operator would write it unquoted (``$$`` shown as ``$``)."""
    return template.replace("$$", "$")


class Side(NamedTuple):
    """One document with its path, indexed for comparison."""

    path: str
    doc: Document
    #: key -> index of its last binding in ``doc`` (the one compose uses), in first-appearance
    #: order
    last: dict[str, int]
    #: keys assigned more than once -> their lines
    dups: dict[str, list[int]]
    #: key -> index of a bare ``KEY`` line after its last assignment (the environment, when it
    #: sets KEY, overrides the assignment; otherwise the assignment stands)
    bare_after: dict[str, int] = {}

    def at(self, key: str) -> Binding:
        """The binding compose uses for ``key``."""
        return self.doc.binding(self.last[key])


#: 0, 1, 2, ...: the indexes share these int objects (an int past 256 is an object of its own,
#: and 100,000 keys make 100,000 of them per index)
_INDEXES: list[int] = []


def _indexes(n: int) -> list[int]:
    if len(_INDEXES) < n:
        _INDEXES.extend(range(len(_INDEXES), n))
    return _INDEXES


def like(*sides: Side) -> Like:
    """``sides`` as :func:`~envsync_hook.document.parse`'s ``like`` documents: a text that
    resembles them (the env file the template, the merged text both) is parsed holding their
    key and value strings where equal (100,000 keys: 10 MB less a text)."""
    return [(side.last, side.doc) for side in sides]


def index(path: str, doc: Document) -> Side:
    keys = doc.keys
    last = dict(zip(keys, _indexes(len(keys))))
    dups: dict[str, list[int]] = {}
    bare_after: dict[str, int] = {}
    if len(last) != len(keys) and BARE not in doc.kinds:
        # a key assigned twice, no bare ``KEY`` line: ``last`` stands; note the lines. The
        # statements that are not their key's last are where ``last`` points elsewhere.
        n = len(keys)
        ints = _indexes(n)
        earlier = list(compress(ints, map(ne, map(last.__getitem__, keys), ints)))
        positions: dict[str, list[int]] = {}
        for i in earlier:
            positions.setdefault(keys[i], []).append(i)
        lines = doc.lines
        for key, at in positions.items():
            dups[key] = [lines[i] for i in (*at, last[key])]
    elif len(last) != len(keys):  # the slow way
        last = {}
        kinds, lines = doc.kinds, doc.lines
        for i, key in enumerate(keys):
            prev = last.get(key)
            if prev is not None:
                seen = dups.get(key)
                if seen is None:
                    dups[key] = [lines[prev], lines[i]]
                else:
                    seen.append(lines[i])
                if kinds[i] == BARE and kinds[prev] != BARE:
                    # a bare ``KEY`` after an assignment only overrides it when the environment
                    # sets KEY; without the environment, the assignment is what compose reads
                    bare_after[key] = i
                    continue
                bare_after.pop(key, None)  # (only a key already seen can be there)
            last[key] = i
    return Side(path, doc, last, dups, bare_after)


#: fix decisions for one env key
KEEP = "keep"  # operator's value on the template's line
TAKE = "take"  # template default (stale default, or --take-template)
DROP = "drop"  # not written (safe to drop, or --prune of a key no template defines)
TRAIL = "trail"  # kept in the trailing block (operator-only, relocated, removed upstream)
UNDER = "under"  # placed right below the template's commented-out ``# KEY=`` line


def with_decisions(decisions: dict[str, str], *wanted: str) -> tuple[list[str], ...]:
    """For each of the ``wanted`` decisions, the keys ``decisions`` gives it, in its order. By
    C-level passes over the keys and the decisions (most are KEEP: a Python loop over 100,000
    of them costs 20 ms)."""
    if len(wanted) > 1 and KEEP not in wanted:
        # (one pass drops the KEEPs, the passes for each wanted decision run over the rest:
        # 100,000 keys, three decisions: 20 -> 10 ms)
        changed = list(map(ne, decisions.values(), repeat(KEEP)))
        keys = list(compress(decisions, changed))
        verdicts = list(compress(decisions.values(), changed))
    else:
        keys, verdicts = list(decisions), list(decisions.values())
    return tuple(list(compress(keys, map(eq, verdicts, repeat(w)))) for w in wanted)


class KeyList(Sequence[tuple[str, str, int]]):
    """Every key a comparison looks at, with its location: ``(key, file, line)``; the
    template's keys first (at their template line), then the env file's own keys (at their
    env line). Made when first read (only the JUnit report reads it)."""

    __slots__ = ("_env", "_items", "_odd", "_template")

    def __init__(
        self, template: Side, env: Side | None = None, odd: frozenset[str] = frozenset()
    ) -> None:
        # the indexes and line numbers only, not the documents (their text and values can go
        # before the report is written)
        self._template = (template.path, template.last, template.doc.lines)
        self._env = (env.path, env.last, env.doc.lines) if env is not None else None
        self._odd = odd  # keys that stand mid-line (see odd_keys): shown by line
        self._items: list[tuple[str, str, int]] | None = None

    def _all(self) -> list[tuple[str, str, int]]:
        if self._items is None:
            tpath, tlast, tlines = self._template
            items = [(k, tpath, tlines[i]) for k, i in tlast.items()]
            if self._env is not None:
                epath, elast, elines = self._env
                items += [(k, epath, elines[i]) for k, i in elast.items() if k not in tlast]
            odd = self._odd
            self._items = [(shown_key(k, line, odd), f, line) for k, f, line in items]
        return self._items

    @property
    def odd(self) -> frozenset[str]:
        """The keys shown by their line (see :func:`odd_keys`)."""
        return self._odd

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, i: int) -> tuple[str, str, int]: ...
    @overload
    def __getitem__(self, i: slice) -> list[tuple[str, str, int]]: ...
    def __getitem__(self, i: int | slice) -> tuple[str, str, int] | list[tuple[str, str, int]]:
        return self._all()[i]

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


#: (the patterns, the names looked at, those of them holding one): Comparison.secret_names
_SecretNames = tuple[tuple[str, ...], dict[str, int], frozenset[str]]


class Comparison(NamedTuple):
    findings: list[Finding]
    #: every key checked with its location: (key, file, line)
    keys: KeyList
    #: env key -> decision (see KEEP, TAKE, DROP, TRAIL, UNDER)
    decisions: dict[str, str]
    #: env key -> template path that now defines it (relocated keys)
    relocated: dict[str, str]
    stale_updated: int = 0
    conflicts: int = 0
    #: the template keys whose env text is not the template's (or that the env file lacks), in
    #: template order; None: not worked out (every key may need a look)
    unequal: list[str] | None = None
    #: two-way: the template's commented-out assignments the env file does not set (counted;
    #: with a base, ENV010 names the ones the template gained)
    offers: int = 0
    #: keys fix keeps at the previous template's default that the template no longer assigns
    #: (a stale default kept, a secret the template moved or removed, an opt-in under its
    #: comment): the sync record remembers that default (runner.held_defaults)
    held: tuple[str, ...] = ()
    #: the names ENV013 looked at (the env file's index) and those of them that hold a secret
    #: pattern (:func:`_names_holding`): :func:`after_fix` looks only at the merged file's
    #: other names. None: not looked for
    secret_names: _SecretNames | None = None


#: ENV004's verdict for a secret-looking key: kept, since a password or key in use cannot change
#: without the service that holds it (Dify 1.14.1 emptied its published ``SECRET_KEY``)
KEEPS_SECRET = (
    "keeps it: a secret in use cannot change on its own (set a fresh one with "
    "--generate-secrets KEY, or adopt the new default with --take-template KEY)"
)


#: the same for a key the template removed: kept at the end (a compose file may still read it,
#: ``${APP_SECRET:-default}``)
KEEPS_SECRET_HERE = (
    "keeps it at the end of the file: a secret in use cannot change on its own (--prune drops it)"
)

#: the same for a key moved to another template of the set (``--prune`` keeps it too: a
#: template of the set defines it)
KEEPS_SECRET_MOVED = "keeps it at the end of the file: a secret in use cannot change on its own"


def _secret_in_use(key: str, settings: Settings) -> bool:
    """A stale default that fix keeps: the key looks secret (:func:`secrets.is_secret_key`)."""
    from envsync_hook.secrets import is_secret_key

    return is_secret_key(key, settings.secret_patterns)


def looks_renamed(old: str, new: str) -> bool:
    """Whether the names alone are strong evidence of a rename (see :mod:`renames`)."""
    from envsync_hook.renames import looks_renamed as by_names

    return by_names(old, new)


class _Ctx:
    """The findings of one comparison, and what ``_emit`` needs to make them."""

    __slots__ = ("ignored", "out", "settings", "severity")

    def __init__(self, settings: Settings, out: list[Finding]) -> None:
        self.settings = settings
        self.out = out
        self.ignored = settings.ignored if settings.ignore else None
        self.severity: dict[str, str] = {}


def _emit(
    ctx: _Ctx, code: str, key: str, file: str, line: int, msg: str, analysis: str | None = None
) -> None:
    if key and ctx.ignored is not None and ctx.ignored(key):
        return
    sev = ctx.severity.get(code)
    if sev is None:
        sev = ctx.severity[code] = ctx.settings.severity_of(code)
    if sev == "off":
        return
    ctx.out.append(make_finding(code, key, file, line, msg, sev, analysis))


def _values(settings: Settings, key: str, **named: str) -> str:
    """`` (yours: X, template: Y)`` under --show-values, side by side, masked; empty otherwise."""
    if not settings.show_values:
        return ""
    from envsync_hook.secrets import display_value

    parts = [
        f"{name}: {display_value(key, display(v), settings.secret_patterns)!r}"
        for name, v in named.items()
    ]
    return " (" + ", ".join(parts) + ")"


_SYNTAX_TEXT = {
    "unexpected character": "a character compose does not accept in a variable name",
    "key cannot contain a space": "a variable name with a space in it",
    "unterminated quoted value": "a quoted value that is never closed",
    "Invalid template": "a malformed ${...} reference",
}


def syntax_message(message: str) -> str:
    """A value-free description of a compose syntax error (compose's own quotes the line)."""
    for prefix, text in _SYNTAX_TEXT.items():
        if message.startswith(prefix):
            return f"Docker Compose rejects this line: {text}"
    return "Docker Compose rejects this line"


def syntax_findings(path: str, doc: Document, settings: Settings) -> list[Finding]:
    ctx = _Ctx(settings, [])
    for issue in template_errors(doc):
        _emit(ctx, "ENV007", "", path, issue.line, syntax_message(issue.message))
    return ctx.out


def _base_values(base: Side) -> dict[str, str]:
    kinds, templates = base.doc.kinds, base.doc.templates
    return {k: canonical(templates[i]) for k, i in base.last.items() if kinds[i] != BARE}


def _at(values: dict[str, str], key: str, kind: int, template: str) -> bool:
    """Whether the env file's value (``kind``, ``template``) is ``values[key]``."""
    old = values.get(key)
    return old is not None and kind != BARE and canonical(template) == old


def _line_list(lines: list[int], most: int = 10) -> str:
    """Line numbers for a message, at most ``most`` of them (one line of output, whatever the
    file: 100,000 duplicates made a 344 KB message)."""
    shown = ", ".join(map(str, lines[:most]))
    return shown if len(lines) <= most else f"{shown} and {len(lines) - most} more"


def compare(
    template: Side,
    env: Side,
    settings: Settings,
    base: Side | None = None,
    also: tuple[Side, ...] = (),
    history: Iterable[tuple[str, str]] = (),
) -> Comparison:
    """Compare ``env`` with ``template`` (and ``base``, the previous template, if known;
    ``history``: (key, default) pairs the template's git history published, for ENV013).

    A pipeline of passes, each adding its findings to ``ctx`` and its decisions to ``keys``:
    the template's keys (the three-way table, :func:`three_way`), the keys only the env file
    has, the references that keep a key or a default, duplicates, opt-ins, rename hints and
    published secrets; then the keys that must not print as text are hidden."""
    ctx = _Ctx(settings, [])
    ctx.out.extend(syntax_findings(template.path, template.doc, settings))
    ctx.out.extend(syntax_findings(env.path, env.doc, settings))
    olds = _Olds.of(base)
    keys = _template_keys(ctx, template, env, olds)
    extra, relocated = _env_only_keys(ctx, template, env, also, olds, keys)
    _references(ctx, env, base, keys)
    # (the stale defaults fix updates: those it keeps, a secret or what one reads, are not)
    stale = sum(1 for f in ctx.out if f.code == "ENV004" and keys.decisions.get(f.key) == TAKE)
    _duplicates(ctx, env)
    offers = _opt_ins(ctx, template, env, base, olds)
    _rename_hints(ctx, template, env, keys.missing, base, extra)
    named = None
    if ctx.settings.severity_of("ENV013") != "off":
        named = _default_secrets(ctx, template, env, base, also, history)
    odd = _odd_names(template, env, also, base)
    findings = hide_odd_keys(ctx.out, odd)
    findings.sort()
    return Comparison(
        findings,
        KeyList(template, env, odd),
        keys.decisions,
        relocated,
        stale,
        keys.conflicts,
        keys.unequal,
        offers,
        tuple(keys.held),
        named,
    )


_KEY, _MESSAGE = itemgetter(5), itemgetter(6)  # (Finding.key, Finding.message)

#: the findings a written fix resolves whatever they said: the key is added (ENV001), each key
#: is written once (ENV006), no key is missing any more, so none looks renamed (ENV009); ENV013
#: is looked for again in the merged text (a published default fix added is one)
_RESOLVED_BY_FIX = frozenset({"ENV001", "ENV006", "ENV009", "ENV013"})


def after_fix(
    first: Comparison,
    template: Side,
    merged: Side,
    settings: Settings,
    base: Side | None = None,
    also: tuple[Side, ...] = (),
    history: Iterable[tuple[str, str]] = (),
) -> tuple[list[Finding], KeyList]:
    """The findings that remain in ``merged``, the text fix merged from the comparison
    ``first`` with nothing else changed, and the keys it checks: what :func:`compare` of the
    merged text gives (``tests/test_after_fix.py`` holds them equal), worked out from ``first``
    rather than compared again (100,000 keys: half a second). A finding on a key that fix
    takes or drops goes, one on a key it keeps stays (at the key's line in the merged text when
    it is the env file's), and duplicates and published secrets are looked for in the merged
    text. Keys shown by their line are compared again: their lines move."""
    # (compared again: keys shown by their line, whose lines move; and keys kept because a
    # kept value references them, which the merged text may hold where the reference no
    # longer reads them from, a bare ``KEY`` the environment sets, say)
    found = first.findings
    # (a search of the keys and of the messages joined, in C: 16,000 findings, 12 -> 8 ms; a
    # hit inside a key or a message only takes the longer way, which is always right)
    if (
        first.keys.odd
        or "\n<" in "\n" + "\n".join(map(_KEY, found))
        or " references it\n" in "\n".join(map(_MESSAGE, found)) + "\n"
    ):
        c = compare(template, merged, settings, base, also, history)
        return c.findings, c.keys
    ctx = _Ctx(settings, [])
    decisions, mlines, mlast = first.decisions, merged.doc.lines, merged.last
    gone = (TAKE, DROP)
    for f in first.findings:
        if f.code in _RESOLVED_BY_FIX or decisions.get(f.key) in gone:
            continue
        if f.file == merged.path and f.key:
            f = _at_line(f, mlines[mlast[f.key]])
        ctx.out.append(f)
    # (the keys of those passed hide_odd_keys in ``first``, and none was hidden: plausible)
    carried = len(ctx.out)
    _duplicates(ctx, merged)
    if settings.severity_of("ENV013") != "off":
        _default_secrets(ctx, template, merged, base, also, history, first.secret_names)
    # (the template's own odd keys are among ``first``'s, which has none: 100,000 keys, 15 ms)
    odd = _odd_names(template, merged, also, base, template_odd=frozenset())
    findings = hide_odd_keys(ctx.out, odd, plausible=carried)
    findings.sort()
    return findings, KeyList(template, merged, odd)


def _at_line(f: Finding, line: int) -> Finding:
    """``f`` at ``line``: ``f._replace(line=line)`` without its Python-level steps (100,000
    keys: 5,500 findings moved, 10 ms)."""
    return tuple.__new__(Finding, (f[0], line, *f[2:]))


class _Olds(NamedTuple):
    """What the base (the previous template) published: its defaults in comparison form and
    its commented-out keys; ``values`` is None without a base."""

    values: dict[str, str] | None
    commented: set[str]

    @classmethod
    def of(cls, base: Side | None) -> _Olds:
        if base is None:
            return cls(None, set())
        return cls(_base_values(base), {c.key for c in base.doc.commented})

    def at_old(self, key: str, kind: int, template: str) -> bool:
        """Whether the env file's value (``kind``, ``template``) is the base's default."""
        return self.values is not None and _at(self.values, key, kind, template)


class _Keys:
    """What the passes decide, key by key, and what they count on the way."""

    __slots__ = ("conflicts", "decisions", "held", "missing", "unequal")

    def __init__(self, decisions: dict[str, str], unequal: list[str] | None) -> None:
        #: env key -> KEEP, TAKE, DROP, TRAIL or UNDER
        self.decisions = decisions
        #: template keys whose env text is not the template's, in template order (None: the
        #: loop looked at every key, with --take-template)
        self.unequal = unequal
        self.missing: list[str] = []  # template keys the env file lacks, in template order
        self.conflicts = 0
        #: keys kept at the previous template's default (see Comparison.held)
        self.held: list[str] = []


#: the verdicts of :func:`three_way`
IN_SYNC = "in sync"


def three_way(cur: str, new: str, old: str | None) -> str:
    """DESIGN section 5, a row a line: the verdict on an env value ``cur`` against the
    template's default ``new`` and the previous template's ``old`` (None: no base, or the base
    lacks the key), all in comparison form (:func:`canonical`)."""
    if cur == new:
        return IN_SYNC  # = new default, whatever changed: the template's line
    if old is None or old == new:
        return "ENV003"  # customised, default unchanged: the operator's value is kept
    if cur == old:
        return "ENV004"  # = old default, which changed: the new default is taken
    return "ENV005"  # customised, and the default changed as well: the operator's is kept


def _same_text_keys(template: Side, env: Side) -> tuple[dict[str, str], list[str]]:
    """KEEP for each template key whose env text is the template's (the same text reads the
    same, a bare ``KEY`` on either side included), and the other template keys, in order.
    C-level passes over the columns (a missing key looks up the None past the env's last
    value): at 100,000 keys the Python loop then runs over the few that differ."""
    tlast, elast = template.last, env.last
    etemplates = env.doc.templates
    order = list(tlast)
    past_end = len(etemplates)
    same = list(
        map(
            eq,
            map(template.doc.templates.__getitem__, tlast.values()),
            map([*etemplates, None].__getitem__, map(elast.get, order, repeat(past_end))),
        )
    )
    return dict.fromkeys(compress(order, same), KEEP), list(compress(order, map(not_, same)))


def _template_keys(ctx: _Ctx, template: Side, env: Side, olds: _Olds) -> _Keys:
    """The template's keys: ENV001 for a missing one, ENV003-ENV005 for a value that differs
    (:func:`three_way`), and the decision for each key the env file has."""
    takes = ctx.settings.takes_template if ctx.settings.take_template else None
    if takes is None:
        decisions, todo = _same_text_keys(template, env)
        keys = _Keys(decisions, todo)
    else:  # (--take-template: every key is looked at)
        keys = _Keys({}, None)
        todo = list(template.last)
    for key in todo:
        _template_key(ctx, key, template, env, olds, takes, keys)
    return keys


def _template_key(
    ctx: _Ctx,
    key: str,
    template: Side,
    env: Side,
    olds: _Olds,
    takes: Callable[[str], bool] | None,
    keys: _Keys,
) -> None:
    """One template key whose env text may differ from the template's."""
    tdoc, edoc = template.doc, env.doc
    ti = template.last[key]
    ei = env.last.get(key)
    decisions = keys.decisions
    ekinds, etemplates, ttemplates = edoc.kinds, edoc.templates, tdoc.templates
    if ei is not None and ttemplates[ti] == etemplates[ei] and ekinds[ei] != BARE:
        decisions[key] = KEEP  # (with --take-template: the loop takes every key)
        return
    if tdoc.kinds[ti] == BARE:
        if ei is not None:
            decisions[key] = KEEP
        return
    tt = ttemplates[ti]
    if ei is None:
        keys.missing.append(key)
        _emit(
            ctx,
            "ENV001",
            key,
            template.path,
            tdoc.lines[ti],
            "missing from the env file; fix adds it with the template default"
            + (_values(ctx.settings, key, template=tt) if ctx.settings.show_values else ""),
        )
        return
    if ekinds[ei] == BARE:
        decisions[key] = TAKE if takes is not None and takes(key) else KEEP
        return
    et = etemplates[ei]
    old = olds.values.get(key) if olds.values is not None else None
    verdict = IN_SYNC if et == tt else three_way(canonical(et), canonical(tt), old)
    if verdict == IN_SYNC:
        decisions[key] = KEEP
        return
    take = takes is not None and takes(key)
    if take:
        decisions[key] = TAKE
    _changed_default(ctx, key, template.path, tdoc.lines[ti], et, tt, verdict, take, keys)
    decisions.setdefault(key, KEEP)


def _changed_default(
    ctx: _Ctx,
    key: str,
    tpath: str,
    tline: int,
    et: str,
    tt: str,
    verdict: str,
    take: bool,
    keys: _Keys,
) -> None:
    """ENV003, ENV004 or ENV005 for a value that differs from the template's default, with
    what fix does about it (and, for a stale default it takes, the TAKE decision)."""
    settings = ctx.settings
    analysis = analyse_change(display(et), display(tt))
    shown = _values(settings, key, yours=et, template=tt) if settings.show_values else ""
    taken = "takes the template default (--take-template)"
    if verdict == "ENV004":
        verb = "takes the new default"
        if settings.keep_stale:
            verb = "keeps it (--keep-stale)"
        elif not take and _secret_in_use(key, settings):
            verb = KEEPS_SECRET
        else:
            keys.decisions[key] = TAKE
        if keys.decisions.get(key) != TAKE:
            keys.held.append(key)
        if take:
            verb = "takes the new default"
        message = (
            "holds the previous template's default, which the template changed "
            f"({ANALYSIS_TEXT[analysis]}); fix {verb}"
        )
    elif verdict == "ENV005":
        keys.conflicts += 1
        verb = taken if take else "keeps the operator's value; review the new default"
        message = (
            "customised, and the template default changed as well "
            f"({ANALYSIS_TEXT[analysis]}); fix {verb}"
        )
    else:
        verb = taken if take else "keeps the operator's value"
        message = f"differs from the template default ({ANALYSIS_TEXT[analysis]}); fix {verb}"
    _emit(ctx, verdict, key, tpath, tline, message + shown, analysis)


def _also_defined(also: tuple[Side, ...]) -> dict[str, tuple[str, int]]:
    """Each key the other templates of the set define (or offer commented out) -> (the first
    such template's path, its line)."""
    out: dict[str, tuple[str, int]] = {}
    for side in also:
        slines = side.doc.lines
        for k, i in side.last.items():
            out.setdefault(k, (side.path, slines[i]))
        for c in side.doc.commented:
            out.setdefault(c.key, (side.path, c.line))
    return out


def _env_only_keys(
    ctx: _Ctx,
    template: Side,
    env: Side,
    also: tuple[Side, ...],
    olds: _Olds,
    keys: _Keys,
) -> tuple[list[str], dict[str, str]]:
    """The keys the template does not assign: an opt-in it offers commented out (placed
    under its comment), a key another template of the set defines (ENV008), or one no
    template defines (ENV002). Returns the last kind (for rename hints) and the relocated
    keys -> their template."""
    commented = {c.key for c in template.doc.commented}
    also_defined = _also_defined(also)
    extra: list[str] = []
    relocated: dict[str, str] = {}
    ekinds, etemplates = env.doc.kinds, env.doc.templates
    for key in list(filterfalse(template.last.__contains__, env.last)):
        ei = env.last[key]
        at_old = olds.at_old(key, ekinds[ei], etemplates[ei])
        if key in commented:
            keys.decisions[key] = UNDER
            if at_old:
                keys.held.append(key)
            continue
        where = also_defined.get(key)
        if where is not None:
            relocated[key] = where[0]
            _relocated_key(ctx, key, where, at_old, olds, keys)
            continue
        extra.append(key)
        _removed_key(ctx, key, env.path, env.doc.lines[ei], at_old, olds, keys)
    return extra, relocated


def _relocated_key(
    ctx: _Ctx, key: str, where: tuple[str, int], at_old: bool, olds: _Olds, keys: _Keys
) -> None:
    """ENV008: ``key`` is now defined by the set's template at ``where``. With a base, a value
    that is still the old default is no choice of the operator's: dropped, so the default of
    the template that now defines the key applies (a secret in use is kept). Any other value
    is kept, ``--prune`` or not: a template of the set defines the key, and its new env file
    may not exist yet, so dropping a customised value would change what the container reads."""
    path = where[0]
    held = f"now defined in {path}; the env file holds the previous template's default"
    if at_old and _secret_in_use(key, ctx.settings):
        keys.decisions[key] = TRAIL
        keys.held.append(key)
        msg = f"{held}, and fix {KEEPS_SECRET_MOVED}"
    elif at_old:
        keys.decisions[key] = DROP
        msg = f"{held}, so fix drops it ({_what_applies(path)})"
    else:
        keys.decisions[key] = TRAIL
        customised = "customised; " if olds.values is not None and key in olds.values else ""
        msg = (
            f"now defined in {path}; {customised}the env file's value still applies and fix "
            "keeps it"
        )
    _emit(ctx, "ENV008", key, path, where[1], msg)


def _removed_key(
    ctx: _Ctx, key: str, epath: str, eline: int, at_old: bool, olds: _Olds, keys: _Keys
) -> None:
    """ENV002: no template of the set defines ``key``. At the previous template's default it
    was the template's, not the operator's: dropped (a secret in use is kept); otherwise kept
    at the end of the file unless ``--prune``."""
    settings = ctx.settings
    if at_old and not settings.prune and _secret_in_use(key, settings):
        keys.decisions[key] = TRAIL
        keys.held.append(key)
        msg = "removed from the template; the env file holds its old default, and fix " + (
            KEEPS_SECRET_HERE
        )
    elif at_old:
        keys.decisions[key] = DROP
        msg = "removed from the template; the env file holds its old default, so fix drops it"
    elif settings.prune:
        keys.decisions[key] = DROP
        msg = "not defined by any template of the set; fix drops it (--prune)"
    else:
        keys.decisions[key] = TRAIL
        if (olds.values is not None and key in olds.values) or key in olds.commented:
            msg = "removed from the template but customised; fix keeps it at the end of the file"
        else:
            msg = "not defined by any template of the set; fix keeps it at the end of the file"
    _emit(ctx, "ENV002", key, epath, eline, msg)


def _references(ctx: _Ctx, env: Side, base: Side | None, keys: _Keys) -> None:
    """What a kept value reads stays: a key fix would drop but a kept value references is
    kept (:func:`_keep_referenced`), and a stale default a kept secret reads is kept
    (:func:`_keep_what_secrets_read`). Only when the env file has a ``$`` at all."""
    decisions = keys.decisions
    if "$" not in env.doc.text:
        return
    if DROP in decisions.values():
        _keep_referenced(ctx, env, decisions)
    if base is not None and TAKE in decisions.values():
        keys.held.extend(_keep_what_secrets_read(ctx, env, decisions, ctx.settings))


def _duplicates(ctx: _Ctx, env: Side) -> None:
    """ENV006 for each key the env file assigns more than once (Compose reads the last)."""
    for key, lines in env.dups.items():
        _emit(
            ctx,
            "ENV006",
            key,
            env.path,
            lines[-1],
            f"assigned {len(lines)} times (lines {_line_list(lines)}); "
            f"Compose uses the last; fix keeps only it",
        )


def _opt_ins(ctx: _Ctx, template: Side, env: Side, base: Side | None, olds: _Olds) -> int:
    """The template's commented-out ``# KEY=`` lines the env file does not set: counted
    without a base; with one, ENV010 for each the template gained (only a base tells)."""
    offers = 0
    # (a key offered twice counts once, at its last offer)
    for key, c in {c.key: c for c in template.doc.commented}.items():
        if key in env.last or key in template.last:
            continue
        if base is None:
            offers += 1
            continue
        if key in base.last or key in olds.commented:
            continue
        _emit(
            ctx,
            "ENV010",
            key,
            template.path,
            c.line,
            "the template offers this optional setting (commented out); "
            "the env file does not set it",
        )
    return offers


def _odd_names(
    template: Side,
    env: Side,
    also: tuple[Side, ...],
    base: Side | None,
    template_odd: frozenset[str] | None = None,
) -> frozenset[str]:
    """The keys shown by their line, never as text (:func:`odd_keys`): those of the env file,
    less any a template of the set or the base defines or offers (a name, wherever the env
    file has it), and the template's own (``template_odd``, when the caller knows them)."""
    odd = odd_keys(env.doc)
    if odd:
        for side in (template, *also, base):
            if side is not None:
                odd = odd - side.last.keys() - {c.key for c in side.doc.commented}
    if template_odd is None:
        template_odd = odd_keys(template.doc, bare=False)
    return odd | template_odd


def _what_applies(template: str) -> str:
    """What Compose reads for a key dropped because ``template`` now defines it: the value in
    that template's env file when it exists, else (an optional env file not created) the
    compose file's own default, if it has one."""
    from envsync_hook.pairing import env_for

    try:
        env = env_for(Path(template))
    except EnvsyncError:
        return "the new template's default applies where its env file is read"
    if os.path.lexists(env):
        return f"the value in {env} applies"
    return f"{env} does not exist: the compose file's own default applies, if it sets one"


def _keep_referenced(ctx: _Ctx, env: Side, decisions: dict[str, str]) -> None:
    """A key fix would drop, but that a kept value references from a line below it: kept
    instead (in the trailing block, moved up by the merge as its reference needs), so that the
    referencing value reads as before. Its ENV002/ENV008 finding says so."""
    from envsync_hook.references import names, referencing_keys

    kinds, templates, elast = env.doc.kinds, env.doc.templates, env.last
    kept: dict[str, str] = {}  # dropped key -> a kept key that references it
    todo = referencing_keys(env, decisions)
    while todo:
        key = todo.pop()
        ei = elast[key]
        for name in names(kinds[ei], templates[ei]):
            if decisions.get(name) == DROP and elast[name] < ei:
                decisions[name] = TRAIL
                kept[name] = key
                todo.append(name)  # its own references now count
    if not kept:
        return
    for n, f in enumerate(ctx.out):
        user = kept.get(f.key)
        if user is not None and f.code in ("ENV002", "ENV008") and "drop" in f.message:
            ctx.out[n] = f._replace(
                message=f"{f.message.split(';')[0]}; fix keeps it: {user} references it"
            )


def _keep_what_secrets_read(
    ctx: _Ctx, env: Side, decisions: dict[str, str], settings: Settings
) -> list[str]:
    """Stale defaults fix would update, but that a secret it keeps references (``DB_PASSWORD=
    ${INIT_VALUE}``): kept too, since the secret would read otherwise, and a secret in use
    cannot change on its own. Not those ``--take-template`` names. Their ENV004 says so;
    returns them (held at the previous default, like the secret)."""
    from envsync_hook.references import names

    kinds, templates, elast = env.doc.kinds, env.doc.templates, env.last
    takes = settings.takes_template if settings.take_template else None
    todo = [
        k
        for k, i in elast.items()
        if "$" in templates[i] and decisions.get(k, KEEP) != TAKE and _secret_in_use(k, settings)
    ]
    kept: dict[str, str] = {}  # stale key -> the secret that reads it
    while todo:
        key = todo.pop()
        for name in names(kinds[elast[key]], templates[elast[key]]):
            if decisions.get(name) == TAKE and not (takes is not None and takes(name)):
                decisions[name] = KEEP
                kept[name] = kept.get(key, key)
                todo.append(name)  # what it reads in turn
    for n, f in enumerate(ctx.out):
        user = kept.get(f.key)
        if user is not None and f.code == "ENV004":
            ctx.out[n] = f._replace(
                message=f.message.replace(
                    "fix takes the new default",
                    f"fix keeps it: {user} references it, and a secret in use cannot change on "
                    "its own",
                )
            )
    return list(kept)


#: values that are no secret even under a secret-looking name (a switch, a placeholder number)
_NOT_A_SECRET = re.compile(r"(?i)(?:|true|false|yes|no|on|off|none|null|[01])")


def _published(sides: Iterable[Side | None], keys: set[str]) -> dict[str, set[str]]:
    """For each of ``keys``: the non-empty defaults the ``sides`` publish for it (assigned, or
    offered in a commented-out ``# KEY=value``), in comparison form."""
    out: dict[str, set[str]] = {}
    for side in sides:
        if side is None:
            continue
        kinds, templates = side.doc.kinds, side.doc.templates
        for key in keys.intersection(side.last):
            i = side.last[key]
            if kinds[i] != BARE and templates[i]:
                out.setdefault(key, set()).add(canonical(templates[i]))
        for c in side.doc.commented:
            if c.key in keys and c.template:
                out.setdefault(c.key, set()).add(canonical(c.template))
    return out


def _names_holding(keys: list[str], patterns: tuple[str, ...]) -> list[str]:
    """The ``keys`` that hold a pattern (or ``pw``), ignoring case: a superset of the secret-
    looking ones. One ``str.find`` loop per pattern over all the names joined, lowered once
    (a regex or a test per name costs a second at 100,000 keys; this, a few milliseconds)."""
    joined = "\n".join(keys)
    lowered = joined.lower()
    words = {p.lower() for p in patterns if p} | {"pw"}
    # (a word that holds another finds no name the other does not: ``password``, ``pwd``
    # are not searched for; a full search of 100,000 names each, 3 ms)
    words = {w for w in words if not any(o != w and o in w for o in words)}
    if len(lowered) != len(joined):  # (a name whose lower case is longer: the slow way)
        return [k for k in keys if any(w in k.lower() for w in words)]
    found: list[int] = []  # offsets of the hits, at most one per name and word
    for word in words:
        at = lowered.find(word)
        while at >= 0:
            found.append(at)
            eol = lowered.find("\n", at)
            if eol < 0:
                break
            at = lowered.find(word, eol + 1)  # on from the next name
    found.sort()
    hits: set[int] = set()
    line = prev = 0
    for at in found:  # (the name's index: the newlines before it, counted once overall)
        line += lowered.count("\n", prev, at)
        prev = at
        hits.add(line)
    return [keys[i] for i in sorted(hits)]


# 80 lines: the cheap tests narrow the candidates step by step, each step a few lines read in order.
def _default_secrets(
    ctx: _Ctx,
    template: Side,
    env: Side,
    base: Side | None,
    also: tuple[Side, ...],
    history: Iterable[tuple[str, str]] = (),
    known: _SecretNames | None = None,
) -> _SecretNames:
    """ENV013: a secret-looking key of the env file whose value is a non-empty default that the
    template, another template of the set or the base publishes (the base is whatever the run
    chose: ``--base``, the sync record, the hook's commit, the git history), or any committed
    version of the template did (``history``, when the run read it). Fix never changes it on
    its own: a database password cannot change without the database.

    Returns the names looked at and those holding a pattern; ``known``, the same of an earlier
    call (the env file fix merged from): only the names it did not look at are searched."""
    from envsync_hook.secrets import is_secret_key

    patterns = ctx.settings.secret_patterns
    ekinds, etemplates, elines = env.doc.kinds, env.doc.templates, env.doc.lines
    # (the cheap tests first: a name holding a pattern, a value some side publishes; the name
    # test, a few microseconds a key, last)
    holding = _holding(env.last, patterns, known)
    named = (patterns, env.last, holding)
    candidates = {k for k in holding if ekinds[env.last[k]] != BARE}
    if not candidates:
        return named
    published = _published((template, *also, base), candidates)
    # (each value in comparison form once, and whether it is more than empty or a switch:
    # the two loops below ask both; 100,000 keys, 6,250 candidates: 10 ms a fix)
    elast = env.last
    values = {k: canonical(etemplates[elast[k]]) for k in candidates}
    plain = {k for k, v in values.items() if not _NOT_A_SECRET.fullmatch(v.strip())}
    # (the history only for the keys whose value no side publishes; a lazy history (base.py's
    # ``select``) starts its git process only when there are some; an empty value or a switch
    # is published by no one)
    pending = {k for k in plain if values[k] not in published.get(k, ())}
    select = getattr(history, "select", None)
    for key, value in select(pending) if select and pending else history if pending else ():
        if key in pending:
            published.setdefault(key, set()).add(value)
    tlines = template.doc.lines
    flagged: list[str] = []
    for key in sorted(published, key=elast.__getitem__):
        value = values[key]
        if value not in published[key]:
            continue
        if key not in plain or "${" in value:
            continue  # a reference or a switch is no secret
        if is_secret_key(key, patterns):
            flagged.append(key)
    if not flagged:
        return named
    from envsync_hook.findings import SECRET_INSIDE, SECRET_SHARED
    from envsync_hook.generate import ties

    # (what to suggest: a command fix accepts, or a change by hand)
    tied = ties(env.doc, env.last, flagged, patterns)
    for key in flagged:
        ei = env.last[key]
        if key in template.last:
            path, line = template.path, tlines[template.last[key]]
        else:
            path, line = env.path, elines[ei]
        tie = tied.get(key)
        # (a fixed note, naming no key: the text report groups the findings without it)
        note = "" if tie is None else SECRET_INSIDE if tie.inside else SECRET_SHARED
        _emit(
            ctx,
            "ENV013",
            key,
            path,
            line,
            "holds a default published in the template, its previous version or its git "
            "history, which anyone can read; set a fresh value (envsync fix --generate-secrets "
            "KEY makes one; a database password must be changed in the database too); fix does "
            f"not change it on its own{note}",
        )
    return named


def _holding(
    names: dict[str, int], patterns: tuple[str, ...], known: _SecretNames | None
) -> frozenset[str]:
    """The ``names`` that hold a secret pattern (:func:`_names_holding`). With ``known`` (the
    patterns of an earlier call, the names it looked at, and its hits) only the names it did
    not look at are searched: the merged file's names are mostly the env file's (100,000
    keys: 35 ms of a fix). Not for other patterns, nor when a pattern holds a newline, which
    could match across two joined names."""
    if known is None or known[0] != patterns or any("\n" in p for p in patterns):
        return frozenset(_names_holding(list(names), patterns))
    _patterns, seen, hits = known
    fresh = list(filterfalse(seen.__contains__, names))
    return frozenset(filter(names.__contains__, hits)).union(_names_holding(fresh, patterns))


def odd_keys(doc: Document, bare: bool = True) -> frozenset[str]:
    """Keys of statements that do not start their line (text after a closing quote,
    ``A="x"token``, or a second statement on a line) and, with ``bare``, of bare ``KEY``
    lines (a token or a line of a PEM pasted on its own line). Docker Compose reads a key
    there, but it is a piece of a value more often than a name: it is shown by its line, never
    as text.
    """
    lines, keys, kinds = doc.lines, doc.keys, doc.kinds
    out: set[str] = set()
    if bare and BARE in kinds:
        at = kinds.find(BARE)
        while at >= 0:  # (bytearray.find: C-level, and bare lines are rare)
            out.add(keys[at])
            at = kinds.find(BARE, at + 1)
    if len(keys) < 2:
        return frozenset(out)
    # (C-level: a statement on the same line as the one before it)
    out.update(compress(keys[1:], map(eq, lines[1:], lines[:-1])))
    if doc.spans:
        # a statement right after a quoted value that crosses lines, on its closing line
        text, starts = doc.text, doc.starts
        from bisect import bisect_left

        for _vstart, vend in doc.spans:
            i = bisect_left(starts, vend)
            if i < len(keys) and "\n" not in text[vend : starts[i]]:
                out.add(keys[i])
    return frozenset(out)


def hide_odd_keys(
    findings: list[Finding], odd: frozenset[str], plausible: int = 0
) -> list[Finding]:
    """``findings`` with each key that is no plausible variable name (or stands mid-line, see
    :func:`odd_keys`) replaced by ``<key on line N>``: in no format does it print as text.
    The keys of the first ``plausible`` findings are known to be plausible names (they passed
    here before): only ``odd`` is looked for among them (100,000 keys: 40 ms a fix)."""
    if not odd and all_plausible([f.key for f in findings[plausible:]]):
        return findings  # (the usual case, decided by two C-level passes)
    out = findings
    for n, f in enumerate(findings):
        key = f.key
        if key and (key in odd or (n >= plausible and not plausible_key(key))):
            if out is findings:
                out = list(findings)
            out[n] = f._replace(key=key_placeholder(f.line))
    return out


def _rename_hints(
    ctx: _Ctx,
    template: Side,
    env: Side,
    missing: list[str],
    base: Side | None,
    extra: list[str],
) -> None:
    """ENV009 for each key that left the template and looks renamed to one that arrived
    (:mod:`envsync_hook.renames` decides). With a base, a key left only if the base had it
    (an operator's own key was never the template's), and arrived only if the base lacked it;
    the base's default counts as the departed key's value too."""
    if not extra or ctx.settings.severity_of("ENV009") == "off":
        return  # (nothing to hint, or hints switched off: the analysis is skipped)
    arrived = missing if base is None else [k for k in missing if k not in base.last]
    if not arrived:
        return
    from envsync_hook.renames import rename_pairs

    ttemplates, etemplates = template.doc.templates, env.doc.templates
    tlast, elast = template.last, env.last
    departed: list[tuple[str, list[str]]] = []
    for old in extra:
        values = [canonical(etemplates[elast[old]])]
        if base is not None:
            at = base.last.get(old)
            if at is None:
                continue
            values.append(canonical(base.doc.templates[at]))
        departed.append((old, values))
    offered = [(new, canonical(ttemplates[tlast[new]])) for new in arrived]
    for old, new, why in rename_pairs(departed, offered):
        new_line = template.doc.lines[tlast[new]]
        _emit(
            ctx,
            "ENV009",
            old,
            template.path,
            new_line,
            f"looks renamed to {shown_key(new, new_line)} ({why}); "
            "fix does not move values between keys",
        )
