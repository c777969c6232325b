from __future__ import annotations

import os
from pathlib import Path

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
        "PASS",
        "PWD",
        "PW",
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
        ("PRIVATE_KEY_PATH", False),  # where the key is, not the key
        ("AWS_CREDENTIALS", True),
        ("OAUTH_CLIENT_ID", False),  # AUTH inside OAUTH is no word of the name
        ("PASSWORD_SALT", True),
        ("SENTRY_DSN", True),
        ("SSL_CERT_FILE", False),
        ("SSL_CERT", True),
        ("MONKEY_BUSINESS", False),  # KEY inside a word is no match
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
        ("user:pass@host", "user:***@host"),  # a DSN without a scheme
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
        ("DB_PASSWORD", "", DEFAULT_SECRET_PATTERNS, ""),  # emptiness hides nothing
        ("OAUTH2_ENABLED", "true", DEFAULT_SECRET_PATTERNS, "true"),  # nor a switch
        ("OAUTH2", "False", DEFAULT_SECRET_PATTERNS, "False"),
        ("ENABLE_OAUTH2", "yes", DEFAULT_SECRET_PATTERNS, "yes"),
        ("DB_PASSWORD", "truely", DEFAULT_SECRET_PATTERNS, "***"),
        ("DB_PASSWORD", "12345", DEFAULT_SECRET_PATTERNS, "***"),  # a number may be a PIN
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


# --- widened and narrowed (issue 14) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("SMTP_PASS", True),
        ("ORACLE_PWD", True),
        ("MQTT_PW", True),
        ("pw", True),
        ("HTPASSWD", True),
        ("PASSWD", True),
        ("DB_PASSPHRASE", True),
        ("UPWARD_SPEED", False),  # PW inside a word is no password
        ("ACCESS_TOKEN_EXPIRE_MINUTES", False),  # about a secret, not one
        ("NGINX_SSL_CERT_FILENAME", False),
        ("CODE_GENERATION_MAX_TOKENS", False),
        ("SECRET_KEY_BASE", True),
    ],
)
def test_is_secret_key_widened_and_narrowed(key: str, expected: bool) -> None:
    assert is_secret_key(key) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://h/login?password=hunter2&next=/", "https://h/login?password=***&next=/"),
        ("https://h/?user=a&token=abc", "https://h/?user=a&token=***"),
        ("https://h/?q=1", "https://h/?q=1"),
        ("//u:pw@host/db", "//u:***@host/db"),  # scheme-less
        ("x //u:pw@host", "x //u:***@host"),
        ("root:s3cret@tcp(db:3306)/app?parseTime=true", "root:***@tcp(db:3306)/app?parseTime=true"),
        ("me@example.com", "me@example.com"),  # an e-mail address hides nothing
        (
            "https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/***/***/***",
        ),
        (
            "https://discord.com/api/webhooks/123456789/AbCdEf-GhIjKl_123456",
            "https://discord.com/api/webhooks/***/***",
        ),
        (
            "https://api.telegram.org/bot123456:AAE-xyz/sendMessage",
            "https://api.telegram.org/***/sendMessage",
        ),
        (
            "https://example.com/hook/3f2a9c1b7e6d4a5b8c9d0e1f",  # a token-like segment
            "https://example.com/hook/***",
        ),
        ("https://example.com/docs/getting-started", "https://example.com/docs/getting-started"),
        (
            "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=abc+/==;EndpointSuffix=x",
            "DefaultEndpointsProtocol=https;AccountName=acc;AccountKey=***;EndpointSuffix=x",
        ),
        ("Server=db;Password=hunter2;", "Server=db;Password=***;"),
    ],
)
def test_mask_url_password_widened(value: str, expected: str) -> None:
    assert mask_url_password(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "a" * 200_000,
        "a" * 200_000 + "://u:p@h",
        " " * 200_000,
        "?" * 200_000,
        "https://h/?" + "?" * 200_000,
        "x:" * 100_000 + "@",
        "//" * 100_000,
        "https://h/" + "a/" * 100_000,
        "a=" * 100_000,
    ],
)
def test_mask_url_password_is_fast_on_long_values(value: str) -> None:
    """Linear: 200 KB in well under a second (the old scheme regex took minutes here)."""
    import time

    started = time.perf_counter()
    mask_url_password(value)
    assert time.perf_counter() - started < 2.0


