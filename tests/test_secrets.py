from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsync_hook.secrets import (
    DEFAULT_SECRET_PATTERNS,
    describe_value,
    display_value,
    is_secret_key,
    mask_url_password,
)


def test_default_patterns_are_the_documented_ones() -> None:
    assert DEFAULT_SECRET_PATTERNS == (
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


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("DB_PASSWORD", True),
        ("db_password", True),  # case-insensitive
        ("Redis_Password", True),
        ("SECRET_KEY", True),
        ("API_TOKEN", True),
        ("OPENAI_API_KEY", True),
        ("PRIVATE_KEY_PATH", True),
        ("AWS_CREDENTIALS", True),
        ("OAUTH_CLIENT_ID", True),  # AUTH inside OAUTH: substring match
        ("PASSWORD_SALT", True),
        ("SENTRY_DSN", True),
        ("SSL_CERT_FILE", True),
        ("MONKEY_BUSINESS", True),  # errs towards masking
        ("DB_HOST", False),
        ("LOG_LEVEL", False),
        ("PORT", False),
        ("CONSOLE_API_URL", False),
        ("", False),
    ],
)
def test_is_secret_key_default_patterns(key: str, expected: bool) -> None:
    assert is_secret_key(key) is expected


@pytest.mark.parametrize(
    ("key", "patterns", "expected"),
    [
        ("MY_PIN", ("PIN",), True),
        ("my_pin", ("Pin",), True),
        ("DB_PASSWORD", ("PIN",), False),  # custom patterns replace the defaults
        ("ANYTHING", (), False),
        ("ANYTHING", ("",), False),  # an empty pattern matches nothing
        ("STRASSE", ("straße",), True),  # casefold: ß is ss
        ("STRASSE_KEY", ["KEY"], True),  # any iterable
    ],
)
def test_is_secret_key_custom_patterns(key: str, patterns: tuple[str, ...], expected: bool) -> None:
    assert is_secret_key(key, patterns) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgres://u:p@h/db", "postgres://u:***@h/db"),
        (
            "postgresql+psycopg2://dify:difyai123456@db:5432/dify",
            "postgresql+psycopg2://dify:***@db:5432/dify",
        ),
        ("redis://:p@h", "redis://:***@h"),
        ("redis://:difyai123456@redis:6379/1", "redis://:***@redis:6379/1"),
        ("http://h", "http://h"),
        ("https://example.com/path?q=1#frag", "https://example.com/path?q=1#frag"),
        ("https://user@h", "https://user@h"),  # no password
        ("postgres://u:@h/db", "postgres://u:@h/db"),  # empty password: nothing to hide
        ("plain text", "plain text"),
        ("", ""),
        ("user:pass@host", "user:pass@host"),  # not a URL
        # several URLs in one value
        (
            "a postgres://u:p1@h1/db and redis://:p2@h2/0",
            "a postgres://u:***@h1/db and redis://:***@h2/0",
        ),
        ("redis://:a@h1,redis://:b@h2", "redis://:***@h1,redis://:***@h2"),
        ("http://h1 https://u:x@h2", "http://h1 https://u:***@h2"),
        # unencoded @ and / in the password, an e-mail address as user name
        ("postgres://u:p@ss/w@h/db", "postgres://u:***@h/db"),
        (
            "smtp://me@example.com:pw@smtp.example.com:587",
            "smtp://me@example.com:***@smtp.example.com:587",
        ),
        # a colon in the password
        ("amqp://guest:a:b@rabbit//", "amqp://guest:***@rabbit//"),
        # @ only in the path: no userinfo
        ("https://host/a:b@c", "https://host/a:b@c"),
    ],
)
def test_mask_url_password(value: str, expected: str) -> None:
    assert mask_url_password(value) == expected


_user = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":/?#"))
_password = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1).filter(
    lambda s: "://" not in s
)


@given(user=_user, password=_password)
def test_mask_url_password_hides_any_password(user: str, password: str) -> None:
    value = f"postgres://{user}:{password}@db.internal:5432/app"
    assert mask_url_password(value) == f"postgres://{user}:***@db.internal:5432/app"


@pytest.mark.parametrize(
    ("key", "value", "patterns", "expected"),
    [
        ("DB_PASSWORD", "hunter2", DEFAULT_SECRET_PATTERNS, "***"),
        ("DB_PASSWORD", "", DEFAULT_SECRET_PATTERNS, "***"),  # not even emptiness shows
        ("SECRET_KEY", "postgres://u:p@h", DEFAULT_SECRET_PATTERNS, "***"),
        ("DATABASE_URL", "postgres://u:p@h/db", DEFAULT_SECRET_PATTERNS, "postgres://u:***@h/db"),
        ("LOG_LEVEL", "INFO", DEFAULT_SECRET_PATTERNS, "INFO"),
        ("MY_PIN", "1234", ("PIN",), "***"),
        ("DB_PASSWORD", "hunter2", ("PIN",), "hunter2"),
    ],
)
def test_display_value(key: str, value: str, patterns: tuple[str, ...], expected: str) -> None:
    assert display_value(key, value, patterns) == expected


def test_display_value_default_patterns() -> None:
    assert display_value("API_TOKEN", "abc") == "***"
    assert display_value("HOST", "abc") == "abc"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "empty"),
        ("x", "1 char"),
        ("hunter2", "7 chars"),
        ("ümlaut", "6 chars"),  # characters, not bytes
        ("line1\nline2\nline3", "17 chars, 3 lines"),
        ("a\r\nb", "4 chars, 2 lines"),
        ("trailing\n", "9 chars"),
    ],
)
def test_describe_value(value: str, expected: str) -> None:
    assert describe_value(value) == expected


@given(st.text(st.characters(exclude_categories=("Cc", "Zl", "Zp"))))
def test_describe_value_depends_only_on_the_length(value: str) -> None:
    assert describe_value(value) == describe_value("x" * len(value))
