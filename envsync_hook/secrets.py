"""Keeping values out of output: secret-looking keys, URL passwords, value-free descriptions.

By default nothing prints a value at all (messages use :func:`describe_value`). Only under
``--show-values`` does a value reach the output, and then through :func:`display_value`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_SECRET_PATTERNS = (
    "PASSWORD",
    "SECRET",
    "TOKEN",
    "KEY",
    "PRIVATE",
    "CREDENTIAL",
    "AUTH",
    "SALT",
    "DSN",
    "CERT",
)

MASK = "***"

#: the start of a URL: ``scheme://`` (RFC 3986 scheme characters).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_WHITESPACE = re.compile(r"\s")
#: characters that end the user name of a URL's userinfo. Not ``@``: an e-mail address as user
#: name (``smtp://me@example.com:pw@host``) must not hide the password that follows.
_USER_END = frozenset(":/?#")


def is_secret_key(key: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """True when a pattern occurs in ``key``, ignoring case (``db_password`` matches ``PASSWORD``).

    Matching is a plain substring test, so it errs towards masking (``MONKEY`` matches ``KEY``).
    Empty patterns are ignored.
    """
    folded = key.casefold()
    return any(p and p.casefold() in folded for p in patterns)


def mask_url_password(value: str) -> str:
    """Replace the password of every ``scheme://user:password@host`` in ``value`` by ``***``.

    A URL runs from its ``scheme://`` to the next whitespace or the next ``scheme://``. Its
    userinfo ends at the *last* ``@`` of that span and its user name at the first ``:``, so a
    password holding an unencoded ``@`` or ``/`` is still wholly masked; this errs towards
    hiding too much (``https://host:8080/a@b`` shows as ``https://host:***@b``). URLs without
    a password (``http://host``, ``https://user@host``, ``postgres://u:@host``) are unchanged.
    """
    urls = list(_SCHEME.finditer(value))
    out: list[str] = []
    pos = 0
    for i, url in enumerate(urls):
        start = url.end()
        end = urls[i + 1].start() if i + 1 < len(urls) else len(value)
        space = _WHITESPACE.search(value, start, end)
        if space is not None:
            end = space.start()
        at = value.rfind("@", start, end)
        if at < 0:
            continue
        colon = start
        while colon < at and value[colon] not in _USER_END:
            colon += 1
        if value[colon] != ":" or colon + 1 == at:
            continue  # no password, or an empty one
        out.append(value[pos : colon + 1])
        out.append(MASK)
        pos = at
    out.append(value[pos:])
    return "".join(out)


def display_value(key: str, value: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> str:
    """The form of a value that ``--show-values`` may print.

    A secret-looking key shows ``***`` and nothing else (not even the length); any other value
    shows with URL passwords masked.
    """
    if is_secret_key(key, patterns):
        return MASK
    return mask_url_password(value)


def describe_value(value: str) -> str:
    """A description of a value that reveals nothing of its content: ``empty``, ``12 chars``.

    Multi-line values also give their line count: ``40 chars, 3 lines``.
    """
    if value == "":
        return "empty"
    n = len(value)
    text = f"{n} char" if n == 1 else f"{n} chars"
    lines = len(value.splitlines())
    if lines > 1:
        text += f", {lines} lines"
    return text