#: real key names from the corpus templates (Dify, Sentry, n8n, Plausible), each labelled by
#: what it holds: True when its value is a secret (password, key, token, DSN with credentials)
CORPUS_KEYS = {
    # Dify
    "SECRET_KEY": True,
    "DB_PASSWORD": True,
    "DB_USERNAME": False,
    "DB_HOST": False,
    "DB_PORT": False,
    "DB_DATABASE": False,
    "REDIS_PASSWORD": True,
    "REDIS_HOST": False,
    "REDIS_SENTINEL_PASSWORD": True,
    "CELERY_SENTINEL_PASSWORD": True,
    "SANDBOX_API_KEY": True,
    "CODE_EXECUTION_API_KEY": True,
    "PLUGIN_DAEMON_KEY": True,
    "PLUGIN_DIFY_INNER_API_KEY": True,
    "PLUGIN_DAEMON_URL": False,
    "PLUGIN_DAEMON_PORT": False,
    "INIT_PASSWORD": True,
    "SMTP_PASSWORD": True,
    "SENTRY_DSN": True,
    "API_SENTRY_DSN": True,
    "WEB_SENTRY_DSN": True,
    "ORACLE_PWD": True,
    "ORACLE_PASSWORD": True,
    "ORACLE_WALLET_PASSWORD": True,
    "S3_ACCESS_KEY": True,
    "S3_SECRET_KEY": True,
    "AZURE_BLOB_ACCOUNT_KEY": True,
    "ALIYUN_OSS_SECRET_KEY": True,
    "ALIYUN_OSS_AUTH_VERSION": False,
    "TENCENT_COS_SECRET_ID": True,
    "NOTION_CLIENT_SECRET": True,
    "NOTION_INTERNAL_SECRET": True,
    "RESEND_API_KEY": True,
    "SENDGRID_API_KEY": True,
    "UPSTASH_VECTOR_TOKEN": True,
    "MILVUS_TOKEN": True,
    "MILVUS_AUTHORIZATION_ENABLED": False,
    "WEAVIATE_API_KEY": True,
    "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS": True,
    "WEAVIATE_AUTHENTICATION_APIKEY_ENABLED": False,
    "WEAVIATE_AUTHENTICATION_APIKEY_USERS": False,
    "CHROMA_AUTH_CREDENTIALS": True,
    "CHROMA_AUTH_PROVIDER": False,
    "OPENSEARCH_AUTH_METHOD": False,
    "OPENSEARCH_INITIAL_ADMIN_PASSWORD": True,
    "ELASTICSEARCH_VERIFY_CERTS": False,
    "ELASTICSEARCH_CA_CERTS": False,
    "TIDB_PRIVATE_KEY": True,
    "LAUNCHPAD_RPC_SHARED_SECRET": True,
    "ACCESS_TOKEN_EXPIRE_MINUTES": False,
    "REFRESH_TOKEN_EXPIRE_DAYS": False,
    "RESET_PASSWORD_TOKEN_EXPIRY_MINUTES": False,
    "CODE_GENERATION_MAX_TOKENS": False,
    "INDEXING_MAX_SEGMENTATION_TOKENS_LENGTH": False,
    "PLUGIN_BASED_TOKEN_COUNTING_ENABLED": False,
    "NGINX_SSL_CERT_FILENAME": False,
    "NGINX_SSL_CERT_KEY_FILENAME": False,
    "NGINX_ENABLE_CERTBOT_CHALLENGE": False,
    "CERTBOT_EMAIL": False,
    "CERTBOT_DOMAIN": False,
    "REDIS_SSL_CERT_REQS": False,
    "REDIS_SSL_CERTFILE": False,
    "CONSOLE_API_URL": False,
    "LOG_LEVEL": False,
    "SANDBOX_GIN_MODE": False,
    "PIP_MIRROR_URL": False,
    "TOTP_VAULT_KEY": True,
    # Sentry, n8n, Plausible
    "SENTRY_EVENT_RETENTION_DAYS": False,
    "SENTRY_BIND": False,
    "SENTRY_IMAGE": False,
    "RUNNERS_AUTH_TOKEN": True,
    "GENERIC_TIMEZONE": False,
    "SUBDOMAIN": False,
    "SSL_EMAIL": False,
    "SECRET_KEY_BASE": True,
    "BASE_URL": False,
    # a pattern inside a longer word is no secret word (red-team finding: substring matching)
    "WEAVIATE_TOKENIZATION": False,
    "HOLOGRES_TOKENIZER": False,
    "WEAVIATE_ENABLE_TOKENIZER_GSE": False,
    "CREATORS_PLATFORM_OAUTH_CLIENT_ID": False,
    "AUTHORIZATION_ADMINLIST_USERS": False,
    "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": False,
    "SETUP_CUSTOM_CA_CERTIFICATE": False,
    # metadata after the secret word
    "REDIS_KEY_PREFIX": False,
    "REDIS_SSL_KEYFILE": False,
    "CHANGE_EMAIL_TOKEN_EXPIRY_MINUTES": False,
    "PLUGIN_ALIYUN_OSS_AUTH_VERSION": False,
    # secrets
    "CHROMA_SERVER_AUTHN_CREDENTIALS": True,
    "ADMIN_USER_PWD": True,
    "ORACLE_DSN": True,
    "ALIYUN_SLS_ACCESS_KEY_SECRET": True,
    "INNER_API_KEY_FOR_PLUGIN": True,
    "HTTP_REQUEST_NODE_SSL_CLIENT_KEY_DATA": True,
}

