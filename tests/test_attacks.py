"""Issue 14's attacks on the command line (items: injection, --base-ref, configuration files,
tracebacks): each row either refuses (exit 2, exactly one line on stderr, nothing written) or
works (no traceback, no planted secret anywhere in the output). And a hypothesis invariant: no
output of any command in any format holds a control character from the input or a value."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsync_hook.cli import main
from tests.cli_run import run

SECRET = "planted-secret-5e1f"


class Row(NamedTuple):
    args: tuple[str, ...]
    refuse: str  #: a fragment of the one error line; "" for a row that must work
    setup: Callable[[Path], None] = lambda d: None


def _fifo(d: Path) -> None:
    os.mkfifo(d / "fifo.toml")


def _big_config(d: Path) -> None:
    (d / "big.toml").write_text("# " + "x" * (2 * 1024 * 1024) + "\n")


def _nested(depth: int) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        value = "${A:-" * depth + SECRET + "}" * depth
        (d / ".env").write_text(f"A=1\nB={value}\nDB_PASSWORD={SECRET}\n")

    return setup


def _unclosed(d: Path) -> None:
    (d / ".env").write_text("A=1\nV=" + "${A:-" + SECRET * 2000 + "\n")


ROWS = {
    "--base-ref=--output=pwn (check)": Row(("check", "--base-ref=--output=pwn"), "--output=pwn"),
    "--base-ref=--output=pwn (fix)": Row(("fix", "--base-ref=--output=pwn"), "--output=pwn"),
    "--base-ref=-p": Row(("check", "--base-ref=-p"), "invalid git revision"),
    "--base-ref with a newline": Row(("check", "--base-ref", "HEAD\n::error::x"), "invalid"),
    "--base-ref unknown": Row(("check", "--base-ref", "no-such-rev"), "no-such-rev"),
    "--config on a FIFO": Row(("check", "--config", "fifo.toml"), "not a regular file", _fifo),
    "--config on /dev/zero": Row(("check", "--config", "/dev/zero"), "not a regular file"),
    "--config of 2 MiB": Row(("check", "--config", "big.toml"), "larger than", _big_config),
    "--config a directory": Row(("check", "--config", "."), "is a directory"),
    "200 nested defaults": Row(("check",), "", _nested(200)),
    "5000 nested defaults (fix)": Row(("fix", "--dry-run"), "", _nested(5000)),
    "unclosed ${A:- (a syntax error, reported)": Row(("check",), "", _unclosed),
    "unclosed ${A:- (fix refuses)": Row(("fix",), "refusing to fix", _unclosed),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_attack_table(tmp_path: Path, name: str) -> None:
    row = ROWS[name]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / ".env.example").write_text("A=1\nDB_PASSWORD=\n")
    (tmp_path / ".env").write_text(f"A=1\nDB_PASSWORD={SECRET}\n")
    os.chmod(tmp_path / ".env", 0o600)
    row.setup(tmp_path)
    before = {p.name: p.read_bytes() if p.is_file() else b"" for p in tmp_path.iterdir()}
    before.pop(".git")
    proc = run(tmp_path, *row.args, timeout=60)
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    if row.refuse:
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
        assert row.refuse in proc.stderr
        after = {p.name: p.read_bytes() if p.is_file() else b"" for p in tmp_path.iterdir()}
        after.pop(".git")
        assert after == before  # nothing written, nothing created (no file named pwn...)
    else:
        assert proc.returncode in (0, 1), proc.stderr


def test_unexpected_exception_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A bug anywhere: exit 2, one line naming the exception type and where, and a hint to
    report it; never the exception's message (it may hold a value), never a traceback."""
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=1\n")
    code = (
        "import sys, envsync_hook.runner as r\n"
        "def boom(*a, **k):\n"
        f"    raise RuntimeError('{SECRET}')\n"
        "r.check_pair = boom\n"
        "from envsync_hook.cli import main\n"
        "sys.exit(main(['check']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "internal error (RuntimeError" in proc.stderr and "report" in proc.stderr
    assert SECRET not in proc.stderr and "Traceback" not in proc.stderr


# --- hypothesis: no control character, no value, in any output ---------------------------------

_CONTROL = "".join(chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9B)) + "\u2028\u2029\u202e"
_KEY_CHARS = st.sampled_from(["A", "B", "_", "K", "x", *_CONTROL, "é", "::", "-", "1"])
_VALUE_CHARS = st.sampled_from(["a", " ", "#", "'", '"', "$", "{", "}", "\\", *_CONTROL, "::"])


def _bad(c: str) -> bool:
    """A character no output may hold raw: control characters (but the newline that ends each
    line), line and paragraph separators, bidi overrides."""
    return (c != "\n" and unicodedata.category(c) == "Cc") or c in "\u2028\u2029\u202e"


def _run_in_process(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2)
    return out.getvalue() + err.getvalue()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.tuples(
            st.lists(_KEY_CHARS, min_size=1, max_size=6).map("".join),
            st.lists(_VALUE_CHARS, max_size=6).map("".join),
        ),
        min_size=1,
        max_size=6,
    ),
    sep=st.sampled_from(["\n", "\r\n", "\r", "\u2028"]),
)
def test_no_control_character_or_value_in_any_output(
    tmp_path: Path, lines: list[tuple[str, str]], sep: str
) -> None:
    planted = [f"zq{n}v{n}qz" for n in range(len(lines))]
    env = sep.join(f"{k}={v}{planted[n]}" for n, (k, v) in enumerate(lines)) + "\n"
    template = "".join(f"{k}=tq{n}qt\n" for n, (k, _v) in enumerate(lines)) + "# C_1=zqcqz\n"
    import tempfile

    d = Path(tempfile.mkdtemp(dir=tmp_path))
    # bytes as built (Path.write_text takes no newline= before Python 3.10)
    (d / ".env.example").write_bytes(template.encode("utf-8"))
    (d / ".env").write_bytes(env.encode("utf-8"))
    os.chmod(d / ".env", 0o600)
    t, e = str(d / ".env.example"), str(d / ".env")
    outputs = [
        _run_in_process(["check", t, "--env", e, "--format", fmt])
        for fmt in ("text", "json", "junit", "github", "sarif")
    ]
    outputs.append(_run_in_process(["fix", t, "--env", e, "--diff"]))
    outputs.append(_run_in_process(["fix", t, "--env", e, "--dry-run"]))
    for text in outputs:
        assert not any(_bad(c) for c in text), repr(text)
        for value in (*planted, "zqcqz"):
            assert value not in text


def test_output_that_cannot_be_written_is_an_io_error(tmp_path: Path) -> None:
    """stdout on /dev/full: one line saying so, exit 2, not an 'internal error, report it'."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / ".env.example").write_text("A=1\nB=2\n")
    (tmp_path / ".env").write_text("A=1\n")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "envsync_hook", "check"],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert proc.returncode == 2
    assert proc.stderr.startswith("envsync: error: I/O error: No space left on device"), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
