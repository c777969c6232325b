"""Keeping values out of output: secret-looking keys, URL passwords, value-free descriptions.

By default nothing prints a value at all (messages use :func:`describe_value`). Only under
``--show-values`` does a value reach the output, and then through :func:`display_value`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from envsync_hook.lean import lazy_pattern

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
    "PASS",
    "PWD",
    "PW",
)

MASK = "***"

#: values shown as they are even for a secret-looking key: they hide nothing (a switch, a
#: number of one digit, emptiness), and masking them made ``ENABLE_OAUTH2=true`` unreadable
_HARMLESS = frozenset({"", "true", "false", "yes", "no", "on", "off", "0", "1", "none", "null"})

#: where a name splits into words: a lower-case letter or digit before a capital
#: (``apiKey``), the last capital of a run before a capitalised word (``APIKey``)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\W_]+")
_TRAILING_DIGITS = re.compile(r"[0-9]+$")

#: words that are a secret word run together with what it is the secret of, as all-capitals
#: names write them (``APIKEY``, ``HTPASSWD``): such a word counts as the secret word
COMPOUND_SECRETS = frozenset(
    {
        "passwd", "htpasswd", "passphrase", "passcode", "passkey", "apikey", "apitoken",
        "apisecret", "accesskey", "secretkey", "privatekey", "masterkey", "authtoken",
        "accesstoken", "refreshtoken", "bearertoken", "clientsecret", "appsecret",
        "appkey", "signingkey", "encryptionkey", "sessionsecret", "jwtsecret", "webhooksecret",
        "dbpass", "dbpassword", "userpass", "adminpass", "rootpass", "sastoken",
        "pgpass", "storepass", "keypass", "sslkey", "tlskey", "privkey", "jwtkey", "basicauth",
        "authorization", "requirepass", "masterauth", "bindpw",
    }
)  # fmt: skip

#: words after the secret word that make a name *about* a secret rather than one: where it is
#: (``..._URL``, ``..._PASSWORD_FILE``, ``..._KEY_PATH``), its lifetime, a switch, a count or
#: limit, which method or provider, who holds it (``ACCESS_TOKEN_EXPIRE_MINUTES``,
#: ``NGINX_SSL_CERT_FILENAME``, ``OPENSEARCH_AUTH_METHOD``, ``TOKEN_URL``, ``AUTH_ENABLED``)
ABOUT_A_SECRET = frozenset(
    {
        "enabled", "enable", "disabled", "disable", "required", "minutes", "hours", "days",
        "seconds", "ttl", "expire", "expires", "expiry", "expiration", "lifetime", "timeout",
        "length", "size", "count", "counting", "limit", "max", "min", "provider", "method",
        "version", "filename", "file", "path", "dir", "directory", "location", "type",
        "mode", "reqs", "email", "domain", "options", "users", "user", "username", "name",
        "host", "port", "region", "url", "uri", "urls", "endpoint", "server", "redirect",
        "callback", "scheme", "algorithm", "algo", "certfile", "keyfile", "certs", "header",
        "prefix", "suffix", "policy", "strategy", "format", "encoding", "field",
        "through", "interval", "rotation", "store",
    }
)  # fmt: skip


def name_words(key: str) -> list[str]:
    """The words of a variable name, case-folded: split at ``_``, ``-``, ``.`` and any other
    non-word character and at camelCase boundaries (``awsAccessKeyId`` and
    ``AWS_ACCESS_KEY_ID`` both give ``aws access key id``), a trailing number dropped
    (``PASSWORD2`` is ``password``, ``OAUTH2`` is ``oauth``)."""
    out = []
    for part in _SEPARATORS.split(_CAMEL.sub("_", key)):
        word = _TRAILING_DIGITS.sub("", part).casefold()
        if word:
            out.append(word)
    return out


@lru_cache(maxsize=16)  # (split once per pattern set, not once per key: 1.2 s at 100,000 keys)
def _pattern_words(patterns: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Each pattern as its words (``API_KEY`` is ``("api", "key")``); empty ones dropped."""
    return [w for w in (tuple(name_words(p)) for p in patterns) if w]


