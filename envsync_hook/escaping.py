"""Making paths and keys safe for a terminal or a log: the one escaping function, and the test
for key names that are too odd to print.

Everything that reaches stderr, a report or ``--diff`` and came from outside (a path, a key, a
line of a file) goes through :func:`escape` (or, for keys, :func:`shown_key`):

- control characters (C0, DEL, C1), line and paragraph separators, bidi overrides, other
  invisible format characters and lone surrogates (bytes of a path that is not valid UTF-8, as
  ``os.fsdecode`` gives them) become backslash escapes: ``\\n``, ``\\r``, ``\\t``, ``\\x1b``,
  ``\\u2028``, ``\\xff`` (the byte of a surrogate-escaped path): a name can neither break the
  line it is on nor send escape sequences to the terminal;
- ``::`` becomes ``:\\:`` and ``##[`` becomes ``#\\#[``, so a path printed at the start of a
  line cannot be read as a GitHub Actions workflow command (``::error ...``, ``##[error]``).

A key that is not a plausible variable name (a line of a PEM body, a token pasted on its own
line, text after a closing quote: Docker Compose reads each as a key name) is never printed at
all: :func:`shown_key` gives ``<key on line N>`` for it, in every format.
"""

from __future__ import annotations

import re

from envsync_hook.lean import TYPE_CHECKING, lazy_pattern

if TYPE_CHECKING:
    from envsync_hook.findings import PairResult

#: ``::`` (a workflow command) and ``##[`` (the older form): the first character of each gets a
#: backslash after it, which no runner reads as a command
_COMMAND = lazy_pattern(r":(?=:)|#(?=#\[)")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    n = ord(c)
    if 0xDC80 <= n <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's surrogateescape)
        return f"\\x{n - 0xDC00:02x}"
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def escape(text: str, keep: str = "") -> str:
    """``text`` made inert for a terminal or a log line (see the module docstring).

    Printable text without ``::`` or ``##[`` comes back as it is (the usual path, no copy).
    A space stays a space; every other character that ``str.isprintable`` refuses is escaped,
    but those in ``keep``. Escaping twice changes nothing more: the result is printable and
    holds no ``::``.
    """
    if text.isprintable() and "::" not in text and "##[" not in text:
        return text
    return _COMMAND.sub(r"\g<0>\\", escape_controls(text, keep))


