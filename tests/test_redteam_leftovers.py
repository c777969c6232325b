"""Red-team leftovers of issue 14, each through the CLI as an operator runs it:

- ``next:`` suggests ``fix --generate-secrets`` only as fix accepts it: a key whose value other
  secret-looking keys share is named with them; one whose value another key holds inside its
  own (a URL) is left to a change by hand;
- ENV007 points at a line of the file, never past its end;
- fix says which keys it wrote once that the env file assigned several times (the earlier
  assignments are only in the backup), and ENV006 says fix keeps only the last; no values.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from pathlib import Path

import pytest
from cli_run import run
from hypothesis import given, settings
from hypothesis import strategies as st

from envsync_hook.document import parse, template_errors


def _pair(tmp_path: Path, template: str, env: str) -> None:
    (tmp_path / ".env.example").write_text(template, encoding="utf-8")
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    os.chmod(tmp_path / ".env", 0o600)


def _next(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    if "next:" not in lines:
        return []
    return [
        x.split("  #")[0].strip() for x in lines[lines.index("next:") + 1 :] if x.startswith("  ")
    ]


# --- (a) the --generate-secrets that next: suggests is one fix accepts --------------------------

#: (template, extra env lines, the keys the suggestion must name, or None: no suggestion)
SUGGESTIONS = [
    # one value shared by two published secrets and a key of the operator: fix refuses any of
    # them alone, so none is suggested (the message says to choose them together)
    ("DB_PASSWORD={v}\nREDIS_PASSWORD={v}\n", "OTHER_TOKEN={v}\n", None),
    ("SANDBOX_API_KEY={v}\nCODE_EXECUTION_API_KEY={v}\n", "", None),
    # ... the published secret that fix takes alone is
    ("DB_PASSWORD={v}\nREDIS_PASSWORD={v}\nSECRET_KEY={w}\n", "", {"SECRET_KEY"}),
    # a value held inside a URL: not suggested; the next published secret is
    (
        "REDIS_PASSWORD={v}\nSECRET_KEY={w}\nCELERY_BROKER_URL=redis://:{v}@redis:6379/1\n",
        "",
        {"SECRET_KEY"},
    ),
    # ... and when it is the only one, no --generate-secrets at all
    ("REDIS_PASSWORD={v}\nCELERY_BROKER_URL=redis://:{v}@redis:6379/1\n", "", None),
    # a value alone: the key alone
    ("SECRET_KEY={w}\nDB_PASSWORD=\n", "", {"SECRET_KEY"}),
]


@pytest.mark.parametrize(("template", "extra", "named"), SUGGESTIONS)
def test_next_suggests_a_generate_secrets_fix_accepts(
    tmp_path: Path, template: str, extra: str, named: set[str] | None
) -> None:
    v, w = secrets.token_hex(12), secrets.token_hex(12)
    text = template.format(v=v, w=w)
    _pair(tmp_path, text, text + extra.format(v=v, w=w))
    proc = run(tmp_path, "check")
    assert proc.returncode in (0, 1), proc.stderr
    assert v not in proc.stdout + proc.stderr and w not in proc.stdout + proc.stderr
    steps = [s for s in _next(proc.stdout) if "--generate-secrets" in s]
    if named is None:
        assert steps == [], proc.stdout
        verbose = run(tmp_path, "check", "-v").stdout  # (each finding's message says why)
        assert "refuses it" in verbose and v not in verbose
        return
    assert len(steps) == 1, proc.stdout
    argv = shlex.split(steps[0])
    chosen = {argv[i + 1] for i, a in enumerate(argv) if a == "--generate-secrets"}
    assert chosen == named
    fixed = run(tmp_path, *argv[1:])
    assert fixed.returncode in (0, 1), fixed.stderr  # (2 would be fix refusing its own advice)
    assert v not in fixed.stdout + fixed.stderr and w not in fixed.stdout + fixed.stderr
    after = (tmp_path / ".env").read_text(encoding="utf-8")
    values = dict(line.split("=", 1) for line in after.splitlines() if "=" in line)
    for key in named:
        assert values[key] not in (v, w)
    assert len({values[k] for k in named}) == 1  # (keys that held one value still agree)


# --- (b) ENV007 points at a line of the file ------------------------------------------------------


def _last_line(text: str) -> int:
    return text.count("\n", 0, max(len(text) - 1, 0)) + 1


ENV007_CASES = [
    "x\n\n\"=\n\n\n='\\\n\n",
    "A=1\n'=\n\n",
    'A=1\n"=x\n',
    'A=1\nB="x\n\n\n\n',
    "A=1\nB=${C\n",
]


@pytest.mark.parametrize("text", ENV007_CASES)
def test_env007_points_at_a_line_of_the_file(tmp_path: Path, text: str) -> None:
    _pair(tmp_path, "A=1\n", text)
    proc = run(tmp_path, "check", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    lines = [
        f["line"]
        for p in json.loads(proc.stdout)["pairs"]
        for f in p["findings"]
        if f["code"] == "ENV007"
    ]
    assert lines, proc.stdout
    assert all(1 <= n <= _last_line(text) for n in lines), (lines, _last_line(text))


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=["A", "=", '"', "'", "\n", "\r", "$", "{", "}", "x", " ", "#", "\\"], max_size=14
    )
)
def test_syntax_issues_lie_in_the_file(text: str) -> None:
    for issue in template_errors(parse(text)):
        assert 1 <= issue.line <= _last_line(text), (text, issue)


# --- (c) duplicates: fix says which keys it wrote once -----------------------------------------


@pytest.mark.parametrize("dry", [False, True])
def test_fix_names_the_keys_whose_earlier_assignments_it_dropped(tmp_path: Path, dry: bool) -> None:
    old, new = secrets.token_hex(8), secrets.token_hex(8)
    env = f"API_TOKEN={old}\nB=2\nAPI_TOKEN={new}\nMINE=1\nMINE=2\nC=3\n"
    _pair(tmp_path, "API_TOKEN=\nB=2\nC=3\n", env)
    check = run(tmp_path, "check")
    assert "fix keeps only it" in check.stdout
    proc = run(tmp_path, "fix", *(["--dry-run"] if dry else []))
    assert proc.returncode in (0, 1), proc.stderr
    lines = proc.stdout.splitlines()
    at = [n for n, x in enumerate(lines) if "set more than once" in x]
    assert len(at) == 1, proc.stdout
    account = lines[at[0]]
    for more in lines[at[0] + 1 :]:  # (a long list of names wraps onto indented lines)
        if not more.startswith("    "):
            break
        account += " " + more.strip()
    assert ("would drop" if dry else "dropped") in account
    assert account.rstrip().endswith(": API_TOKEN, MINE"), account
    for out in (check, proc):
        assert old not in out.stdout + out.stderr and new not in out.stdout + out.stderr
    text = (tmp_path / ".env").read_text(encoding="utf-8")
    if dry:
        assert text == env
    else:
        assert text.count("API_TOKEN=") == 1 and f"API_TOKEN={new}" in text
        assert text.count("MINE=") == 1
        backups = list((tmp_path / "env-backup").glob(".env.backup_*"))
        assert env in [b.read_text(encoding="utf-8") for b in backups]  # (the backup has all)


def test_fix_without_duplicates_says_nothing_of_them(tmp_path: Path) -> None:
    _pair(tmp_path, "A=1\nB=2\n", "A=1\n")
    proc = run(tmp_path, "fix")
    assert proc.returncode in (0, 1), proc.stderr
    assert "more than once" not in proc.stdout