@lru_cache(maxsize=16)
def _by_last_word(patterns: tuple[str, ...]) -> dict[str, list[tuple[str, ...]]]:
    """The patterns' words (:func:`_pattern_words`) by their last word, also in the plural
    (``keys``, ``passes``), but for a plural that is a word about a secret (``certs``)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for pw in _pattern_words(patterns):
        last = pw[-1]
        for form in (last, last + "s", last + "es"):
            if form == last or form not in ABOUT_A_SECRET:
                out.setdefault(form, []).append(pw)
    return out


#: the shortest one-word pattern that also ends a longer word as a secret (``ADMINPASSWORD``,
#: ``CLIENTSECRET``, ``AUTHTOKEN``); shorter ones end innocent words (``MONKEY``, ``COMPASS``,
#: ``OAUTH``, ``BASALT``) and count only as whole words
SUFFIX_MIN = 5


@lru_cache(maxsize=16)
def _suffixes(patterns: tuple[str, ...]) -> tuple[str, ...]:
    """The one-word patterns of :data:`SUFFIX_MIN` letters or more and the words of
    :data:`COMPOUND_SECRETS` that hold a pattern, each also in the plural: the endings that
    make a run-together word a secret (``ADMINPASSWORD``, ``SECRETACCESSKEY``, ``APIKEYS``)."""
    out: list[str] = []
    lasts = [pw[-1] for pw in _pattern_words(patterns)]
    for pw in _pattern_words(patterns):
        if len(pw) == 1 and len(pw[0]) >= SUFFIX_MIN:
            out += [pw[0], pw[0] + "s"]
    for word in sorted(COMPOUND_SECRETS):
        if any(last in word for last in lasts):
            out += [word, word + "s", word + "es"]
    return tuple(out)


def _secret_word_end(words: list[str], patterns: tuple[str, ...]) -> int:
    """The index just past the last secret word of ``words`` (0 when there is none): a pattern's
    words in a row, the last one also in the plural (``KEYS``, ``CREDENTIALS``), a word that
    ends with a long pattern (:data:`SUFFIX_MIN`: ``ADMINPASSWORD``), or a word of
    :data:`COMPOUND_SECRETS` that holds a pattern (``PASSWD`` is one while ``PASS`` is)."""
    by_last = _by_last_word(patterns)  # (one dict lookup a word, not a loop over patterns)
    suffixes = _suffixes(patterns)
    end = 0
    for i, word in enumerate(words):
        if word in COMPOUND_SECRETS and any(pw[-1] in word for pw in _pattern_words(patterns)):
            end = i + 1
            continue
        if suffixes and word.endswith(suffixes):
            end = i + 1
            continue
        for pw in by_last.get(word, ()):
            n = len(pw)
            if n == 1 or (i + 1 >= n and tuple(words[i + 1 - n : i]) == pw[:-1]):
                end = i + 1
                break
    return end


@lru_cache(maxsize=16)  # (one C-level search a name instead of a loop over the patterns)
def _any_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """A regex that finds any of ``patterns`` (case-folded) in a case-folded name."""
    return re.compile("|".join(re.escape(p.casefold()) for p in patterns) or r"(?!)")


def holds_pattern(word: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """True when a pattern occurs anywhere in ``word``, ignoring case (``mypassword``,
    ``MONKEY``): the loose test, for where a miss would print a secret and a false hit only
    hides a little text (the word before a ``:`` in a comment)."""
    folded = word.casefold()
    return any(p and p.casefold() in folded for p in patterns)


#: patterns -> key -> verdict: a key is tested once a run (a fix compares twice, and the
#: passes of one comparison ask again; 100,000 keys: 0.2 s a comparison saved)
_VERDICTS: dict[tuple[str, ...], dict[str, bool]] = {}


def is_secret_key(key: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """:func:`names_secret`, remembered per pattern set."""
    pats = patterns if isinstance(patterns, tuple) else tuple(patterns)
    verdicts = _VERDICTS.get(pats)
    if verdicts is None:
        verdicts = _VERDICTS[pats] = {}
    verdict = verdicts.get(key)
    if verdict is None:
        if len(verdicts) >= 65536:
            verdicts.clear()  # (a bound on its memory: masking a diff asks of every key)
        verdict = verdicts[key] = names_secret(key, pats)
    return verdict


def names_secret(key: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """True when ``key`` names a secret: one of its words (:func:`name_words`) is a pattern
    (ignoring case; a pattern of several words, ``API_KEY``, matches them in a row; the last
    in the plural too) or a compound such as ``APIKEY``, ``PASSWD``, ``HTPASSWD``,
    ``PASSPHRASE`` (:data:`COMPOUND_SECRETS`), or a word that ends with a pattern of five
    letters or more (``ADMINPASSWORD``, ``CLIENTSECRET``). So ``DB_PASSWORD``, ``apiKey``,
    ``REDIS_PASS``, ``MYSQL_PWD``, ``SMTP_PW``, ``SENTRY_DSN`` are secrets, and
    ``WEAVIATE_TOKENIZATION``, ``COMPASS_URL``, ``BYPASS_PROXY``, ``KEYWORD_STORE``, ``MONKEY``
    are not: a pattern that starts a longer word, or a short one inside it, is no match.

    Not a secret either, a name *about* one: a word of :data:`ABOUT_A_SECRET` after the last
    secret word (``TOKEN_URL``, ``DB_PASSWORD_FILE``, ``ACCESS_TOKEN_EXPIRE_MINUTES``), ``MAX``
    or ``MIN`` right before it (``CODE_GENERATION_MAX_TOKENS``), a first word ``USE``, or a
    word ``ENABLE``/``DISABLE`` anywhere (``ENABLE_API_KEY_AUTH``): a switch.
    """
    pats = tuple(p for p in patterns if p)
    # (every match holds a pattern as a substring: most names end here, at one regex search)
    if _any_pattern(pats).search(key.casefold()) is None:
        return False
    words = name_words(key)
    end = _secret_word_end(words, pats)
    if end == 0:
        return False
    if not ABOUT_A_SECRET.isdisjoint(words[end:]):
        return False  # ``TOKEN_URL``, ``..._PASSWORD_FILE``: where or what the secret is
    if end >= 2 and words[end - 2] in ("max", "min"):
        return False  # ``MAX_TOKENS``: a limit, not a token
    return words[0] != "use" and "enable" not in words and "disable" not in words


#: where a URL's authority starts: after ``scheme://`` (RFC 3986 scheme characters), or a
#: scheme-less ``//`` at the start of the value or after a space, ``=``, a quote, ``(`` or ``,``.
#: (Searched for ``//`` first, then the scheme checked backwards: a regex starting with the
#: scheme class tried at every letter of a long word, quadratic on an 80 KB value.)
_AUTHORITY = lazy_pattern(r"//")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_BEFORE_BARE = frozenset(" \t\n\r=\"'(,;")
_WHITESPACE = lazy_pattern(r"\s")
#: characters that end the user name of a URL's userinfo. Not ``@``: an e-mail address as user
#: name (``smtp://me@example.com:pw@host``) must not hide the password that follows.
_USER_END = frozenset(":/?#")
#: a query or matrix parameter: ``?name=value`` / ``&name=value`` / ``;name=value``
_PARAM = lazy_pattern(r"([?&;])([^=&;#?\s]+)=([^&;#\s]*)")
#: a path segment that is a token: 16 or more of ``[A-Za-z0-9_-]`` with a letter and a digit
_TOKEN_SEGMENT = lazy_pattern(r"(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[A-Za-z0-9_\-]{16,}")
#: path segments after which every further segment is the secret of a webhook
_WEBHOOK_MARKS = frozenset(
    {"services", "webhooks", "webhook", "hooks", "webhookb2", "IncomingWebhook"}
)
#: a Telegram-style ``bot123456:secret`` segment
_BOT_SEGMENT = lazy_pattern(r"bot[0-9]+:.+")
#: a field of a connection string or a key=value list: ``AccountKey=...;``, ``Password=...``
_FIELD = lazy_pattern(r"(^|[;&?\s])([A-Za-z][A-Za-z0-9_.\-]*)=([^;&#\s]*)")
#: a DSN with a password and no ``//``: ``user:password@tcp(db:3306)/app``, ``u:pw@host``
_DSN = lazy_pattern(r"(?:(?<=\s)|^)([^\s:/@]*):(\S*)@(?=\S)")


#: well-known token formats, masked in any value whatever its key is called (``NOTES=ghp_...``):
#: GitHub, GitLab, OpenAI-style ``sk-``, Stripe, Slack, AWS access key ids, Google API keys,
#: JWTs, Hugging Face, npm, SendGrid, and the start of a PEM private key (to the value's end).
#: Each starts where no token character stands before it, so a long run is tried once, not at
#: every character (linear).
_KNOWN_TOKEN = lazy_pattern(
    r"(?<![A-Za-z0-9_\-])(?:"
    r"gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|glpat-[A-Za-z0-9_\-]{20,}"
    r"|sk-[A-Za-z0-9_\-]{16,}"
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    r"|AIza[A-Za-z0-9_\-]{30,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|npm_[A-Za-z0-9]{30,}"
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"
    r"|whsec_[A-Za-z0-9+/=]{16,}"
    r")"
)
#: the credential of an HTTP authorization header written into a value (``Bearer x``,
#: ``Basic x``), whatever the key is called
_AUTH_SCHEME = lazy_pattern(r"(?i)(?<![A-Za-z0-9])(Bearer|Basic|Token|Digest)([ \t]+)[^\s,;]{6,}")
#: a command-line option in a value whose name is secret-looking (``--requirepass x``,
#: ``--password=x``, ``-p x`` is not: too short to tell)
_OPTION = lazy_pattern(r"(?<!\S)(--?[A-Za-z][A-Za-z0-9_\-]*)(=|[ \t]+)(?!-)(\S+)")
#: query parameters that carry a signature or a one-time credential under an innocent name
#: (Azure SAS ``sig``, Azure Functions ``code``, AWS and Google signed URLs)
_SECRET_PARAMS = frozenset(
    {"sig", "signature", "code", "x-amz-signature", "x-goog-signature", "x-amz-security-token"}
)
_PRIVATE_KEY = lazy_pattern(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----")


def mask_tokens(value: str) -> str:
    """``value`` with each well-known token (:data:`_KNOWN_TOKEN`) as ``***``, and everything
    from a PEM private key's ``-----BEGIN ... PRIVATE KEY-----`` on (its body, across lines)."""
    pem = _PRIVATE_KEY.search(value) if "-----BEGIN" in value else None
    if pem is not None:
        value = value[: pem.start()] + MASK
    value = _KNOWN_TOKEN.sub(MASK, value)
    if " " in value or "\t" in value:
        value = _AUTH_SCHEME.sub(lambda m: m.group(1) + m.group(2) + MASK, value)
    if "-" in value:
        value = _OPTION.sub(_mask_option, value)
    return value