#: names not in the corpus, each labelled: the red-team's cases and the shapes the word rule
#: has to decide (compounds, camelCase, dots and dashes, metadata words after the secret word)
WORD_RULE_KEYS = {
    # a pattern inside a longer word
    "COMPASS_URL": False,
    "BYPASS_PROXY": False,
    "KEYWORD_STORE": False,
    "KEYCLOAK_REALM": False,
    "MONKEY": False,
    "UPWARD_SPEED": False,
    "OAUTH_REDIRECT_PATH": False,
    "OAUTH2_ENABLED": False,
    # an endpoint, a path, a switch, a lifetime, a size: about a secret, not one
    "TOKEN_URL": False,
    "AUTH_URL": False,
    "OIDC_TOKEN_ENDPOINT": False,
    "DB_PASSWORD_FILE": False,  # Docker secrets: the path of the file holding it
    "SSH_PRIVATE_KEY_PATH": False,
    "AUTH_TYPE": False,
    "API_KEY_ENABLED": False,
    "JWT_TOKEN_EXPIRES_IN": False,
    "SESSION_TOKEN_TIMEOUT": False,
    "PASSWORD_MIN_LENGTH": False,
    "API_KEY_HEADER": False,
    "KEYCLOAK_AUTH_SERVER_URL": False,
    # secrets: the word alone, with a number, compounds, camelCase, dots and dashes
    "KEY": True,
    "DB_PASSWORD2": True,
    "REDIS_PASS": True,
    "MYSQL_PWD": True,
    "SMTP_PW": True,
    "AUTH_TOKEN": True,
    "REDIS_AUTH": True,
    "BASIC_AUTH": True,
    "APIKEY": True,
    "OPENAI_APIKEY": True,
    "PASSWD": True,
    "HTPASSWD": True,
    # run-together capitals (red-team, second pass): a long secret word or a compound ending
    "PGPASSWORD": True,
    "PGPASS": True,
    "MYSQL_ROOTPASSWORD": True,
    "ADMINPASSWORD": True,
    "GITHUBTOKEN": True,
    "SECRETACCESSKEY": True,
    "APISECRETKEY": True,
    "KEYSTOREPASS": True,
    "SSLKEY": True,
    "TLSKEY": True,
    "PRIVKEY": True,
    "JWTKEY": True,
    "BASICAUTH": True,
    "APIKEYS": True,
    "PASSPHRASES": True,
    "GITHUBTOKEN_URL": False,
    "PGPASSWORD_FILE": False,
    "GPG_PASSPHRASE": True,
    "awsAccessKeyId": True,
    "apiKey": True,
    "dbPassword": True,
    "jwt.secret": True,
    "github-token": True,
    "AWS_SECRET_ACCESS_KEY": True,
    "STRIPE_WEBHOOK_SECRET": True,
    "KEYCLOAK_ADMIN_PASSWORD": True,
    "SSH_PRIVATE_KEY": True,
    "PLUGIN_API_KEYS": True,  # the plural
    # a long pattern (5 letters or more) ending a run-together word
    "GITHUB_CLIENTSECRET": True,
    "SLACK_BOTTOKEN": True,
    "AUTHTOKEN_URL": False,  # still an endpoint
}


