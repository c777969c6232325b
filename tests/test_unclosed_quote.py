"""An unclosed quote is reported where it opened, without follow-on findings (issue 13).

Docker Compose reads a quoted value on to the next matching quote; a quote left open swallows the
following statements and fails lines later, or at the end of the file. ``check`` names the line
where the quote opened, once, and reports the rest of the file as if the quote were not there;
``fix`` refuses with that line."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from cli_run import run
from hypothesis import given, settings
from hypothesis import strategies as st

from envsync_hook.document import parse, unclosed_quote
from envsync_hook.runner import Job, check_pair
from envsync_hook.settings import Settings


def _pair(d: Path, template: str, env: str) -> None:
    (d / ".env.example").write_text(template, encoding="utf-8")
    (d / ".env").write_text(env, encoding="utf-8")
    os.chmod(d / ".env", 0o600)


def _findings(d: Path) -> list[tuple[str, str, int]]:
    report = json.loads(run(d, "check", "--format", "json").stdout)
    return [(f["code"], f["key"], f["line"]) for p in report["pairs"] for f in p["findings"]]


TEMPLATE = "A=1\nB=2\nC=3\nD=4\nE=5\n"

CASES = [
    # (env, the line the quote opened on); the other keys all match the template
    ('A=1\nB="2\nC=3\nD="4"\nE=5\n', 2),  # closed lines later by the next quote: fails there
    ('A=1\nB=2\nC=3\nD=4\nE="5\n', 5),  # runs to the end of the file
    ("A=1\nB='2\nC=3\nD=4\nE=5\n", 2),  # single quotes alike
    ('A=1\nB=2\nexport C="3\nD=4\nE=5\n', 3),
]


@pytest.mark.parametrize(("env", "line"), CASES)
def test_one_finding_at_the_opening_line(tmp_path: Path, env: str, line: int) -> None:
    _pair(tmp_path, TEMPLATE, env)
    assert _findings(tmp_path) == [("ENV007", "", line)]
    out = run(tmp_path, "check").stdout
    assert f".env:{line}: ENV007 syntax-error: Docker Compose rejects this file: the " in out
    assert f"  edit .env:{line}  # " in out
    fix = run(tmp_path, "fix")
    assert fix.returncode == 2
    assert fix.stderr.startswith(f"envsync: error: refusing to fix: .env:{line}: the ")
    assert (tmp_path / ".env").read_text(encoding="utf-8") == env


@pytest.mark.parametrize(("template", "line"), CASES)
def test_a_template_with_an_unclosed_quote(tmp_path: Path, template: str, line: int) -> None:
    """The same in the template: one ENV007 at the line the quote opened on, no follow-on
    finding (every key of the template still read, the env file matching it), fix refuses."""
    env = TEMPLATE
    _pair(tmp_path, template, env)
    assert _findings(tmp_path) == [("ENV007", "", line)]
    out = run(tmp_path, "check").stdout
    assert f".env.example:{line}: ENV007 syntax-error: Docker Compose rejects this file" in out
    assert f"  edit .env.example:{line}  # " in out
    fix = run(tmp_path, "fix")
    assert fix.returncode == 2
    assert fix.stderr.startswith(f"envsync: error: refusing to fix: .env.example:{line}: the ")
    assert (tmp_path / ".env").read_text(encoding="utf-8") == env


def test_a_multi_line_value_is_no_unclosed_quote() -> None:
    text = 'A=1\nCERT="-----BEGIN\nabc\n-----END"\nB=2\n'
    assert unclosed_quote(parse(text)) is None


def _in_process(template: str, env: str) -> list[tuple[str, str, int]]:
    """``check``'s findings for the pair, without a process (the property runs many pairs)."""
    with tempfile.TemporaryDirectory() as d:
        _pair(Path(d), template, env)
        files = (Path(d) / ".env.example", Path(d) / ".env")
        job = Job(*files, explicit=frozenset(os.path.abspath(f) for f in files))
        result = check_pair(job, Settings(), "fail", None)
    return [(f.code, f.key, f.line) for f in result.findings]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(min_value=3, max_value=30), data=st.data())
def test_breaking_one_value_changes_nothing_else(n: int, data: st.DataObject) -> None:
    """Property: an env file in step with its template, one value opened with a quote that is
    never closed: the only finding is ENV007 at that line."""
    keys = [f"SETTING_{i}" for i in range(n)]
    template = "".join(f"# about {k}\n{k}=value{i}\n" for i, k in enumerate(keys))
    broken = data.draw(st.integers(min_value=0, max_value=n - 1))
    quote = data.draw(st.sampled_from(['"', "'"]))
    env = "".join(
        f"# about {k}\n{k}={quote if i == broken else ''}value{i}\n" for i, k in enumerate(keys)
    )
    assert _in_process(template, env) == [("ENV007", "", 2 * broken + 2)]


def test_an_unclosed_quote_in_another_template_of_the_set(tmp_path: Path) -> None:
    """Red-team (2nd pass) finding 11: the same in a template given with ``--also``: one ENV007
    at its opening line, the keys after it still that template's (no ENV002), and fix refuses
    (with ``--prune`` it used to drop them)."""
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "o.env.example").write_text('X=1\nY="open\nZ=3\n', encoding="utf-8")
    _pair(tmp_path, "A=1\n", "A=1\nZ=9\n")
    also = ["--also", "envs/*.env.example"]
    report = json.loads(run(tmp_path, "check", *also, "--format", "json").stdout)
    found = [(f["code"], f["key"], f["line"]) for p in report["pairs"] for f in p["findings"]]
    assert ("ENV007", "", 2) in found and ("ENV008", "Z", 3) in found
    assert not [f for f in found if f[0] == "ENV002"]
    fix = run(tmp_path, "fix", *also, "--prune")
    assert fix.returncode == 2
    assert "refusing to fix: envs/o.env.example:2: the " in fix.stderr
    assert (tmp_path / ".env").read_text(encoding="utf-8") == "A=1\nZ=9\n"