def _mask_option(m: re.Match[str]) -> str:
    """A secret-looking command-line option's value (``--requirepass ***``) masked."""
    if is_secret_key(m.group(1).lstrip("-")):
        return m.group(1) + m.group(2) + MASK
    return m.group(0)


def _url_starts(value: str) -> list[int]:
    """Offsets just past each ``//`` that starts a URL's authority, in order."""
    out = []
    for m in _AUTHORITY.finditer(value):
        at = m.start()
        if at > 0 and value[at - 1] == ":":
            j = at - 1
            if j > 0 and value[j - 1] in _SCHEME_CHARS:
                out.append(m.end())
                continue
        if at == 0 or value[at - 1] in _BEFORE_BARE:
            out.append(m.end())
    return out


def _token_like(text: str) -> bool:
    """``text`` is a token: a well-known format (:data:`_KNOWN_TOKEN`), or 16 or more letters,
    digits, ``_`` and ``-`` with a letter and a digit among them."""
    return bool(text) and (
        _TOKEN_SEGMENT.fullmatch(text) is not None or _KNOWN_TOKEN.fullmatch(text) is not None
    )


def _mask_userinfo(value: str, start: int, end: int, out: list[str], pos: int) -> int:
    """Mask the secrets of the userinfo of the authority at ``value[start:end]``: the password,
    and the user name too when it is a token (``https://ghp_...@github.com``, the way GitHub
    and others take a token); returns the new ``pos``."""
    at = value.rfind("@", start, end)
    if at < 0:
        return pos
    colon = start
    while colon < at and value[colon] not in _USER_END:
        colon += 1
    if colon < at and value[colon] != ":":
        return pos  # the ``@`` is past the authority (in the path): no userinfo
    has_password = colon + 1 < at
    if _token_like(value[start:colon]):
        out.append(value[pos:start])
        out.append(MASK)
        out.append(":" + MASK if has_password else value[colon:at])
        return at
    if not has_password:
        return pos  # no password, or an empty one
    out.append(value[pos : colon + 1])
    out.append(MASK)
    return at