def test_corpus_table_is_large_and_real() -> None:
    import os
    import re
    from pathlib import Path

    assert len(CORPUS_KEYS) >= 60
    root = Path(os.environ.get("ENVSYNC_CORPUS", "/work/shared/corpus"))
    if not root.is_dir():
        pytest.skip("ENVSYNC_CORPUS is not set")
    names: set[str] = set()
    for path in root.rglob("*"):
        if path.is_file() and (".env" in path.name or path.name.endswith(".env")):
            text = path.read_text(encoding="utf-8", errors="replace")
            names.update(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.M))
    assert set(CORPUS_KEYS) <= names, set(CORPUS_KEYS) - names


@pytest.mark.parametrize(("key", "secret"), sorted(CORPUS_KEYS.items()))
def test_corpus_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(("key", "secret"), sorted(WORD_RULE_KEYS.items()))
def test_secret_names_match_words(key: str, secret: bool) -> None:
    """A secret name holds a secret WORD (split at ``_ - .`` and camelCase), not a substring,
    and no metadata word (``URL``, ``FILE``, ``EXPIRES``...) after it."""
    assert is_secret_key(key) is secret


@pytest.mark.parametrize(
    ("key", "patterns", "expected"),
    [
        ("MY_API_KEY", ("API_KEY",), True),  # a pattern of several words: in a row
        ("MY_KEY", ("API_KEY",), False),
        ("API_OTHER_KEY", ("API_KEY",), False),
        ("PINS", ("PIN",), True),  # the plural
        ("SPINNER", ("PIN",), False),  # inside a word
        ("DB_PASSWD", ("PIN",), False),  # compounds count only for the patterns in force
    ],
)
def test_is_secret_key_custom_pattern_words(
    key: str, patterns: tuple[str, ...], expected: bool
) -> None:
    assert is_secret_key(key, patterns) is expected


# --- --show-values through the CLI: tokens in a URL's user part, tokens under innocent names --


def _mixed_token(n: int) -> str:
    """A random token of ``n`` characters cycling capital, small letter, digit (built at run
    time, so no test output holds a fixed secret)."""
    import secrets
    import string

    pools = (string.ascii_uppercase, string.ascii_lowercase, string.digits)
    return "".join(secrets.choice(pools[i % 3]) for i in range(n))


