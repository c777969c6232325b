"""Issue 3 acceptance: real Dify upgrades through ``envsync fix``, judged by Docker Compose.

For every consecutive pair of Dify releases in the corpus, a ``.env`` made from the older
template with customised values (a value with `` #`` inside quotes, values with ``$``, a
multi-line PEM-style value, single quotes, a reference, ``KEY =value`` and ``export`` lines), an
operator-only key and a value for a commented-out opt-in of the newer template, mode 0600. After
``envsync fix`` (a real process) the real Docker Compose must read every operator value unchanged,
every new key with its template default, and the operator-only key; the backup is the old
``.env`` byte for byte; the mode survives; a second run changes nothing.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

import pytest
from cli_run import run
from compose_oracle import ComposeError

RELEASES = ["0.6.12", "1.0.0", "1.4.0", "1.10.0", "1.14.0"]
PAIRS = list(zip(RELEASES, RELEASES[1:]))

# key -> the whole line the operator wrote (every key is assigned in every release above)
CUSTOM_LINES = {
    "SECRET_KEY": 'SECRET_KEY="sk-9f8e7d #not a comment"',
    "DB_PASSWORD": "DB_PASSWORD='pa$$word'",
    "REDIS_PASSWORD": 'REDIS_PASSWORD="a\\$b$$c"',
    "GOOGLE_STORAGE_SERVICE_ACCOUNT_JSON_BASE64": (
        'GOOGLE_STORAGE_SERVICE_ACCOUNT_JSON_BASE64="-----BEGIN PRIVATE KEY-----\n'
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
        "# not a comment: part of the value\n"
        'ZXhhbXBsZQ==\n-----END PRIVATE KEY-----"'
    ),
    "CONSOLE_API_URL": "CONSOLE_API_URL='https://console.example.com'",
    "CONSOLE_WEB_URL": "CONSOLE_WEB_URL=${CONSOLE_API_URL}/web # follows the API URL",
    "NGINX_SERVER_NAME": "NGINX_SERVER_NAME=dify.example.com",
    "LOG_LEVEL": "LOG_LEVEL=",
    "SMTP_SERVER": "export SMTP_SERVER=smtp.example.com",
    "DEBUG": "DEBUG =true",
    "SQLALCHEMY_POOL_SIZE": "SQLALCHEMY_POOL_SIZE=  42   ",
    "WEAVIATE_API_KEY": "WEAVIATE_API_KEY=unquoted#hash-and-$$dollar",
}
OPERATOR_ONLY = "\n# my own setting, in no template\nMY_OPERATOR_ONLY='keep me #1'\n"
SECRETS = ["sk-9f8e7d", "pa$$word", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "keep me #1"]

_COMMENTED = re.compile(r"^[ \t]*#[ \t]*([A-Za-z_][A-Za-z0-9_]*)=", re.M)


def customise(template: str, lines: Mapping[str, str]) -> str:
    """The template with each key's (single-line) assignment replaced by the operator's line."""
    out = template
    for key, line in lines.items():
        pattern = re.compile(rf"^{re.escape(key)}=.*$", re.M)
        assert len(pattern.findall(out)) == 1, f"{key} not assigned exactly once"
        out = pattern.sub(lambda _m, line=line: line, out, count=1)  # type: ignore[misc]
    return out


def commented_opt_in(old: str, new: str, compose_keys: set[str]) -> str | None:
    """A key the newer template offers only as ``# KEY=...`` and the older one does not assign."""
    for key in _COMMENTED.findall(new):
        if key not in compose_keys and not re.search(rf"^{re.escape(key)}=", old, re.M):
            return str(key)
    return None


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (
            p.read_bytes() if p.is_file() else b"",
            stat.S_IMODE(p.stat().st_mode),
        )
        for p in root.rglob("*")
    }


