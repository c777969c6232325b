"""``fix --generate-secrets KEY``: fresh random values of the same shape as the current ones.

The operator chooses the keys (fnmatch patterns); each gets a value drawn from the ``secrets``
module (the operating system's CSPRNG), as long as the current value (the template default
when the env file has none), from the same alphabet: hex stays hex (and its case), base64 and
its URL-safe form keep their symbols and ``=`` padding, letters and digits stay letters and
digits, and a short prefix such as ``sk-`` is kept. A value too short to be a secret gets
:data:`MIN_LENGTH` characters. Only the value text on the key's line changes; fix makes its
backup first, as for any change.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from envsync_hook.document import BARE, DOUBLE, SINGLE, Document, parse
from envsync_hook.errors import EnvsyncError
from envsync_hook.lean import NamedTuple
from envsync_hook.secrets import DEFAULT_SECRET_PATTERNS, is_secret_key

#: the shortest value generated (a current value shorter than this is a placeholder)
MIN_LENGTH = 16
#: length of a value generated for an empty one
EMPTY_LENGTH = 32
#: a prefix kept as it is: a few letters and a dash or underscore before a long token
_PREFIX = re.compile(r"([A-Za-z]{1,6}[-_])(?=[A-Za-z0-9+/=_\-]{16,}$)")
_HEX_LOWER = frozenset("0123456789abcdef")
_HEX_UPPER = frozenset("0123456789ABCDEF")
#: symbols a generated value may hold: none needs quoting or escaping in a dotenv value
_SAFE_SYMBOLS = frozenset("+/-_.~@%^*:,")


def alphabet_of(body: str) -> str:
    """The alphabet a value like ``body`` is drawn from (see the module docstring)."""
    chars = set(body.rstrip("="))
    if (
        len(body) >= 8
        and (chars <= _HEX_LOWER or chars <= _HEX_UPPER)
        and chars - set("0123456789")
    ):
        return "".join(sorted(_HEX_UPPER if chars <= _HEX_UPPER else _HEX_LOWER))
    out = set()
    if chars & set(string.ascii_lowercase) or not chars:
        out |= set(string.ascii_lowercase)
    if chars & set(string.ascii_uppercase) or not chars:
        out |= set(string.ascii_uppercase)
    if chars & set(string.digits) or not chars:
        out |= set(string.digits)
    out |= chars & _SAFE_SYMBOLS
    if len(out) < 10:  # too few characters to make a secret of (``----``): letters and digits
        out |= set(string.ascii_letters + string.digits)
    return "".join(sorted(out))


def fresh_like(value: str) -> str:
    """A fresh random value of the shape of ``value`` (``secrets.choice`` for each character)."""
    # (imported here: ``secrets`` brings hashlib, hmac and random, milliseconds that a check
    # finding a published default, which imports this module for ``ties``, does not need)
    import secrets

    if not value:
        return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    m = _PREFIX.match(value)
    prefix = m.group(1) if m else ""
    body = value[len(prefix) :]
    padding = len(body) - len(body.rstrip("="))
    core = body[: len(body) - padding] if padding else body
    alphabet = alphabet_of(core)
    length = max(len(core), MIN_LENGTH - len(prefix) - padding)
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length)) + "=" * padding


def chosen(key: str, patterns: Sequence[str]) -> bool:
    """``key`` matches one of the fnmatch ``patterns`` (case-sensitive, as keys are)."""
    return any(fnmatchcase(key, p) for p in patterns)


def _value(doc: Document, i: int) -> str:
    """The value text of binding ``i`` as generation sees it (single quotes' ``$$`` as ``$``)."""
    return doc.templates[i].replace("$$", "$") if doc.kinds[i] == SINGLE else doc.templates[i]


def _refuse_unchosen_twins(
    doc: Document,
    last: dict[str, int],
    chosen_values: dict[str, list[str]],
    secret_patterns: Iterable[str],
) -> None:
    """Refuse (:class:`EnvsyncError`) when a secret-looking key that is not chosen holds the
    value of a chosen one: after generation the two would disagree, and two keys holding one
    published value are most often the two ends of one link (Dify's ``SANDBOX_API_KEY`` and
    ``CODE_EXECUTION_API_KEY``). The message names the keys, never the value. A key that is
    not secret-looking (``ELASTICSEARCH_USERNAME=elastic`` beside the password ``elastic``) is
    no link."""
    from envsync_hook.escaping import shown_key
    from envsync_hook.secrets import is_secret_key

    twins: list[tuple[str, list[str]]] = []
    chosen = {k for keys in chosen_values.values() for k in keys}  # (a set: linear, not n*n)
    for key, i in last.items():
        if doc.kinds[i] == BARE:
            continue
        value = _value(doc, i)
        group = chosen_values.get(value) if value else None
        if group is not None and key not in chosen and is_secret_key(key, secret_patterns):
            twins.append((shown_key(key, doc.lines[i]), group))
    if not twins:
        _refuse_embedding(doc, last, chosen_values)
        return
    names = _some([k for k, _ in twins])
    groups = {id(g): g for _, g in twins}  # (each group once: twins of one value share it)
    holders = _some(list(dict.fromkeys(k for g in groups.values() for k in g)))
    one = len(twins) == 1
    it, holds = ("it", "holds") if one else ("them", "hold")
    raise EnvsyncError(
        f"refusing to generate secrets: {names} (not chosen) {holds} the same value as "
        f"{holders} and would disagree with it after; choose {it} too (keys that held one "
        f"value get one new value) or change {it} first; nothing was written"
    )


def _some(keys: list[str], most: int = 10) -> str:
    """At most ``most`` of ``keys`` for a one-line message, and how many more."""
    shown = ", ".join(keys[:most])
    return shown if len(keys) <= most else f"{shown} and {len(keys) - most} more"


#: a chosen value shorter than this is not looked for inside other values (``dify`` is part of
#: many innocent values); Dify's published passwords are 12 characters and more
_EMBED_MIN = 8
#: what separates a password from the rest of a URL or connection string (``redis://:pw@h``,
#: ``Password=pw;``, ``-p pw``); a password holding one of these must be percent-encoded there
_PIECES = re.compile(r"[\s:@/=;&?#,'\"()\[\]]+")


def _refuse_embedding(
    doc: Document, last: dict[str, int], chosen_values: dict[str, list[str]]
) -> None:
    """Refuse (:class:`EnvsyncError`) when a key that is not chosen holds a chosen key's value
    *inside* its own (Dify's ``CELERY_BROKER_URL=redis://:<REDIS_PASSWORD>@redis:6379/1``):
    after generation the URL would still carry the old password and the service would not
    connect. Names the keys, never the value."""
    from envsync_hook.escaping import shown_key

    long_values = {v for v in chosen_values if len(v) >= _EMBED_MIN}
    if not long_values:
        return
    chosen_keys = {k for keys in chosen_values.values() for k in keys}
    inside: list[tuple[str, list[str]]] = []
    for key, i in last.items():
        if doc.kinds[i] == BARE or key in chosen_keys:
            continue
        value = _value(doc, i)
        # the pieces of a URL or a connection string, looked up in a set: linear in the text
        # (a test of every chosen value against every value was n*n at 20,000 keys: 31 s)
        pieces = long_values.intersection(_PIECES.split(value)) - {value}
        holders = [k for v in sorted(pieces) for k in chosen_values[v]]
        if holders:
            inside.append((shown_key(key, doc.lines[i]), holders))
    if not inside:
        return
    names = _some([k for k, _ in inside])
    owners = _some(list(dict.fromkeys(k for _, g in inside for k in g)))
    holds = "holds" if len(inside) == 1 else "hold"
    raise EnvsyncError(
        f"refusing to generate secrets: {names} {holds} the value of {owners} inside its own "
        f"(a URL or a connection string) and would keep the old one; change them together by "
        f"hand; nothing was written"
    )


class Ties(NamedTuple):
    """Why ``fix --generate-secrets KEY`` alone would refuse a key."""

    #: another secret-looking key holds the same value (chosen together, they get one value)
    shared: bool = False
    #: another key holds the value inside its own (a URL): only a change by hand works
    inside: bool = False


def ties(
    doc: Document, last: dict[str, int], keys: Iterable[str], secret_patterns: Iterable[str]
) -> dict[str, Ties]:
    """For each of ``keys`` (assigned in ``doc``) that ``fix --generate-secrets KEY`` would
    refuse on its own, what ties it (:func:`_refuse_unchosen_twins`, :func:`_refuse_embedding`,
    the same rules), so that a suggestion is a command fix accepts. One pass over the values,
    and one secret-name test per key holding a wanted value, whatever the number of ``keys``."""
    values = {k: _value(doc, last[k]) for k in keys}
    wanted = {v for v in values.values() if v}
    if not wanted:
        return {}
    secret_holders: dict[str, int] = {}  # value -> how many secret-looking keys hold it
    inside: set[str] = set()  # values some key holds inside its own
    long_values = {v for v in wanted if len(v) >= _EMBED_MIN}
    for key, i in last.items():
        if doc.kinds[i] == BARE:
            continue
        value = _value(doc, i)
        if value in wanted:
            if is_secret_key(key, secret_patterns):
                secret_holders[value] = secret_holders.get(value, 0) + 1
        elif long_values and len(value) > _EMBED_MIN:
            inside.update(long_values.intersection(_PIECES.split(value)))
    out: dict[str, Ties] = {}
    for key, v in values.items():
        # (``keys`` are secret-looking: a count of two is the key and another)
        found = Ties(secret_holders.get(v, 0) > 1, v in inside)
        if found.shared or found.inside:
            out[key] = found
    return out


def generate_secrets(
    text: str,
    patterns: Sequence[str],
    secret_patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS,
) -> tuple[str, list[str]]:
    """``text`` with the value of each key matching ``patterns`` replaced by :func:`fresh_like`
    of it (its last assignment, the one Docker Compose uses), and the keys changed, in order.
    Not replaced: a value holding a reference (``${DB_PASSWORD}``: it follows that key), an
    empty value unless the key is named without a wildcard (empty often switches a feature
    off), and, through a wildcard, a key that does not look secret (``'*'`` leaves
    ``LOG_LEVEL`` alone; name it to have it).

    Chosen keys that held one (non-empty) value get one new value: they are most often two ends
    of one link (Dify's ``WEAVIATE_API_KEY`` and ``WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS``)
    and must keep agreeing. A secret-looking key (``secret_patterns``) that is *not* chosen but
    holds the value of a chosen one is refused: :func:`_refuse_unchosen_twins`.

    The new value is written in the quotes the old one had (none needed: the alphabet holds
    no quote, ``$``, ``#``, backslash or space)."""
    if not patterns:
        return text, []
    doc = parse(text)
    last = {key: i for i, key in enumerate(doc.keys)}
    picked: list[tuple[str, int, str]] = []  # (key, binding, current value)
    exact = {p for p in patterns if not any(c in p for c in "*?[")}
    for key, i in last.items():
        kind = doc.kinds[i]
        if kind == BARE or not chosen(key, patterns):
            continue
        if key not in exact and not is_secret_key(key, secret_patterns):
            continue  # a wildcard picks secrets only (``'*'`` must not randomise LOG_LEVEL)
        current = _value(doc, i)
        if kind != SINGLE and "$" in current:
            continue  # a reference (``${DB_PASSWORD}``) follows its key: not replaced
        if not current and key not in exact:
            continue  # empty often means "off" (a sentinel, an init password): named keys only
        picked.append((key, i, current))
    chosen_values: dict[str, list[str]] = {}
    for key, _i, current in picked:
        if current:  # (empty values are no shared secret: each named one gets its own)
            chosen_values.setdefault(current, []).append(key)
    _refuse_unchosen_twins(doc, last, chosen_values, secret_patterns)
    fresh: dict[str, str] = {}  # old value -> its one new value
    edits: list[tuple[int, int, str]] = []
    keys: list[str] = []
    for key, i, current in picked:
        new = fresh.get(current) if current else None
        if new is None:
            new = fresh_like(current)
            if current:
                fresh[current] = new
        start, end = doc.value_span(i)
        if doc.kinds[i] in (SINGLE, DOUBLE):
            start, end = start + 1, end - 1
        edits.append((start, end, new))
        keys.append(key)
    out = []
    pos = 0
    for start, end, new in sorted(edits):
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out), keys