def _show_cases() -> list[tuple[str, str, str, str]]:
    """(key, value, what --show-values must show, the secret that must not show)."""
    import secrets
    import string

    ghp = "ghp_" + secrets.token_hex(18)
    pw = secrets.token_hex(8)
    sk = "sk-" + secrets.token_hex(20)
    jwt = (
        "eyJ" + secrets.token_hex(10) + ".eyJ" + secrets.token_hex(10) + "." + secrets.token_hex(16)
    )
    akia = "AKIA" + "".join(
        secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)
    )
    return [
        ("REPO_URL", f"https://{ghp}@github.com/o/r.git", "https://***@github.com/o/r.git", ghp),
        (
            "GIT_REMOTE",
            f"https://{ghp}:x-oauth-basic@github.com/o",
            "https://***:***@github.com/o",
            ghp,
        ),
        ("CACHE_URL", f"redis://:{pw}@redis:6379/0", "redis://:***@redis:6379/0", pw),
        ("MIRROR", f"https://user:{pw}@h.example/x", "https://user:***@h.example/x", pw),
        ("NOTES", ghp, "***", ghp),
        ("FOO", sk, "***", sk),
        ("X", jwt, "***", jwt),
        ("AWS_ID", akia, "***", akia),
        ("HEADER", f"Bearer {jwt}", "Bearer ***", jwt),
        # red-team, second pass
        ("HDR", f"Basic {pw}", "Basic ***", pw),
        ("AUTHORIZATION", f"Token {pw}", "***", pw),
        ("AUTH_HEADER", f"Basic {pw}", "Basic ***", pw),  # (a header's name: the value tells)
        (
            "SAS_URL",
            f"https://a.blob.core.windows.net/c?sv=2020&sig={pw}",
            ("https://a.blob.core.windows.net/c?sv=2020&sig=***"),
            pw,
        ),
        (
            "FUNC_URL",
            f"https://f.azurewebsites.net/api/x?code={pw}",
            "https://f.azurewebsites.net/api/x?code=***",
            pw,
        ),
        (
            "S3_LINK",
            f"https://b.s3.amazonaws.com/k?X-Amz-Signature={pw}",
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=***",
            pw,
        ),
        ("REDIS_CMD", f"redis-server --requirepass {pw}", "redis-server --requirepass ***", pw),
        ("ARGS", f"--password={pw} --verbose", "--password=*** --verbose", pw),
        ("HOOK", f"whsec_{pw}{pw}", "***", pw),
        ("LDAP_OPTS", f"bindpw={pw}", "bindpw=***", pw),
        ("CONN", f":{pw}@cache:6379", ":***@cache:6379", pw),
    ]


#: innocent values that --show-values shows as they are, even under a secret-looking name
SHOWN_AS_IS = [
    ("DEBUG", "true"),
    ("LOG_LEVEL", "INFO"),
    ("WORKERS", "4"),
    ("API_KEY_ENABLED", "false"),
    ("DB_PASSWORD", ""),
    ("HOMEPAGE", "https://user@example.com/docs"),
    ("TASK", "task-manager-service-2"),
    ("COMMAND", "gunicorn --workers 4 --timeout=30"),
    ("GREETING", "Token of thanks"),
]


def test_show_values_masks_tokens_in_every_position(tmp_path: Path) -> None:
    """``check --show-values`` and ``fix --diff --show-values`` (real CLI runs): a token in a
    URL's user part, a password in a URL, and well-known token formats under innocent names are
    masked; plain values, switches and empty values show."""
    from tests.cli_run import run

    cases = _show_cases()
    rows = [(k, v, shown) for k, v, shown, _ in cases] + [(k, v, v) for k, v in SHOWN_AS_IS]
    # (a new key after each line: every line is in the diff, as context of an addition)
    (tmp_path / ".env.example").write_text(
        "".join(f"{k}=placeholder\nNEW_{n}=1\n" for n, (k, _, _) in enumerate(rows))
    )
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v, _ in rows))
    os.chmod(tmp_path / ".env", 0o600)
    check = run(tmp_path, "check", "--show-values", "-v")
    diff = run(tmp_path, "fix", "--diff", "--show-values")
    for proc in (check, diff):
        assert proc.returncode in (0, 1), proc.stderr
        for _, _, _, secret in cases:
            assert secret not in proc.stdout + proc.stderr
    for key, _, shown in rows:
        (line,) = [x for x in check.stdout.splitlines() if f"changed-default {key}:" in x]
        assert f"(yours: {shown!r}," in line, (key, shown)
        assert f" {key}={shown}\n" in diff.stdout, (key, shown)