def read(
    compose: Callable[..., list[object]], texts: list[str], environ: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    results = compose(texts, dict(environ or {}))
    for r in results:
        assert not isinstance(r, ComposeError), r
    return results  # type: ignore[return-value]


def make_env(old_template: str, new_template: str, new_keys: set[str]) -> str:
    env = customise(old_template, CUSTOM_LINES)
    if not env.endswith("\n"):
        env += "\n"
    env += OPERATOR_ONLY
    opt_in = commented_opt_in(old_template, new_template, new_keys)
    if opt_in is not None:
        env += f"# switched on by the operator\n{opt_in}=operator-opt-in\n"
    return env


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_real_upgrade(
    tmp_path: Path, corpus: Path, compose: Callable[..., list[object]], old: str, new: str
) -> None:
    old_template = (corpus / "dify" / old / "docker" / ".env.example").read_text(encoding="utf-8")
    new_template = (corpus / "dify" / new / "docker" / ".env.example").read_text(encoding="utf-8")
    (new_defaults_plain,) = read(compose, [new_template])
    env_text = make_env(old_template, new_template, set(new_defaults_plain))

    (tmp_path / ".env.example").write_bytes(new_template.encode("utf-8"))
    env_path = tmp_path / ".env"
    env_path.write_bytes(env_text.encode("utf-8"))
    os.chmod(env_path, 0o600)

    proc = run(tmp_path, "fix")
    assert proc.returncode == 1, proc.stderr
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr
    result = env_path.read_bytes().decode("utf-8")

    (operator,) = read(compose, [env_text])
    # the new template's defaults as they read in place: a ${...} in a new key resolves from the
    # operator's values (compose's environment wins over the file for interpolation only)
    (defaults,) = read(compose, [new_template], operator)
    (got,) = read(compose, [result])

    assert "MY_OPERATOR_ONLY" in operator and operator["MY_OPERATOR_ONLY"] == "keep me #1"
    lost = {k for k in operator if k not in got}
    assert not lost, f"keys lost: {sorted(lost)}"
    changed = {k for k in operator if got[k] != operator[k]}
    assert not changed, f"operator values changed: {sorted(changed)}"
    new_keys = set(defaults) - set(operator)
    assert new_keys, "the newer template adds keys"
    wrong = {k for k in new_keys if got.get(k) != defaults[k]}
    assert not wrong, f"new keys without their template default: {sorted(wrong)}"
    assert set(got) == set(operator) | set(defaults)

    # a value for a commented-out opt-in stands right below the template's ``# KEY=`` line
    opt_in = commented_opt_in(old_template, new_template, set(new_defaults_plain))
    if opt_in is not None:
        lines = result.splitlines()
        at = lines.index(f"{opt_in}=operator-opt-in")
        assert re.match(rf"^[ \t]*#[ \t]*{opt_in}=", lines[at - 1]), lines[at - 1]

    # the backup is the old .env, byte for byte, with its mode
    made = list((tmp_path / "env-backup").glob("*.backup_*[0-9]"))
    assert len(made) == 1
    assert made[0].read_bytes() == env_text.encode("utf-8")
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600

    # a second run: exit 0, nothing written, no new backup
    before = snapshot(tmp_path)
    again = run(tmp_path, "fix")
    assert again.returncode == 0, again.stderr
    assert snapshot(tmp_path) == before


def test_upgrade_chain(tmp_path: Path, corpus: Path, compose: Callable[..., list[object]]) -> None:
    """One ``.env`` carried through every release in turn: at the end compose still reads every
    value the operator set at the start."""
    first = (corpus / "dify" / RELEASES[0] / "docker" / ".env.example").read_text(encoding="utf-8")
    env_text = customise(first, CUSTOM_LINES) + OPERATOR_ONLY
    env_path = tmp_path / ".env"
    env_path.write_bytes(env_text.encode("utf-8"))
    os.chmod(env_path, 0o600)
    for release in RELEASES[1:]:
        template = (corpus / "dify" / release / "docker" / ".env.example").read_bytes()
        (tmp_path / ".env.example").write_bytes(template)
        proc = run(tmp_path, "fix")
        assert proc.returncode == 1, (release, proc.stderr)
    final = env_path.read_bytes().decode("utf-8")
    last = (tmp_path / ".env.example").read_text(encoding="utf-8")
    (operator, got, defaults) = read(compose, [env_text, final, last])
    # what the operator set reads unchanged; each other key reads as it did or, where the
    # release changed its default, the last release's default: from the second fix on, the
    # sync record of the previous fix is the base (issue 11), so stale defaults follow
    custom = {*CUSTOM_LINES, "MY_OPERATOR_ONLY"}
    assert {k: got.get(k) for k in custom} == {k: operator[k] for k in custom}
    wrong = {
        k for k in operator.keys() - custom if got.get(k) not in (operator[k], defaults.get(k))
    }
    assert not wrong, sorted(wrong)
    assert operator["COMPOSE_PROFILES"] != defaults["COMPOSE_PROFILES"]
    assert got["COMPOSE_PROFILES"] == defaults["COMPOSE_PROFILES"]  # (a stale default, updated)
    assert len(list((tmp_path / "env-backup").glob("*.backup_*[0-9]"))) == len(RELEASES) - 1
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