def shared_note(text: str, keys: Sequence[str]) -> str:
    """Which of the generated ``keys`` share one new value in ``text`` (they held one value
    before): ``"; A and B share one (they held the same value)"``, or ``""``."""
    doc = parse(text)
    last = {key: i for i, key in enumerate(doc.keys)}
    by_value: dict[str, list[str]] = {}
    for key in keys:
        i = last.get(key)
        if i is not None and doc.templates[i]:
            by_value.setdefault(doc.templates[i], []).append(key)
    groups = [g for g in by_value.values() if len(g) > 1]
    if not groups:
        return ""
    from envsync_hook.escaping import escape

    shared = "; ".join(escape(", ".join(g[:-1]) + " and " + g[-1]) for g in groups)
    return f" ({shared}: keys that held one value got one new value)"


def unmatched_note(env: str, patterns: Sequence[str], generated: Sequence[str]) -> str:
    """A notice naming the ``--generate-secrets`` patterns that gave no key of ``env`` a fresh
    value (a typo, an empty value, a reference, or a wildcard over no secret); "" if none."""
    missed = [p for p in patterns if not any(chosen(k, [p]) for k in generated)]
    if not missed:
        return ""
    from envsync_hook.escaping import escape

    names = ", ".join(escape(repr(p)) for p in missed)
    return (
        f"envsync: warning: {escape(env)}: --generate-secrets {names}: no key was given a fresh "
        f"value (no key matches, or its value is empty or a reference, or a wildcard matched "
        f"no secret)"
    )