def test_short_tokens_on_their_own_line_are_shown_by_line(tmp_path: Path) -> None:
    """A token pasted on its own line (a key name to Docker Compose), bare or with base64's
    ``=`` padding, is reported by its line, never as text, in every format."""
    from tests.cli_run import run

    bare, padded = _mixed_token(12), _mixed_token(11)
    (tmp_path / ".env.example").write_text("NOTE=x\n")
    (tmp_path / ".env").write_text(f"NOTE=x\n{bare}\n{padded}=\n")
    os.chmod(tmp_path / ".env", 0o600)
    for fmt in ("text", "json", "github", "sarif", "junit"):
        proc = run(tmp_path, "check", "--show-values", "--format", fmt)
        out = proc.stdout + proc.stderr
        assert bare not in out and padded not in out, fmt
        assert "key on line 2" in out and "key on line 3" in out, fmt
    diff = run(tmp_path, "fix", "--diff", "--show-values")
    assert bare not in diff.stdout + diff.stderr and padded not in diff.stdout + diff.stderr


@pytest.mark.parametrize(
    "value",
    [
        "eyJ" + "-eyJ" * 50_000,
        "eyJ" + "a" * 200_000,
        "sk-" * 70_000,
        "ghp_" * 50_000,
        "https://" + "a" * 200_000 + "@h",
        "-----BEGIN" * 20_000,
    ],
)
def test_mask_tokens_is_fast_on_long_values(value: str) -> None:
    import time

    started = time.perf_counter()
    display_value("NOTES", value)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("https://{ghp}@github.com/o/r", "https://***@github.com/o/r"),
        ("https://{hex}@h/x", "https://***@h/x"),  # any token-like user name
        ("https://{hex}:x-oauth-basic@h", "https://***:***@h"),
        ("https://git@github.com/o/r", "https://git@github.com/o/r"),  # a plain user name
        ("https://h/path/a@b", "https://h/path/a@b"),  # an @ in the path: no userinfo
        ("{ghp}", "***"),
        ("token {ghp} end", "token *** end"),
        ("{sk}", "***"),
        ("task-{hexshort}", "task-{hexshort}"),  # sk- inside a word is no token
        ("{jwt}", "***"),
        ("{akia}", "***"),
        ("xoxb-{hexshort}", "***"),
        ("-----BEGIN RSA PRIVATE KEY-----\n{hex}\n-----END RSA PRIVATE KEY-----", "***"),
        ("-----BEGIN CERTIFICATE-----", "-----BEGIN CERTIFICATE-----"),  # public
        ("true", "true"),
        ("", ""),
        ("hello world", "hello world"),
    ],
)
def test_mask_url_password_tokens(template: str, shown: str) -> None:
    import secrets
    import string

    values = {
        "ghp": "ghp_" + secrets.token_hex(18),
        "hex": secrets.token_hex(12) + "Z",
        "hexshort": secrets.token_hex(8),
        "sk": "sk-" + secrets.token_hex(20),
        "jwt": "eyJ" + secrets.token_hex(6) + ".eyJ" + secrets.token_hex(6) + "." + "x" * 10,
        "akia": "AKIA"
        + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
    }
    assert mask_url_password(template.format(**values)) == shown.format(**values)