def _mask_path_and_query(url: str, patterns: Iterable[str]) -> str:
    """``url`` (from its authority on) with secret query parameters and token-like path
    segments (a webhook's secret, a bot token) masked."""
    if "/" not in url and "?" not in url and ";" not in url:
        return url
    path_end = len(url)
    for c in "?#":
        i = url.find(c)
        if 0 <= i < path_end:
            path_end = i
    path, rest = url[:path_end], url[path_end:]
    segments = path.split("/")
    after_mark = False
    for i, seg in enumerate(segments):
        if i == 0 or not seg:
            continue  # the authority, or nothing between two slashes
        if after_mark or _TOKEN_SEGMENT.fullmatch(seg) or _BOT_SEGMENT.fullmatch(seg):
            segments[i] = MASK
        if seg in _WEBHOOK_MARKS:
            after_mark = True
    path = "/".join(segments)
    if rest:
        rest = _PARAM.sub(
            lambda m: (
                m.group(1) + m.group(2) + "=" + MASK
                if m.group(3)
                and (m.group(2).casefold() in _SECRET_PARAMS or is_secret_key(m.group(2), patterns))
                else m.group(0)
            ),
            rest,
        )
    return path + rest


def mask_url_password(value: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> str:
    """``value`` with what a URL or DSN carries as a secret replaced by ``***``.

    - The password of ``scheme://user:password@host`` and of a scheme-less
      ``//user:password@host``. A URL runs from its ``//`` to the next whitespace or the next
      URL. Its userinfo ends at the *last* ``@`` of that span and its user name at the first
      ``:``, so a password holding an unencoded ``@`` or ``/`` is still wholly masked; this
      errs towards hiding too much (``https://host:8080/a@b`` shows as ``https://host:***@b``).
    - Query parameters with a secret-looking name (``?password=``, ``&token=``).
    - Path segments that are tokens (16 or more letters, digits, ``_`` and ``-``, with a letter
      and a digit), every segment after ``/services/``, ``/webhooks/`` and the like (Slack,
      Discord, Teams webhooks), a ``bot123:secret`` segment (Telegram).
    - The password of a DSN without ``//``: ``user:password@tcp(db:3306)/app``.
    - A user name that is a token (``https://ghp_...@github.com``, ``https://<token>:x@h``).
    - Well-known tokens anywhere in the value (:func:`mask_tokens`: ``ghp_...``, ``sk-...``,
      a JWT, ``AKIA...``, a PEM private key), whatever the key is called.

    URLs without a password (``http://host``, ``https://user@host``, ``postgres://u:@host``)
    are unchanged. Linear in the length of ``value``.
    """
    return mask_tokens(_mask_urls(value, patterns))


def _mask_urls(value: str, patterns: Iterable[str]) -> str:
    """:func:`mask_url_password` but for the well-known tokens."""
    if "//" not in value:
        return _mask_dsn(value, patterns) if "@" in value or "=" in value else value
    starts = _url_starts(value)
    out: list[str] = []
    pos = 0
    for i, start in enumerate(starts):
        end = starts[i + 1] - 2 if i + 1 < len(starts) else len(value)
        space = _WHITESPACE.search(value, start, end)
        if space is not None:
            end = space.start()
        pos = _mask_userinfo(value, start, end, out, pos)
        tail_from = max(pos, start)
        out.append(value[pos:tail_from])
        out.append(_mask_path_and_query(value[tail_from:end], patterns))
        pos = end
    out.append(value[pos:])
    return "".join(out) if starts else _mask_dsn(value, patterns)


def _mask_dsn(value: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> str:
    """The password of each ``user:password@host`` word (a DSN without ``//``) as ``***``, and
    the secret fields of a connection string (``AccountKey=...;``, ``Password=...;``)."""
    if "@" in value:
        value = _DSN.sub(
            lambda m: m.group(1) + ":" + MASK + "@" if m.group(2) else m.group(0), value
        )
    if "=" in value:
        value = _FIELD.sub(
            lambda m: (
                m.group(1) + m.group(2) + "=" + MASK
                if m.group(3) and is_secret_key(m.group(2), patterns)
                else m.group(0)
            ),
            value,
        )
    return value


def display_value(key: str, value: str, patterns: Iterable[str] = DEFAULT_SECRET_PATTERNS) -> str:
    """The form of a value that ``--show-values`` may print.

    A secret-looking key shows ``***`` and nothing else (not even the length), unless its value
    is empty or a switch (``true``, ``off``, ``0``...), which hides nothing; any other value
    shows with URL and DSN secrets masked (:func:`mask_url_password`).
    """
    if is_secret_key(key, patterns) and value.strip().casefold() not in _HARMLESS:
        return MASK
    return mask_url_password(value, patterns)


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
