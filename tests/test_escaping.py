"""The one escaping function (envsync_hook.escaping) and the keys too odd to print.

Tables for :func:`escape` and :func:`plausible_key`; then the CLI as an operator runs it: a
folder whose name holds a line break and a workflow command, a path that is not valid UTF-8,
a stream that cannot encode a key, and lines that Docker Compose reads as key names (a PEM
body line, a pasted token, text after a closing quote) in every report format.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envsync_hook.escaping import all_plausible, escape, escape_controls, plausible_key, shown_key
from tests.cli_run import run

FORMATS = ("text", "json", "junit", "github", "sarif")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain/.env", "plain/.env"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("a\rb", "a\\rb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),  # no escape sequence reaches the terminal
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85", "c1\\x85"),  # NEL: a line break for some terminals and editors
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),  # line and paragraph separators
        ("bidi\u202eevil", "bidi\\u202eevil"),  # right-to-left override
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("bad\udcffbyte", "bad\\xffbyte"),  # a byte that is not UTF-8 (surrogateescape)
        ("::error file=a::x", ":\\:error file=a:\\:x"),  # no workflow command
        (":::", ":\\:\\:"),
        ("x\n::error::pwn", "x\\n:\\:error:\\:pwn"),
        ("##[error]x", "#\\#[error]x"),  # the older command form
        ("C:\\dir\\.env", "C:\\dir\\.env"),  # backslashes of a path stay
        ("naïve ключ 键", "naïve ключ 键"),  # letters of any script stay
        ("a b", "a b"),
    ],
)
def test_escape_table(raw: str, shown: str) -> None:
    assert escape(raw) == shown


@given(st.text())
def test_escape_is_one_inert_line(text: str) -> None:
    out = escape(text)
    assert out.isprintable()  # no control character, no line break of any kind
    assert "::" not in out and "##[" not in out
    assert escape(out) == out  # escaping twice changes nothing more


def test_escape_controls_keeps_what_is_asked() -> None:
    assert escape_controls("a\r\nb\x1b", keep="\r\n") == "a\r\nb\\x1b"
    assert escape_controls("::x") == "::x"


@pytest.mark.parametrize(
    ("key", "plausible"),
    [
        ("DB_PASSWORD", True),
        ("http_proxy", True),
        ("S3_BUCKET_NAME", True),
        ("awsAccessKeyId", True),
        ("spring.datasource.url", True),
        ("X", True),
        ("_PRIVATE", True),
        ("NEXT_PUBLIC_API_PREFIX", True),
        ("CODE_EXECUTION_CONNECT_TIMEOUT", True),
        ("ÜBERSICHT", True),  # compose takes letters of any script
        ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", False),  # a PEM body line
        ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", False),  # a GitHub token
        ("AKIAIOSFODNN7EXAMPLE", False),  # an AWS access key id
        ("xoxb-1234567890-AbCdEfGhIjKlMnOpQrStUvWxYz", False),  # a Slack token
        ("deadbeefdeadbeefdeadbeefdeadbeef", False),  # a hex token
        # short tokens (8-15): mixed case and digits, or three runs of digits, no words
        ("aB3dE5fG7hJ", False),
        ("AbCdEf12GhIj", False),
        ("x7k2m9q4", False),
        ("X7K2M9Q4", False),
        ("AB12CD34EF56", False),
        ("S3BucketName2", True),  # words
        ("oAuth2Token", True),
        ("HTTP2Proxy", True),
        ("ipv4addr", True),  # one run of digits
        ("sha256sum", True),
        ("myVar2", True),  # too short to tell
        ("1ABC", False),  # a digit first
        ("-x", False),
        ("", False),
        ("a b", False),
        ("key\x1b", False),
        ("A" * 65, False),
        ("has/slash", False),
    ],
)
def test_plausible_key_table(key: str, plausible: bool) -> None:
    assert plausible_key(key) is plausible
    assert shown_key(key, 7) == (key if plausible else "<key on line 7>")


# --- through the CLI -------------------------------------------------------------------------


def _no_command_lines(text: str) -> None:
    """No line a GitHub runner would read as a workflow command, none with a control char."""
    for line in text.split("\n"):
        assert not line.lstrip().startswith(("::", "##[")), line
        assert all(c.isprintable() or c == "\t" for c in line), repr(line)


def test_folder_name_with_a_workflow_command(tmp_path: Path) -> None:
    hostile = tmp_path / "x\n::error file=README.md::pwned"
    hostile.mkdir()
    (hostile / ".env.example").write_text("A=1\n")
    (tmp_path / "other").mkdir()
    for args in (
        ("check", str(hostile / ".env.example")),
        ("check", str(hostile / ".env.example"), "--if-missing", "skip"),
        ("fix", str(hostile / ".env.example")),
        ("fix", str(hostile / ".env.example")),  # created: now a merge
        ("check", str(hostile / "nope.env.example")),  # the error names the path
        ("restore", str(hostile / ".env")),
        ("restore", str(hostile / ".env"), "--list"),
    ):
        proc = run(tmp_path / "other", *args)
        assert "Traceback" not in proc.stderr
        _no_command_lines(proc.stdout)
        _no_command_lines(proc.stderr)
        assert "pwned" in proc.stdout + proc.stderr or proc.returncode == 0  # named, escaped


def test_error_line_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path, "check", "a\nb\r::error::c.env.example")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("envsync: error: cannot read template a\\nb\\r:\\:error")


@pytest.mark.parametrize("fmt", FORMATS)
def test_path_not_valid_utf8(tmp_path: Path, fmt: str) -> None:
    raw = os.fsencode(str(tmp_path)) + b"/dir\xff\xfe"
    os.mkdir(raw)
    with open(raw + b"/.env.example", "wb") as f:
        f.write(b"A=1\nB=2\n")
    with open(raw + b"/.env", "wb") as f:
        f.write(b"A=1\n")
    os.chmod(raw + b"/.env", 0o600)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "envsync_hook",
            "check",
            "--format",
            fmt,
            b"dir\xff\xfe/.env.example",
        ],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert b"Traceback" not in proc.stderr
    out = proc.stdout.decode("utf-8")  # valid UTF-8 in every format
    if fmt == "json":
        assert json.loads(out)["pairs"][0]["template"] == "dir\\xff\\xfe/.env.example"
    elif fmt == "sarif":
        assert "dir%5Cxff%5Cxfe" in json.dumps(json.loads(out))
    else:
        assert "dir\\xff\\xfe" in out


def test_key_on_a_stream_that_cannot_encode_it(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=1\nКЛЮЧ=1\n")
    os.chmod(tmp_path / ".env", 0o600)
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "check"],
        cwd=tmp_path,
        capture_output=True,
        env=env,
        check=False,
    )
    assert b"Traceback" not in proc.stderr
    assert proc.returncode == 0
    assert b"\\u041a\\u041b\\u042e\\u0427" in proc.stdout  # the key, escaped, not a crash


#: lines that Docker Compose reads as key names, each holding a secret
SECRET_LINES = {
    "PEM body line": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    "pasted token": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "text after a closing quote": 'NOTE="x"hunter2secret',
    "second statement on a line": 'NOTE="x" hunter3secret=1',
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_odd_keys_are_shown_by_line_in_every_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / ".env.example").write_text("NOTE=x\n")
    body = "NOTE=x\n" + "\n".join(SECRET_LINES.values()) + "\n"
    (tmp_path / ".env").write_text(body)
    os.chmod(tmp_path / ".env", 0o600)
    for extra in ((), ("--json", "r.json", "--junit", "r.xml", "--sarif", "r.sarif")):
        proc = run(tmp_path, "check", "--format", fmt, "--show-values", *extra)
        assert proc.returncode == 0, proc.stderr
        everything = proc.stdout + proc.stderr
        for name in ("r.json", "r.xml", "r.sarif"):
            if (tmp_path / name).exists():
                everything += (tmp_path / name).read_text()
        for secret in ("MIIEvQIBADANBgkqhkiG9w0", "16C7e42F292c6912", "hunter2", "hunter3"):
            assert secret not in everything, (fmt, secret)
        for line in (2, 3, 4, 5):
            assert f"key on line {line}" in everything, (fmt, line)


def test_odd_keys_in_the_step_summary(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("NOTE=x\n")
    (tmp_path / ".env").write_text("NOTE=x\n" + "\n".join(SECRET_LINES.values()) + "\n")
    os.chmod(tmp_path / ".env", 0o600)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text = summary.read_text() + proc.stdout
    assert "hunter2" not in text and "MIIEvQ" not in text and "16C7e42F" not in text
    assert re.search(r"key on line 2", text)


_NAME_CHARS = st.text(st.sampled_from("abcxyzAEKQXZ0123479_"), min_size=1, max_size=24).filter(
    lambda k: not k[0].isdigit()
)


@pytest.mark.parametrize(
    "key",
    # mixed case and digits whose lower-case letters only end the part (found by the property
    # test below): the fast path must not call them plausible
    ["A00000Aa", "X1234QZxk", "AB_C9D8E7Fgh"],
)
def test_all_plausible_sends_a_random_looking_tail_to_the_full_check(key: str) -> None:
    assert not plausible_key(key)
    assert not all_plausible([key]) and not all_plausible(["DB_PASSWORD", key])


@given(st.lists(_NAME_CHARS, max_size=5))
def test_all_plausible_never_passes_an_implausible_key(keys: list[str]) -> None:
    """The fast path (two regex passes over the joined names) says "all plausible" only when
    each name is."""
    if all_plausible(keys):
        assert all(plausible_key(k) for k in keys), keys
