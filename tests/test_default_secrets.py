"""ENV013 default-secret and ``fix --generate-secrets``.

A secret-looking key whose ``.env`` value is a non-empty default that the template (or another
template of the set, or the base) publishes is a warning: Dify shipped a fixed ``SECRET_KEY``,
``DB_PASSWORD=difyai123456``, sandbox and plugin-daemon keys. Fix never changes such a value on
its own; ``--generate-secrets KEY`` fills chosen keys with fresh values of the same shape from
the ``secrets`` module, after a backup.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from pathlib import Path

import pytest

from envsync_hook.document import BARE, parse
from envsync_hook.generate import MIN_LENGTH, fresh_like, generate_secrets
from envsync_hook.secrets import is_secret_key
from tests.cli_run import run

CORPUS = Path(os.environ.get("ENVSYNC_CORPUS", "/work/shared/corpus"))
DIFY = {v: CORPUS / "dify" / v / "docker" / ".env.example" for v in ("1.4.0", "1.10.0")}
#: what Dify's templates published and operators kept (the issue's list, at least)
MUST_FLAG = {
    "SECRET_KEY",
    "DB_PASSWORD",
    "REDIS_PASSWORD",
    "SANDBOX_API_KEY",
    "CODE_EXECUTION_API_KEY",
    "PLUGIN_DAEMON_KEY",
    "PLUGIN_DIFY_INNER_API_KEY",
    "WEAVIATE_API_KEY",
}
_SWITCH = re.compile(r"(?i)(?:true|false|yes|no|on|off|none|null|[01])")


def _published_secrets(text: str) -> set[str]:
    """Keys a template publishes a non-empty secret for, worked out from the parse alone."""
    doc = parse(text)
    out = set()
    for i, key in enumerate(doc.keys):
        value = doc.templates[i]
        if doc.kinds[i] == BARE or not value or "$" in value or _SWITCH.fullmatch(value):
            continue
        if is_secret_key(key):
            out.add(key)
    return out


def _codes(proc_stdout: str) -> dict[str, set[str]]:
    import json

    found: dict[str, set[str]] = {}
    for pair in json.loads(proc_stdout)["pairs"]:
        for f in pair["findings"]:
            found.setdefault(f["code"], set()).add(f["key"])
    return found


def _pair(tmp_path: Path, template: str, env: str) -> Path:
    (tmp_path / ".env.example").write_text(template)
    (tmp_path / ".env").write_text(env)
    os.chmod(tmp_path / ".env", 0o600)
    return tmp_path


@pytest.mark.parametrize("version", sorted(DIFY))
def test_dify_template_copied_unchanged(tmp_path: Path, version: str) -> None:
    if not DIFY[version].is_file():
        pytest.skip("ENVSYNC_CORPUS is not set")
    text = DIFY[version].read_text(encoding="utf-8")
    _pair(tmp_path, text, text)
    proc = run(tmp_path, "check", "--format", "json")
    assert proc.returncode == 0, proc.stderr  # a warning: fails only with --fail-on warning
    flagged = _codes(proc.stdout).get("ENV013", set())
    assert flagged >= MUST_FLAG & set(parse(text).keys)
    assert flagged == _published_secrets(text)  # every published non-empty secret, no other
    text_report = run(tmp_path, "check", "-v").stdout
    for value in ("difyai123456", "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U"):
        assert value not in text_report + proc.stdout  # named, never shown
    assert run(tmp_path, "check", "--fail-on", "warning").returncode == 1


@pytest.mark.parametrize("version", sorted(DIFY))
def test_dify_env_with_changed_secrets(tmp_path: Path, version: str) -> None:
    if not DIFY[version].is_file():
        pytest.skip("ENVSYNC_CORPUS is not set")
    text = DIFY[version].read_text(encoding="utf-8")
    secret = _published_secrets(text)
    lines = []
    for line in text.splitlines(keepends=True):
        key = line.split("=", 1)[0]
        if key in secret and "=" in line:
            line = f"{key}=changed-{abs(hash(key)) % 10**8}x\n"
        lines.append(line)
    _pair(tmp_path, text, "".join(lines))
    proc = run(tmp_path, "check", "--format", "json")
    assert "ENV013" not in _codes(proc.stdout)


@pytest.mark.parametrize(
    ("template", "env", "extra", "flagged"),
    [
        ("API_TOKEN=abc123def456\n", "API_TOKEN=abc123def456\n", (), {"API_TOKEN"}),
        ("API_TOKEN=abc123def456\n", "API_TOKEN='abc123def456'\n", (), {"API_TOKEN"}),  # quotes
        ("API_TOKEN=abc123def456\n", "API_TOKEN=mine\n", (), set()),
        ("API_TOKEN=\n", "API_TOKEN=\n", (), set()),  # empty: nothing published
        ("DB_PASSWORD_ENABLED=true\n", "DB_PASSWORD_ENABLED=true\n", (), set()),
        ("SECRET=true\n", "SECRET=true\n", (), set()),  # a switch is no secret
        ("A=1\nDB_PASS=${A}\n", "A=1\nDB_PASS=${A}\n", (), set()),  # a reference
        ("LOG_LEVEL=INFO\n", "LOG_LEVEL=INFO\n", (), set()),  # not secret-looking
        (
            "A=1\n# SMTP_PASSWORD=hunter2\n",
            "A=1\nSMTP_PASSWORD=hunter2\n",
            (),
            {"SMTP_PASSWORD"},
        ),
        # the base published it (the template moved on): still known to everyone
        (
            "DB_PASSWORD=new-default-2\n",
            "DB_PASSWORD=old-default-1\n",
            ("--base", "b"),
            {"DB_PASSWORD"},
        ),
        ("DB_PASSWORD=new-default-2\n", "DB_PASSWORD=mine-3\n", ("--base", "b"), set()),
    ],
)
def test_env013_table(
    tmp_path: Path, template: str, env: str, extra: tuple[str, ...], flagged: set[str]
) -> None:
    _pair(tmp_path, template, env)
    (tmp_path / "b").write_text("DB_PASSWORD=old-default-1\n")
    proc = run(tmp_path, "check", "--format", "json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    assert _codes(proc.stdout).get("ENV013", set()) == flagged


def test_env013_can_be_turned_off(tmp_path: Path) -> None:
    _pair(tmp_path, "API_TOKEN=abc123def456\n", "API_TOKEN=abc123def456\n")
    proc = run(tmp_path, "check", "--format", "json", "--severity", "default-secret=off")
    assert "ENV013" not in _codes(proc.stdout)


def test_fix_never_changes_a_default_secret_on_its_own(tmp_path: Path) -> None:
    _pair(tmp_path, "API_TOKEN=abc123def456\nNEW=1\n", "API_TOKEN=abc123def456\n")
    proc = run(tmp_path, "fix")
    assert proc.returncode == 1
    assert "API_TOKEN=abc123def456\n" in (tmp_path / ".env").read_text()
    assert "--generate-secrets" in proc.stdout + proc.stderr  # the message says what to do


# --- --generate-secrets ------------------------------------------------------------------------

HEX = set("0123456789abcdef")


@pytest.mark.parametrize(
    ("value", "check"),
    [
        ("9f86d081884c7d659a2feaa0c55ad015", lambda v: set(v) <= HEX and len(v) == 32),
        ("9F86D081884C7D659A2FEAA0C55AD015", lambda v: set(v) <= set("0123456789ABCDEF")),
        (
            "lYkiYYT6owG+71oLerGzA7GXCgOT++6ovaezWAjpCjf+Sjc3ZtU+qUEi",
            lambda v: len(v) == 56 and set(v) <= set(string.ascii_letters + string.digits + "+"),
        ),
        (
            "QaHbTe77CtuXmsfyhR7+vRjI/+XbV1AaFy691iy+kGDv2Jvy0/eAh8Y1",
            lambda v: len(v) == 56 and set(v) <= set(string.ascii_letters + string.digits + "+/"),
        ),
        ("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", lambda v: len(v) == 28 and v.endswith("=")),
        (
            "dGhpcyBpcyBhIHRlc3Q_-Zm9vYmFy",
            lambda v: set(v) <= set(string.ascii_letters + string.digits + "_-"),
        ),
        (
            "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",
            lambda v: v.startswith("sk-") and len(v) == 48 and v[3:].isalnum(),
        ),
        (
            "difyai123456",
            lambda v: (
                len(v) == MIN_LENGTH and set(v) <= set(string.ascii_lowercase + string.digits)
            ),
        ),
        ("WVF5YThaHlkYwhGUSmCRgsX3tD5ngdN8pkih", lambda v: len(v) == 36 and v.isalnum()),
        ("", lambda v: len(v) == 32 and v.isalnum()),
    ],
)
def test_fresh_value_has_the_same_shape(value: str, check: object) -> None:
    for _ in range(20):
        fresh = fresh_like(value)
        assert fresh != value
        assert check(fresh), (value, fresh)  # type: ignore[operator]
        assert not set(fresh) & set("\"'$#\\ \t\n")  # nothing that needs quoting


def test_randomness_comes_from_the_secrets_module(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_choice(alphabet: str) -> str:
        calls.append(alphabet)
        return alphabet[0]

    monkeypatch.setattr(secrets, "choice", fake_choice)  # (the stdlib module generate uses)
    assert fresh_like("9f86d081884c7d659a2feaa0c55ad015") == "0" * 32
    assert len(calls) == 32
    assert generate_secrets("K=abcdef0123456789\n", ["K"]) == ("K=0000000000000000\n", ["K"])


def test_generate_secrets_cli(tmp_path: Path) -> None:
    template = (
        "SECRET_KEY=sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U\n"
        "DB_PASSWORD=difyai123456\n"
        "PGVECTOR_PASSWORD=${DB_PASSWORD}\n"
        "INIT_PASSWORD=\n"
        "LOG_LEVEL=INFO\n"
    )
    _pair(tmp_path, template, template)
    proc = run(
        tmp_path, "fix", "--generate-secrets", "SECRET_KEY", "--generate-secrets", "*_PASSWORD"
    )
    assert proc.returncode == 1, proc.stderr
    new = (tmp_path / ".env").read_text()
    values = dict(line.split("=", 1) for line in new.splitlines())
    assert values["SECRET_KEY"].startswith("sk-") and values["SECRET_KEY"] != template.split("=")[1]
    assert len(values["DB_PASSWORD"]) == MIN_LENGTH and values["DB_PASSWORD"] != "difyai123456"
    assert values["PGVECTOR_PASSWORD"] == "${DB_PASSWORD}"  # a reference follows its key
    assert values["INIT_PASSWORD"] == ""  # empty and only matched by a wildcard: left
    assert values["LOG_LEVEL"] == "INFO"
    # the backup holds the old values, and no value was printed
    (backup,) = [
        p
        for p in (tmp_path / "env-backup").iterdir()
        if ".backup_" in p.name and not p.name.endswith(".meta")
    ]
    assert backup.read_text() == template
    for value in (values["SECRET_KEY"], values["DB_PASSWORD"], "difyai123456"):
        assert value not in proc.stdout + proc.stderr
    assert "SECRET_KEY" in proc.stderr  # the notice names what it generated
    # the published defaults are gone: no ENV013 for them any more
    after = run(tmp_path, "check", "--format", "json")
    assert not {"SECRET_KEY", "DB_PASSWORD"} & _codes(after.stdout).get("ENV013", set())
    # a second run draws new values
    run(tmp_path, "fix", "--generate-secrets", "DB_PASSWORD")
    again = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert again["DB_PASSWORD"] != values["DB_PASSWORD"]


def test_generate_secrets_named_empty_key_and_dry_run(tmp_path: Path) -> None:
    _pair(tmp_path, "INIT_PASSWORD=\n", "INIT_PASSWORD=\n")
    proc = run(tmp_path, "fix", "--generate-secrets", "INIT_PASSWORD", "--dry-run")
    assert (tmp_path / ".env").read_text() == "INIT_PASSWORD=\n"  # a dry run writes nothing
    assert proc.returncode == 1
    run(tmp_path, "fix", "--generate-secrets", "INIT_PASSWORD")
    value = (tmp_path / ".env").read_text().split("=", 1)[1].strip()
    assert len(value) == 32 and value.isalnum()


# --- linked keys: one old value, one new value ---------------------------------------------------


def _token() -> str:
    import secrets

    return secrets.token_hex(12)  # (built at run time: no value in the expected output)


@pytest.mark.parametrize(
    ("lines", "chosen", "same", "differ", "unchanged"),
    [
        # two chosen keys holding one value (named, or by one wildcard) get one new value
        (["A_KEY={v}", "B_KEY={v}"], ["A_KEY", "B_KEY"], [("A_KEY", "B_KEY")], [], []),
        (["A_KEY={v}", "B_KEY='{v}'"], ["*_KEY"], [("A_KEY", "B_KEY")], [], []),
        (["A_KEY={v}", 'B_KEY="{v}"', "C_KEY={v}"], ["*"], [("A_KEY", "B_KEY", "C_KEY")], [], []),
        # different values stay different
        (["A_KEY={v}", "B_KEY={w}"], ["*_KEY"], [], [("A_KEY", "B_KEY")], []),
        # two named empty keys: each its own value (empty is no shared secret)
        (["A_KEY=", "B_KEY="], ["A_KEY", "B_KEY"], [], [("A_KEY", "B_KEY")], []),
        # a key that is not secret-looking is no link: the user name equal to the password
        (["ES_USERNAME={v}", "ES_PASSWORD={v}"], ["ES_PASSWORD"], [], [], ["ES_USERNAME"]),
        # a reference follows its key, and is left as it is
        (["A_KEY={v}", "B_KEY=${{A_KEY}}"], ["A_KEY"], [], [], ["B_KEY"]),
    ],
)
def test_generate_secrets_links(
    lines: list[str],
    chosen: list[str],
    same: list[tuple[str, ...]],
    differ: list[tuple[str, ...]],
    unchanged: list[str],
) -> None:
    v, w = _token(), _token()
    text = "".join(line.format(v=v, w=w) + "\n" for line in lines)
    new, keys = generate_secrets(text, chosen)
    before, after = parse(text), parse(new)
    old_values = {k: before.templates[i] for i, k in enumerate(before.keys)}
    values = {k: after.templates[i] for i, k in enumerate(after.keys)}
    for group in same:
        assert len({values[k] for k in group}) == 1, group
        assert all(values[k] != old_values[k] for k in group)
    for group in differ:
        assert len({values[k] for k in group}) == len(group), group
    for k in unchanged:
        assert values[k] == old_values[k] and k not in keys
    assert keys and all(values[k] not in (v, w) for k in keys)


@pytest.mark.parametrize(
    ("lines", "chosen", "named"),
    [
        (["A_KEY={v}", "B_KEY={v}"], ["A_KEY"], "B_KEY"),
        (["DB_PASSWORD={v}", "REDIS_PASSWORD={v}", "LOG=x"], ["DB_*"], "REDIS_PASSWORD"),
        (["A_KEY={v}", "apiToken='{v}'"], ["A_KEY"], "apiToken"),
    ],
)
def test_generate_secrets_refuses_an_unchosen_twin(
    lines: list[str], chosen: list[str], named: str
) -> None:
    from envsync_hook.errors import EnvsyncError

    v = _token()
    text = "".join(line.format(v=v) + "\n" for line in lines)
    with pytest.raises(EnvsyncError) as caught:
        generate_secrets(text, chosen)
    message = str(caught.value)
    assert named in message and "(not chosen)" in message and v not in message
    assert "\n" not in message


def _dify_copy(tmp_path: Path) -> str:
    template = DIFY["1.10.0"].read_text()
    _pair(tmp_path, template, template)
    return template


def _values(text: str) -> dict[str, str]:
    doc = parse(text)
    return {k: doc.templates[i] for i, k in enumerate(doc.keys)}


def test_generate_secrets_cli_refuses_half_a_link_of_dify(tmp_path: Path) -> None:
    """Dify 1.10.0 publishes one value for WEAVIATE_API_KEY and
    WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS (the API's key and what Weaviate accepts):
    choosing one alone is refused, naming the other, and nothing is written."""
    template = _dify_copy(tmp_path)
    published = _values(template)["WEAVIATE_API_KEY"]
    proc = run(tmp_path, "fix", "--generate-secrets", "WEAVIATE_API_KEY")
    assert proc.returncode == 2, proc.stderr
    assert "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS (not chosen)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert published not in proc.stdout + proc.stderr
    assert (tmp_path / ".env").read_text() == template
    backups = tmp_path / "env-backup"
    assert not backups.exists() or not [p for p in backups.iterdir() if ".backup_" in p.name]


def test_generate_secrets_cli_gives_a_dify_link_one_value(tmp_path: Path) -> None:
    template = _dify_copy(tmp_path)
    old = _values(template)
    pairs = [
        ("WEAVIATE_API_KEY", "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS"),
        ("SANDBOX_API_KEY", "CODE_EXECUTION_API_KEY"),
    ]
    args = [a for pair in pairs for k in pair for a in ("--generate-secrets", k)]
    proc = run(tmp_path, "fix", *args)
    assert proc.returncode in (0, 1), proc.stderr
    new = _values((tmp_path / ".env").read_text())
    for a, b in pairs:
        assert new[a] == new[b] != old[a]
        assert new[a] not in proc.stdout + proc.stderr
        assert f"{a} and {b}" in proc.stderr or f"{b} and {a}" in proc.stderr
    assert old["WEAVIATE_API_KEY"] not in proc.stdout + proc.stderr


# --- ENV013 and the template's git history ------------------------------------------------------


def _git(cwd: Path, *args: str) -> None:
    import subprocess

    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )


def _history_repo(tmp_path: Path, old: str, new: str) -> Path:
    """A repository whose template published ``SECRET_KEY=old`` (and other defaults) in its
    first commit and ``SECRET_KEY=new`` in its second, the current one."""
    _git(tmp_path, "init", "-q")
    for n, (value, workers, level) in enumerate(((old, 4, "DEBUG"), (new, 8, "INFO"))):
        (tmp_path / ".env.example").write_text(
            f"SECRET_KEY={value}\nLOG_LEVEL={level}\nWORKERS={workers}\nAPI_KEY=\n"
        )
        _git(tmp_path, "add", ".env.example")
        _git(tmp_path, "commit", "-q", "-m", f"v{n}")
    return tmp_path


#: the env file's other values are the current template's: the history gives no better base,
#: so only the history's published values can tell that ``{old}`` was a default
_REST = "LOG_LEVEL=INFO\nWORKERS=8\n"


@pytest.mark.parametrize(
    ("env", "args", "flagged"),
    [
        # a default an older version published is still published
        ("SECRET_KEY={old}\n" + _REST + "API_KEY=\n", [], {"SECRET_KEY"}),
        ("SECRET_KEY={new}\n" + _REST + "API_KEY=\n", [], {"SECRET_KEY"}),
        # a fresh value is not
        ("SECRET_KEY={fresh}\n" + _REST + "API_KEY=\n", [], set()),
        # only the same key's published values count
        ("SECRET_KEY={fresh}\n" + _REST + "API_KEY={old}\n", [], set()),
        # --no-base reads no history
        ("SECRET_KEY={old}\n" + _REST + "API_KEY=\n", ["--no-base"], set()),
    ],
)
def test_env013_knows_the_template_git_history(
    tmp_path: Path, env: str, args: list[str], flagged: set[str]
) -> None:
    import secrets

    old, new, fresh = (secrets.token_hex(16) for _ in range(3))
    repo = _history_repo(tmp_path, old, new)
    (repo / ".env").write_text(env.format(old=old, new=new, fresh=fresh))
    os.chmod(repo / ".env", 0o600)
    proc = run(repo, "check", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    assert _codes(proc.stdout).get("ENV013", set()) == flagged
    for value in (old, new, fresh):
        assert value not in proc.stdout + proc.stderr


def test_next_commands_after_generate_secrets_are_valid(tmp_path: Path) -> None:
    """The commands ``next:`` suggests after ``fix --generate-secrets`` run as they stand: no
    fix-only option on a ``check`` (which refuses it), and no second ``--generate-secrets``
    for the key just generated (it would draw yet another value)."""
    import shlex

    v, w = _token(), _token()
    template = f"SECRET_KEY={v}\nDB_PASSWORD={w}\nNEW=1\nHOST=a\n"
    _pair(tmp_path, template, f"SECRET_KEY={v}\nDB_PASSWORD={w}\nHOST=b\n")
    proc = run(
        tmp_path,
        "fix",
        "--generate-secrets",
        "SECRET_KEY",
        "--take-template",
        "NEW",
        "--keep-stale",
    )
    assert proc.returncode in (0, 1), proc.stderr
    lines = proc.stdout.splitlines()
    steps = [
        x.split("  #")[0].strip() for x in lines[lines.index("next:") + 1 :] if x.startswith("  ")
    ]
    assert any(s.startswith("envsync check") for s in steps), steps
    (tmp_path / "OLD.env.example").write_text(template)  # (what a suggestion's placeholder names)
    for step in steps:
        argv = shlex.split(step)
        assert argv[0] == "envsync"
        assert "SECRET_KEY" not in argv, step  # generated once; DB_PASSWORD is suggested
        if argv[1] == "check":
            assert not {"--take-template", "--keep-stale", "--generate-secrets"} & set(argv)
            rerun = run(tmp_path, *argv[1:])
            assert rerun.returncode in (0, 1), (step, rerun.stderr)


def test_generate_secrets_wildcards_pick_secrets_and_a_typo_is_a_warning(tmp_path: Path) -> None:
    """Red-team (2nd pass) finding 12: ``--generate-secrets '*'`` gives fresh values to the
    secret-looking keys only (``LOG_LEVEL``, ``PORT`` and a switch keep theirs; a named key is
    taken even so), and a pattern that changes nothing says so, also under ``-q``."""
    text = "LOG_LEVEL=INFO\nPORT=80\nENABLE_X=true\nAPI_KEY=abc123def456\nDB_HOST=db\n"
    (tmp_path / ".env.example").write_text(text)
    (tmp_path / ".env").write_text(text)
    os.chmod(tmp_path / ".env", 0o600)
    proc = run(tmp_path, "fix", "--generate-secrets", "*", "--generate-secrets", "DB_HOST", "-q")
    assert proc.returncode in (0, 1), proc.stderr
    after = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    assert {k: after[k] for k in ("LOG_LEVEL", "PORT", "ENABLE_X")} == {
        "LOG_LEVEL": "INFO",
        "PORT": "80",
        "ENABLE_X": "true",
    }
    assert after["API_KEY"] != "abc123def456" and after["DB_HOST"] != "db"
    before = (tmp_path / ".env").read_bytes()
    typo = run(tmp_path, "fix", "--generate-secrets", "API_KY", "-q")
    assert typo.returncode in (0, 1), typo.stderr
    assert "warning: .env: --generate-secrets 'API_KY': no key was given a fresh value" in (
        typo.stderr
    )
    assert (tmp_path / ".env").read_bytes() == before


@pytest.mark.parametrize(
    ("holder", "refused"),
    [
        ("CELERY_BROKER_URL=redis://:{v}@redis:6379/1", True),
        ("DATABASE_URL=postgresql://app:{v}@db/app", True),
        ("NOTE=unrelated-{short}", False),  # a short value is not looked for inside others
    ],
)
def test_generate_secrets_refuses_a_value_kept_inside_another(
    tmp_path: Path, holder: str, refused: bool
) -> None:
    """Red-team (2nd pass) finding 5: a password that a URL of another key carries inside it
    (Dify's broker URL holds REDIS_PASSWORD's value) is not regenerated alone: fix refuses, one
    line naming the keys and no value, and writes nothing."""
    import secrets

    value = secrets.token_hex(8)
    text = (
        f"REDIS_PASSWORD={value}\nSHORT_TOKEN=ab12\n" + holder.format(v=value, short="ab12") + "\n"
    )
    (tmp_path / ".env.example").write_text(text)
    (tmp_path / ".env").write_text(text)
    os.chmod(tmp_path / ".env", 0o600)
    chosen = "REDIS_PASSWORD" if "{v}" in holder else "SHORT_TOKEN"
    proc = run(tmp_path, "fix", "--generate-secrets", chosen)
    assert value not in proc.stdout + proc.stderr
    if refused:
        assert proc.returncode == 2
        assert "refusing to generate secrets: " in proc.stderr and "inside its own" in proc.stderr
        assert (tmp_path / ".env").read_text() == text
    else:
        assert proc.returncode in (0, 1), proc.stderr
        assert (tmp_path / ".env").read_text() != text


def _three_versions(tmp_path: Path, old: str, mid: str, new: str) -> list[str]:
    """A repository whose template published ``SECRET_KEY`` = ``old``, ``mid``, then ``new``
    (the current one) in three commits; returns the commits, oldest first."""
    import subprocess

    _git(tmp_path, "init", "-q")
    commits = []
    for n, value in enumerate((old, mid, new)):
        (tmp_path / ".env.example").write_text(
            f"SECRET_KEY={value}\nLOG_LEVEL=INFO\nWORKERS={n + 4}\n"
        )
        _git(tmp_path, "add", ".env.example")
        _git(tmp_path, "commit", "-q", "-m", f"v{n}")
        commits.append(
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
            ).stdout.strip()
        )
    return commits


@pytest.mark.parametrize("mode", ["record", "option", "hook"])
@pytest.mark.parametrize("changed", [False, True])
def test_env013_reads_the_history_whatever_the_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, changed: bool
) -> None:
    """A secret at a default only the template's first commit published is flagged whatever
    the base comes from (the sync record, ``--base``, the commit before an upgrade-hook run:
    none of which publishes it); a changed secret is not. No value is printed."""
    import secrets

    old, mid, new, fresh = (secrets.token_hex(16) for _ in range(4))
    commits = _three_versions(tmp_path, old, mid, new)
    value = fresh if changed else old
    (tmp_path / ".env").write_text(f"SECRET_KEY={value}\nLOG_LEVEL=INFO\nWORKERS=6\n")
    os.chmod(tmp_path / ".env", 0o600)
    args: list[str] = []
    if mode == "record":
        fixed = run(tmp_path, "fix", "-q")  # (records the current template: the next base)
        assert fixed.returncode in (0, 1), fixed.stderr
        assert (tmp_path / "env-backup" / ".env.sync" / "manifest").is_file()
    elif mode == "option":
        (tmp_path / "base.example").write_text(f"SECRET_KEY={mid}\nLOG_LEVEL=INFO\nWORKERS=5\n")
        args = ["--base", "base.example"]
    else:
        monkeypatch.setenv("PRE_COMMIT_CHECKOUT_TYPE", "1")
        monkeypatch.setenv("PRE_COMMIT_FROM_REF", commits[1])
        monkeypatch.setenv("PRE_COMMIT_TO_REF", commits[2])
        args = ["--upgrade-hook"]
    proc = run(tmp_path, "check", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    import json

    sources = {p["base"]["source"] for p in json.loads(proc.stdout)["pairs"]}
    assert sources == {{"record": "record", "option": "option", "hook": "hook"}[mode]}
    assert _codes(proc.stdout).get("ENV013", set()) == (set() if changed else {"SECRET_KEY"})
    text = run(tmp_path, "check", *args)
    assert ("ENV013" in text.stdout) is not changed
    for v in (old, mid, new, fresh):
        assert v not in proc.stdout + proc.stderr + text.stdout + text.stderr


@pytest.mark.parametrize("keys", [3, 12])  # (a pattern a key, and every line past _FEW_KEYS)
def test_env013_history_with_few_or_many_secret_keys(tmp_path: Path, keys: int) -> None:
    """The history is searched by key names for a few pending keys and line by line for
    many (linear either way): the one key at a default only the first commit published is
    flagged, the fresh ones are not, and no value is printed."""
    import secrets

    names = [f"SVC{n}_SECRET_KEY" for n in range(keys)]
    old = {k: secrets.token_hex(16) for k in names}
    new = {k: secrets.token_hex(16) for k in names}
    fresh = {k: secrets.token_hex(16) for k in names}
    _git(tmp_path, "init", "-q")
    for version in (old, new):
        (tmp_path / ".env.example").write_text("".join(f"{k}={v}\n" for k, v in version.items()))
        _git(tmp_path, "add", ".env.example")
        _git(tmp_path, "commit", "-q", "-m", "v")
    env = {**fresh, names[1]: old[names[1]]}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    os.chmod(tmp_path / ".env", 0o600)
    (tmp_path / "base.example").write_text("".join(f"{k}={v}\n" for k, v in new.items()))
    proc = run(tmp_path, "check", "--format", "json", "--base", "base.example")
    assert proc.returncode in (0, 1), proc.stderr
    assert _codes(proc.stdout).get("ENV013", set()) == {names[1]}
    for v in (*old.values(), *new.values(), *fresh.values()):
        assert v not in proc.stdout + proc.stderr