def escape_controls(text: str, keep: str = "") -> str:
    """Every character of ``text`` that ``str.isprintable`` refuses, but those in ``keep``, as
    a backslash escape (``\\n``, ``\\x1b``, ``\\u2028``; a surrogate-escaped byte as ``\\xff``).
    For text whose format makes ``::`` harmless (a GitHub command's message, which the
    GitHub reporter percent-encodes, keeping CR and LF)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escape_char(c) for c in text)


def escape_lines(text: str) -> str:
    """Each line of ``text`` (split at ``\\n`` only) escaped; the newlines kept."""
    plain = text.isprintable() or text.replace("\n", "").isprintable()
    if plain and "::" not in text and "##[" not in text:
        return text
    return "\n".join(escape(line) for line in text.split("\n"))


#: the shape of a plausible variable name: ASCII letters, digits and ``_ . -``, not starting
#: with a digit, a dot or a dash, at most 64 characters
_NAME = re.compile(r"[^\W\d][\w.\-]{0,63}")
#: a run of letters and digits that looks like a token rather than a word: 16 or more with a
#: digit among them, or 25 or more of any
_TOKEN_RUN = lazy_pattern(r"[A-Za-z0-9]*[0-9][A-Za-z0-9]*")


#: the words of a name part: a capitalised or lower-case run, or a run of capitals
_CASE_WORDS = lazy_pattern(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_DIGIT_RUNS = lazy_pattern(r"[0-9]+")


def looks_random(part: str) -> bool:
    """True when a name part of 8 or more characters reads as a random token rather than
    words: letters and digits, in mixed case or with three or more runs of digits, and fewer
    than half of its letters in words of three or more letters with a vowel. So
    ``aB3dE5fG7hJ`` and ``x7k2m9q4`` look random; ``S3BucketName2``, ``oAuth2Token``,
    ``HTTP2Proxy``, ``awsAccessKeyId`` (no digit) do not."""
    if len(part) < 8 or not part.isalnum() or part.isalpha() or part.isdigit():
        return False
    mixed = not part.isupper() and not part.islower()
    if not mixed and len(_DIGIT_RUNS.findall(part)) < 3:
        return False
    letters = sum(c.isalpha() for c in part)
    wordy = sum(
        len(w)
        for w in _CASE_WORDS.findall(part)
        if len(w) >= 3 and not set(w.lower()).isdisjoint("aeiouy")
    )
    return wordy * 2 < letters


def plausible_key(key: str) -> bool:
    """True when ``key`` looks like a variable name someone chose, rather than a line of a
    secret that Docker Compose reads as a key name.

    Refused: anything outside ASCII letters, digits and ``_ . -``; a first character that is
    not a letter or ``_``; more than 64 characters; a part between separators that looks like
    a token (16 or more letters and digits with a digit among them, or 25 or more letters,
    or 8 or more that :func:`looks_random`). So ``DB_PASSWORD``, ``http_proxy``,
    ``S3_BUCKET_NAME``, ``awsAccessKeyId`` pass, and ``MIIEvQIBADANBgkqhkiG9w0BAQEFAASC``,
    ``ghp_16C7e42F292c6912E7710c83``, ``AKIAIOSFODNN7EXAMPLE``, ``aB3dE5fG7hJ`` do not.
    """
    if _NAME.fullmatch(key) is None:
        return False
    if len(key) < 8:
        return True
    for part in re.split(r"[_.\-]", key):
        if len(part) >= 25:
            return False
        if len(part) >= 16 and _TOKEN_RUN.fullmatch(part) is not None:
            return False
        if looks_random(part):
            return False
    return True


#: many plausible ASCII names, one a line (an empty line: a finding without a key)
_PLAIN_NAMES = re.compile(
    r"(?:(?:[A-Za-z_][A-Za-z0-9_.\-]{0,63})?\n)*(?:[A-Za-z_][A-Za-z0-9_.\-]{0,63})?"
)
_LONG_RUN = re.compile(r"[A-Za-z0-9]{16}")
#: what any name that :func:`looks_random` holds: a lower-case letter before a capital or a
#: digit; a digit before lower-case letters, directly or after capitals (``A00000Aa``: its only
#: lower-case letters end the part); three runs of digits between capitals (UPPER_SNAKE names,
#: the usual ones, have none of these)
_MAYBE_RANDOM = re.compile(r"[a-z][A-Z0-9]|[0-9][A-Z]*[a-z]|[0-9][A-Z]+[0-9]+[A-Z]+[0-9]")


#: the joined names (ASCII, as :data:`_PLAIN_NAMES` holds) by the kind of each character: a
#: letter or digit "a" (for :data:`_LONG_RUN`), else " "; and a lower-case letter "l", a
#: capital "U", a digit "d" (for :data:`_MAYBE_RANDOM`)
_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
_ALNUM = str.maketrans(dict.fromkeys(_LOWER + _UPPER + _DIGITS, "a"))
_SHAPE = str.maketrans(
    {**dict.fromkeys(_LOWER, "l"), **dict.fromkeys(_UPPER, "U"), **dict.fromkeys(_DIGITS, "d")}
)


def all_plausible(keys: list[str]) -> bool:
    """True when every one of ``keys`` (or empty) is certainly a plausible name: ASCII names
    without a run of 16 letters and digits. False means "look at each" (:func:`plausible_key`).
    Regex passes over the joined names instead of a call per name."""
    joined = "\n".join(keys)
    if _PLAIN_NAMES.fullmatch(joined) is None:
        return False
    # (the other two searches as substring searches of the names translated to the kinds of
    # their characters: 100,000 names, 175 -> 13 ms; the regex only where these find a hint)
    if "a" * 16 in joined.translate(_ALNUM):
        return False  # (= _LONG_RUN.search(joined) is not None)
    shape = joined.translate(_SHAPE)
    # every match of _MAYBE_RANDOM holds a lower-case letter or a digit before a capital
    return ("l" not in shape and "dU" not in shape) or _MAYBE_RANDOM.search(joined) is None


def key_placeholder(line: int) -> str:
    """What stands for a key too odd to print: ``<key on line 12>``."""
    return f"<key on line {line}>" if line > 0 else "<key>"


def shown_key(key: str, line: int, odd: frozenset[str] = frozenset()) -> str:
    """``key`` when it is a plausible variable name and not one of ``odd`` (keys that stand
    mid-line), else :func:`key_placeholder` of ``line``."""
    return key if plausible_key(key) and key not in odd else key_placeholder(line)


def safe_result(result: PairResult) -> PairResult:
    """``result`` with the bytes of a path that is not valid UTF-8 (lone surrogates, from
    ``os.fsdecode``) written as ``\\xNN``: every format can encode it (the JSON report failed on
    them). Control characters stay: each reporter escapes for its own format (the text report
    and the log lines with :func:`escape`; JSON, XML and SARIF with their own quoting)."""
    texts = (result.template, result.env, result.notice)
    if all(t.isprintable() for t in texts) and all(
        f.file.isprintable() and f.message.isprintable() for f in result.findings
    ):
        return result  # (no surrogate is printable: the usual case, no copy)
    findings = tuple(
        f._replace(file=_unsurrogate(f.file), message=_unsurrogate(f.message))
        for f in result.findings
    )
    return result._replace(
        template=_unsurrogate(result.template),
        env=_unsurrogate(result.env),
        notice=_unsurrogate(result.notice),
        findings=findings,
    )


def _unsurrogate(text: str) -> str:
    """Lone surrogates (undecodable bytes of a path) as ``\\xNN``; other text unchanged."""
    if text.isprintable():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
