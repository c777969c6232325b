"""Which keys that left a template were renamed to keys that arrived (ENV009 hints).

A hint is given only on strong evidence, measured on a labelled table of real renames and
non-renames (``tests/data/renames.tsv``, from Dify's 244-revision history and other projects):

- **affix**: one name is the other with up to two words added or dropped at its start or end
  (``SA_SPAM_SUBJECT`` -> ``SPAM_SUBJECT``, ``HTTP_PORT`` -> ``SSRF_HTTP_PORT``), keeping at
  least two words, or one word and the same informative value;
- **inserted word**: up to two words added or dropped inside a name of at least three words
  kept (``MULTIMODAL_SEND_IMAGE_FORMAT`` -> ``MULTIMODAL_SEND_FORMAT``);
- **replaced word**: one block of up to two words replaced, where the rest is long and
  distinctive (three words or more, one of them not a generic word such as ``API`` or ``KEY``),
  or the rest frames the replaced block on both sides (``_APP_FUNCTIONS_TIMEOUT`` ->
  ``_APP_COMPUTE_TIMEOUT``), or the value is the same; a spelling fix of one word
  (``VIKINGDB_SCHEMA`` -> ``VIKINGDB_SCHEME``);
- **same value** alone: an informative value (a path, URL, host or long token; not a number,
  boolean, placeholder or empty) held by exactly one departed and one arrived key;
- **the same change as others**: a block replaced the same way in two or more strong pairs of
  the same comparison (``PUBSUB_REDIS_URL`` -> ``EVENT_BUS_REDIS_URL`` beside the two other
  ``PUBSUB_`` keys).

Ambiguity gives no hint: a departed key with two equally good candidates, or an arrived key
claimed by several departed ones (``QDRANT_API_KEY``, ``SENDGRID_API_KEY`` ... ->
``AMPLITUDE_API_KEY`` is none of the above in any case).

Linear in the number of keys: candidates come from indexes of name stems and values, and a stem
shared by more than a few keys is not looked through (it is ambiguous whatever the result).
Linear in the names' length too: a name of more than ``_MAX_WORDS`` words is found by its value
only, and a word of more than ``_MAX_WORD_LENGTH`` letters is no spelling fix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from envsync_hook.lean import NamedTuple

__all__ = ["Rename", "looks_renamed", "rename_pairs"]

_TRIVIAL = re.compile(r"(?i)^(?:|true|false|yes|no|on|off|none|null|-?\d+(?:\.\d+)?[a-z]{0,2})$")
_PLACEHOLDER = re.compile(
    r"(?i)(?:^|[^a-z])(?:your|xxx+|change_?me|changeit|replace[-_ ]?me|example|placeholder)"
    r"|^<.*>$|^\{.*\}$|^\*+$"
)
#: words that say little about which setting a name is: a rest made only of these is not
#: distinctive (``QDRANT_API_KEY`` and ``AMPLITUDE_API_KEY`` share only ``API_KEY``)
GENERIC = frozenset(
    [
        "API",
        "KEY",
        "KEYS",
        "URL",
        "URI",
        "HOST",
        "HOSTNAME",
        "PORT",
        "USER",
        "USERNAME",
        "PASSWORD",
        "PASS",
        "PWD",
        "SECRET",
        "TOKEN",
        "ENABLED",
        "ENABLE",
        "DISABLE",
        "DISABLED",
        "NAME",
        "PATH",
        "DIR",
        "FILE",
        "TIMEOUT",
        "SIZE",
        "MAX",
        "MIN",
        "TYPE",
        "MODE",
        "ID",
        "LEVEL",
        "DB",
        "DATABASE",
        "COUNT",
        "NUM",
        "LIMIT",
        "DEFAULT",
        "SERVER",
        "CLIENT",
        "ENDPOINT",
        "REGION",
        "BUCKET",
        "ACCESS",
        "USE",
        "IS",
        "TIME",
        "INTERVAL",
        "VERSION",
        "IMAGE",
    ]
)
#: at most this many candidates of one stem are compared; more share it, so none is the one
_BUCKET = 8
#: names of more words are looked up by value only: each name's stems cost its length times its
#: number of blocks, so 2,000 names of 150-200 words took 15 s (real names have at most 9)
_MAX_WORDS = 16
#: a longer word is no spelling fix of another (the comparison costs the product of lengths)
_MAX_WORD_LENGTH = 40


class Rename(NamedTuple):
    old: str
    new: str
    #: why: ``same value`` or ``similar name``
    why: str


def _words(key: str) -> tuple[str, ...]:
    words = key.upper().split("_")
    return tuple(words) if "" not in words else tuple(w for w in words if w)


def informative(value: str) -> bool:
    """Whether two keys holding ``value`` says something: not empty, a number, a boolean or a
    placeholder (``your-access-key``, ``changeme``, ``{replace-me}``)."""
    return not _TRIVIAL.match(value) and not _PLACEHOLDER.search(value)


def _specific(value: str) -> bool:
    """A value that alone points to one setting: a path, URL, host, or a long token."""
    return (
        informative(value)
        and len(value) >= 6
        and (len(value) >= 12 or bool(set("/:.@") & set(value)))
    )


def _near(a: str, b: str) -> bool:
    """One word spelt differently (edit distance 1 or 2, same first three letters)."""
    if min(len(a), len(b)) < 4 or a[:3] != b[:3] or abs(len(a) - len(b)) > 2:
        return False
    if max(len(a), len(b)) > _MAX_WORD_LENGTH:
        return False
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] <= 2


class _Match(NamedTuple):
    score: tuple[int, int, int]
    #: the change, to find the same change made to other keys: (where, old block, new block)
    change: tuple[str, tuple[str, ...], tuple[str, ...]]
    strong: bool


def _relate(old: tuple[str, ...], new: tuple[str, ...], same: bool) -> _Match | None:
    """How ``old`` and ``new`` (words) relate, with the strength of that evidence."""
    if old == new:
        return None
    n = min(len(old), len(new))
    p = 0
    while p < n and old[p] == new[p]:
        p += 1
    s = 0
    while s < n - p and old[-1 - s] == new[-1 - s]:
        s += 1
    mid_old, mid_new = old[p : len(old) - s], new[p : len(new) - s]
    shared = p + s
    if len(mid_old) > 2 or len(mid_new) > 2 or shared == 0:
        return None
    where = "start" if p == 0 else "end" if s == 0 else "middle"
    rest = old[:p] + old[len(old) - s :]
    distinctive = any(w not in GENERIC and len(w) >= 3 for w in rest)
    if not mid_old or not mid_new:
        # an affix keeps two words (or one and the value); an inserted word, three (or two)
        keep = 2 if where != "middle" else 3
        strong = shared >= keep or (shared >= keep - 1 and same)
        kind = 3
    elif len(mid_old) == len(mid_new) == 1 and _near(mid_old[0], mid_new[0]):
        strong, kind = True, 3
    else:
        strong = (
            (shared >= 3 and distinctive)
            or (where == "middle" and shared >= 2 and distinctive)
            or (shared >= 2 and same)
        )
        kind = 1
    return _Match((int(same), shared, kind), (where, mid_old, mid_new), strong)


def looks_renamed(old: str, new: str, same_value: bool = False) -> bool:
    """Whether the names alone (and ``same_value``: both hold one informative value) are
    strong evidence that ``old`` was renamed to ``new`` (one pair, no other keys in view)."""
    m = _relate(_words(old), _words(new), same_value)
    return m is not None and m.strong


_BLOCKS: dict[int, list[tuple[int, int]]] = {}


def _blocks(n: int) -> list[tuple[int, int]]:
    """The blocks (start, end) of up to two words of an ``n``-word name whose removal leaves at
    least one word (computed once per length: the loops below run once per key)."""
    found = _BLOCKS.get(n)
    if found is None:
        found = _BLOCKS[n] = [
            (i, j) for i in range(n) for j in (i + 1, i + 2) if j <= n and j - i < n
        ]
    return found


def rename_pairs(
    departed: Sequence[tuple[str, Sequence[str]]], arrived: Sequence[tuple[str, str]]
) -> list[Rename]:
    """The renames among ``departed`` (key, values it is known by: the env file's, the base's)
    and ``arrived`` (key, template default), in ``departed`` order: candidates from indexes,
    the best strong match of each departed key, weak matches that two strong pairs support,
    and no arrived key claimed twice."""
    if not departed or not arrived:
        return []
    words_old = [_words(k) for k, _ in departed]
    words_new = [_words(k) for k, _ in arrived]
    by_value: dict[str, list[int]] = {}  # every value indexed; informative() asked of few
    for at, (_, value) in enumerate(arrived):
        by_value.setdefault(value, []).append(at)
    candidates = _candidates(departed, words_old, words_new, by_value)
    chosen, weak = _strong_matches(departed, arrived, words_old, words_new, by_value, candidates)
    chosen += _supported(chosen, weak)
    claims: dict[int, int] = {}
    for _, at, _ in chosen:
        claims[at] = claims.get(at, 0) + 1
    out = [
        (
            di,
            Rename(departed[di][0], arrived[at][0], "same value" if m.score[0] else "similar name"),
        )
        for di, at, m in chosen
        if claims[at] == 1  # an arrived key claimed by several departed ones: none of them
    ]
    out.sort()
    return [r for _, r in out]


def _candidates(
    departed: Sequence[tuple[str, Sequence[str]]],
    words_old: list[tuple[str, ...]],
    words_new: list[tuple[str, ...]],
    by_value: dict[str, list[int]],
) -> list[set[int]]:
    """For each departed key, the arrived keys worth relating to it. From indexes, not from
    comparing every pair (5,000 x 5,000 at 100,000 keys): two names related as :func:`_relate`
    asks share an entry: one name equals the other with a block cut out (looked up from both
    sides in the other side's index of whole names), or both equal with a block marked "*" (a
    replaced block); or they share an informative value. Names so related share their first
    or their last word: the stems of a name that shares neither with any name on the other
    side are not made (a departed key still finds its candidates by value)."""
    whole_new: dict[tuple[str, ...], int] = {w: at for at, w in enumerate(words_new)}
    whole_old: dict[tuple[str, ...], int] = {w: di for di, w in enumerate(words_old)}
    marked: dict[tuple[str, ...], list[int]] = {}
    candidates: list[set[int]] = [set() for _ in departed]
    related_new = _may_relate(words_new, words_old)
    related_old = _may_relate(words_old, words_new)
    for at, w in enumerate(words_new):
        if not related_new[at]:
            continue  # (no stem of it can be a departed name's, nor share its bucket)
        for i, j in _blocks(len(w) if len(w) <= _MAX_WORDS else 0):
            head, tail = w[:i], w[j:]
            di = whole_old.get(head + tail)
            if di is not None:
                candidates[di].add(at)  # words added to a departed name
            bucket = marked.setdefault((*head, "*", *tail), [])
            if len(bucket) <= _BUCKET:
                bucket.append(at)
    for di, w in enumerate(words_old):
        found = candidates[di]
        for i, j in _blocks(len(w) if len(w) <= _MAX_WORDS and related_old[di] else 0):
            head, tail = w[:i], w[j:]
            hit = whole_new.get(head + tail)
            if hit is not None:
                found.add(hit)  # words dropped from a departed name
            shared = marked.get((*head, "*", *tail))
            if shared and len(shared) <= _BUCKET:
                found.update(shared)  # (a stem many keys share is no evidence for one)
        for v in departed[di][1]:
            if v in by_value and informative(v):
                found.update(by_value[v][:_BUCKET])
    return candidates


def _may_relate(names: list[tuple[str, ...]], others: list[tuple[str, ...]]) -> list[bool]:
    """For each of ``names`` (words): whether it shares its first or its last word with one of
    ``others``, as any two names :func:`_relate` relates do (a block cut out or replaced
    leaves a word at one end). The others are not looked through: 100,000 keys, where the
    departed and arrived names share no end word, spared 80 ms of stems."""
    firsts = {w[0] for w in others if w}
    lasts = {w[-1] for w in others if w}
    return [bool(w) and (w[0] in firsts or w[-1] in lasts) for w in names]


def _strong_matches(
    departed: Sequence[tuple[str, Sequence[str]]],
    arrived: Sequence[tuple[str, str]],
    words_old: list[tuple[str, ...]],
    words_new: list[tuple[str, ...]],
    by_value: dict[str, list[int]],
    candidates: list[set[int]],
) -> tuple[list[tuple[int, int, _Match]], dict[int, list[tuple[int, _Match]]]]:
    """For each departed key, its one best strong match (none when two tie), as (departed
    index, arrived index, match); and its weak matches, by departed index. A specific value
    that only these two keys have is a match of its own."""
    departed_values: dict[str, int] = {}
    for _, values in departed:
        for v in set(values):
            departed_values[v] = departed_values.get(v, 0) + 1
    chosen: list[tuple[int, int, _Match]] = []
    weak: dict[int, list[tuple[int, _Match]]] = {}
    for di, (_, values) in enumerate(departed):
        if not candidates[di]:
            continue
        w = words_old[di]
        values_set = {v for v in values if v in by_value and informative(v)}
        best: list[tuple[tuple[int, int, int], int, _Match]] = []
        for at in candidates[di]:
            value = arrived[at][1]
            same = value in values_set
            m = _relate(w, words_new[at], same)
            if m is None:
                if not (
                    same
                    and _specific(value)
                    and len(by_value[value]) == 1
                    and departed_values.get(value, 0) == 1
                ):
                    continue
                m = _Match((1, 0, 0), ("value", (), ()), True)
            if m.strong:
                best.append((m.score, at, m))
            else:
                weak.setdefault(di, []).append((at, m))
        if not best:
            continue
        best.sort(key=lambda b: b[0], reverse=True)
        if len(best) > 1 and best[1][0] == best[0][0]:
            continue  # two equally good candidates: no hint
        chosen.append((di, best[0][1], best[0][2]))
    return chosen, weak


def _supported(
    chosen: list[tuple[int, int, _Match]], weak: dict[int, list[tuple[int, _Match]]]
) -> list[tuple[int, int, _Match]]:
    """The weak pairs whose change (the same block replaced the same way) two strong pairs
    made, for the departed keys with no strong match and exactly one such weak one."""
    support: dict[tuple[str, tuple[str, ...], tuple[str, ...]], int] = {}
    for _, _, m in chosen:
        if m.change[0] != "value":
            support[m.change] = support.get(m.change, 0) + 1
    taken = {di for di, _, _ in chosen}
    out: list[tuple[int, int, _Match]] = []
    for di, options in weak.items():
        if di in taken:
            continue
        fits = [(at, m) for at, m in options if support.get(m.change, 0) >= 2]
        if len(fits) == 1:
            out.append((di, fits[0][0], fits[0][1]))
    return out
