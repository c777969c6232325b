"""``envsync check`` as a real process: exit codes, pairing, errors, reports, colour, schema,
the Dify 1.4.0 -> 1.14.0 acceptance run against the real Docker Compose, and no secrets.

Every run is ``[sys.executable, "-m", "envsync_hook", ...]`` in a ``tmp_path`` working directory.
"""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

import envsync_hook


class Run(NamedTuple):
    rc: int
    out: str
    err: str


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "NO_COLOR",
            "GITHUB_ACTIONS",
            "GITHUB_STEP_SUMMARY",
            "TERM",
            "FORCE_COLOR",
            "CLICOLOR_FORCE",
        )
    }
    env.update(extra or {})
    return env


def envsync(*args: str | Path, cwd: Path, env: Mapping[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", *map(str, args)],
        cwd=cwd,
        env=clean_environ(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return Run(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


def envsync_tty(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Run:
    """Run with stdout on a pseudo-terminal."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "envsync_hook", *args],
        cwd=cwd,
        env=clean_environ(env),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8")
    proc.stderr.close()
    rc = proc.wait()
    return Run(rc, b"".join(chunks).decode("utf-8"), err)


def write(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    path.chmod(mode)
    return path


BASE_FILE = "base.env.example"
WITH_BASE = ["--base", BASE_FILE]


def pair(tmp_path: Path, template: str, env: str | None, base: str | None = None) -> Path:
    """The pair in ``tmp_path``; ``base`` (the previous template) goes to BASE_FILE."""
    t = write(tmp_path / ".env.example", template)
    if env is not None:
        write(tmp_path / ".env", env)
    if base is not None:
        write(tmp_path / BASE_FILE, base)
    return t


FINDING = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+): (?P<code>ENV\d{3}) (?P<slug>[a-z-]+)"
    r"(?: (?P<key>\S+))?: (?P<message>.+)$"
)
SUMMARY = re.compile(
    r"^(?P<error>\d+) errors?, (?P<warning>\d+) warnings?, (?P<info>\d+) info "
    r"in (?P<pairs>\d+) pairs?(?:, (?P<skipped>\d+) skipped)?(?:, \d+ changed)? "
    r"\(fail-on: (?P<fail_on>[a-z]+)\)$"
)


class Text(NamedTuple):
    findings: list[dict[str, str]]
    summary: dict[str, str]
    other: list[str]


def parse_text(out: str) -> Text:
    lines = out.splitlines()
    assert out.endswith("\n")
    m = SUMMARY.match(lines[-1])
    assert m, f"no summary line: {lines[-1]!r}"
    findings, other = [], []
    for line in lines[:-1]:
        f = FINDING.match(line)
        if f:
            findings.append(f.groupdict())
        else:
            other.append(line)
    return Text(findings, m.groupdict(), other)


def codes(text: Text) -> list[tuple[str, str]]:
    return [(f["code"], f["key"] or "") for f in text.findings]


# --- exit codes ----------------------------------------------------------------------------------

IN_SYNC = ("A=1\nB=2\n", "A=1\nB=2\n")
MISSING = ("A=1\nB=2\n", "A=1\n")  # ENV001 error
EXTRA = ("A=1\n", "A=1\nX=1\n")  # ENV002 warning
CHANGED = ("A=1\n", "A=2\n")  # ENV003 info
SYNTAX = ("A=1\n", "A=1\nB C=1\n")  # ENV007 error
DUPLICATE = ("A=1\n", "A=1\nA=1\n")  # ENV006 warning
# the template gained ``# O=1`` since BASE_FILE: ENV010 info, with ``--base`` only (DESIGN 4)
OPTIONAL = ("A=1\n# O=1\n", "A=1\n", "A=1\n")

EXIT_CODES = [
    ("in sync", IN_SYNC, [], 0),
    ("in sync, fail-on info", IN_SYNC, ["--fail-on", "info"], 0),
    ("missing", MISSING, [], 1),
    ("missing, fail-on error", MISSING, ["--fail-on", "error"], 1),
    ("missing, fail-on warning", MISSING, ["--fail-on", "warning"], 1),
    ("missing, fail-on never", MISSING, ["--fail-on", "never"], 0),
    ("missing demoted", MISSING, ["--severity", "missing-key=warning"], 0),
    (
        "missing demoted, fail-on warning",
        MISSING,
        ["--severity", "ENV001=warning", "--fail-on", "warning"],
        1,
    ),
    ("missing off", MISSING, ["--severity", "missing-key=off"], 0),
    ("missing ignored", MISSING, ["--ignore", "B"], 0),
    ("extra", EXTRA, [], 0),
    ("extra, fail-on warning", EXTRA, ["--fail-on", "warning"], 1),
    ("extra, fail-on info", EXTRA, ["--fail-on", "info"], 1),
    ("extra promoted", EXTRA, ["--severity", "extra-key=error"], 1),
    ("duplicate, fail-on warning", DUPLICATE, ["--fail-on", "warning"], 1),
    ("changed", CHANGED, [], 0),
    ("changed, fail-on warning", CHANGED, ["--fail-on", "warning"], 0),
    ("changed, fail-on info", CHANGED, ["--fail-on", "info"], 1),
    ("optional, fail-on info", OPTIONAL, [*WITH_BASE, "--fail-on", "info"], 1),
    ("optional, fail-on warning", OPTIONAL, [*WITH_BASE, "--fail-on", "warning"], 0),
    ("optional without base, fail-on info", OPTIONAL, ["--fail-on", "info"], 0),
    ("syntax", SYNTAX, [], 1),
    ("syntax, fail-on never", SYNTAX, ["--fail-on", "never"], 0),
]


@pytest.mark.parametrize(
    ("texts", "args", "rc"), [c[1:] for c in EXIT_CODES], ids=[c[0] for c in EXIT_CODES]
)
def test_exit_codes(tmp_path: Path, texts: tuple[str, ...], args: list[str], rc: int) -> None:
    pair(tmp_path, *texts)
    run = envsync("check", *args, cwd=tmp_path)
    assert run.rc == rc, run
    assert "Traceback" not in run.err
    parse_text(run.out)


@pytest.mark.parametrize(
    ("texts", "args", "expected"),
    [
        (IN_SYNC, [], []),
        (MISSING, [], [("ENV001", "B")]),
        (EXTRA, [], [("ENV002", "X")]),
        (CHANGED, [], [("ENV003", "A")]),
        (SYNTAX, [], [("ENV007", "")]),
        (DUPLICATE, [], [("ENV006", "A")]),
        (OPTIONAL, WITH_BASE, [("ENV010", "O")]),
        (OPTIONAL, [], []),  # ENV010 needs a base
        (OPTIONAL[:2] + ("A=1\n# O=0\n",), WITH_BASE, []),  # the base already offered it
        (OPTIONAL[:2] + ("A=1\nO=1\n",), WITH_BASE, []),  # the base assigned it
        ((OPTIONAL[0], "A=1\nO=2\n", OPTIONAL[2]), WITH_BASE, []),  # the env sets it
    ],
)
def test_text_findings(
    tmp_path: Path, texts: tuple[str, ...], args: list[str], expected: list[tuple[str, str]]
) -> None:
    pair(tmp_path, *texts)
    assert codes(parse_text(envsync("check", *args, cwd=tmp_path).out)) == expected


# --- I/O errors: exit 2, one line naming the file, no traceback ----------------------------------


def assert_one_line_error(run: Run, name: str) -> None:
    assert run.rc == 2, run
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert name in lines[0]


def test_missing_default_template(tmp_path: Path) -> None:
    run = envsync("check", cwd=tmp_path)
    assert_one_line_error(run, ".env.example")
    assert run.out == ""


def test_missing_named_template(tmp_path: Path) -> None:
    pair(tmp_path, *IN_SYNC)
    run = envsync("check", "nowhere/app.env.example", cwd=tmp_path)
    assert_one_line_error(run, "nowhere/app.env.example")


BAD_BYTES = [
    ("invalid UTF-8", b"A=1\nB=\xff\xfe\n"),
    ("latin-1", "A=caf\u00e9\n".encode("latin-1")),
    ("NUL byte", b"A=1\nB=x\x00y\n"),
    ("UTF-16", "A=1\n".encode("utf-16")),
]


@pytest.mark.parametrize("which", [".env", ".env.example"])
@pytest.mark.parametrize("content", [b for _, b in BAD_BYTES], ids=[n for n, _ in BAD_BYTES])
def test_undecodable_file(tmp_path: Path, which: str, content: bytes) -> None:
    pair(tmp_path, *IN_SYNC)
    write(tmp_path / which, content)
    assert_one_line_error(envsync("check", cwd=tmp_path), which)


def test_env_is_a_directory(tmp_path: Path) -> None:
    pair(tmp_path, "A=1\n", None)
    (tmp_path / ".env").mkdir()
    assert_one_line_error(envsync("check", cwd=tmp_path), ".env")


def test_template_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / ".env.example").mkdir()
    write(tmp_path / ".env", "A=1\n")
    assert_one_line_error(envsync("check", cwd=tmp_path), ".env.example")


def test_env_is_a_fifo(tmp_path: Path) -> None:
    pair(tmp_path, "A=1\n", None)
    os.mkfifo(tmp_path / ".env")
    assert_one_line_error(envsync("check", cwd=tmp_path), ".env")


def _without_read_override() -> list[str]:
    """A command prefix under which a mode-000 file is unreadable, even for root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root reads a mode-000 file, and setpriv is not installed to prevent it")
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("which", [".env", ".env.example"])
def test_unreadable_file(tmp_path: Path, which: str) -> None:
    pair(tmp_path, *IN_SYNC)
    (tmp_path / which).chmod(0)
    proc = subprocess.run(
        [*_without_read_override(), sys.executable, "-m", "envsync_hook", "check"],
        cwd=tmp_path,
        env=clean_environ(),
        capture_output=True,
        check=False,
    )
    run = Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert_one_line_error(run, which)
    assert "permission denied" in run.err.lower()


@pytest.mark.parametrize("target", [".env", "nowhere/.env"], ids=["loop", "dangling"])
def test_env_is_a_bad_symlink(tmp_path: Path, target: str) -> None:
    pair(tmp_path, "A=1\n", None)
    (tmp_path / ".env").symlink_to(target)
    assert_one_line_error(envsync("check", cwd=tmp_path), ".env")


def test_error_names_the_file_not_its_content(tmp_path: Path) -> None:
    token = secrets.token_hex(16)
    pair(tmp_path, "A=1\n", None)
    write(tmp_path / ".env", f"A={token}\n".encode() + b"B=\xff\n")
    run = envsync("check", cwd=tmp_path)
    assert_one_line_error(run, ".env")
    assert token not in run.err + run.out


# --- a missing env file: ENV012, or skipped ------------------------------------------------------


def test_missing_env_is_env012(tmp_path: Path) -> None:
    pair(tmp_path, "A=1\nB=2\n", None)
    run = envsync("check", cwd=tmp_path)
    assert run.rc == 1, run
    text = parse_text(run.out)
    assert codes(text) == [("ENV012", "")]
    (f,) = text.findings
    assert f["file"] == ".env.example"
    assert ".env" in f["message"]
    assert text.summary["error"] == "1"


def test_missing_env_skip(tmp_path: Path) -> None:
    pair(tmp_path, "A=1\nB=2\n", None)
    run = envsync("check", "--if-missing", "skip", cwd=tmp_path)
    assert run.rc == 0, run
    text = parse_text(run.out)
    assert text.findings == []
    assert text.summary["skipped"] == "1"
    assert ".env" in run.err and "skip" in run.err
    assert not (tmp_path / ".env").exists()


def test_missing_env_skip_quiet(tmp_path: Path) -> None:
    pair(tmp_path, "A=1\n", None)
    run = envsync("check", "--if-missing", "skip", "--quiet", cwd=tmp_path)
    assert run.rc == 0
    assert run.err == ""


def test_missing_env_skip_does_not_hide_other_pairs(tmp_path: Path) -> None:
    write(tmp_path / "a.env.example", "A=1\n")
    write(tmp_path / "b.env.example", "B=1\n")
    write(tmp_path / "b.env", "")
    run = envsync("check", "--if-missing", "skip", "a.env.example", "b.env.example", cwd=tmp_path)
    assert run.rc == 1
    text = parse_text(run.out)
    assert [(f["file"], f["code"], f["key"]) for f in text.findings] == [
        ("b.env.example", "ENV001", "B")
    ]
    assert (text.summary["pairs"], text.summary["skipped"]) == ("2", "1")


# --- pairing by naming convention ----------------------------------------------------------------

NAMING = [
    (".env.example", ".env"),
    ("app.env.example", "app.env"),
    ("docker/.env.example", "docker/.env"),
    ("docker/api.env.example", "docker/api.env"),
    (".env.sample", ".env"),
    (".env.template", ".env"),
    (".env.dist", ".env"),
    ("web.env.sample", "web.env"),
    ("db.env.dist", "db.env"),
    ("example.env", ".env"),
    ("sub/example.env", "sub/.env"),
    (".env.production.example", ".env.production"),
    ("docker/.env.local.sample", "docker/.env.local"),
    ("env.sample", ".env"),
    ("deploy/env.example", "deploy/.env"),
    (".env-example", ".env"),
]


@pytest.mark.parametrize(("template", "env"), NAMING)
def test_pairing_by_name(tmp_path: Path, template: str, env: str) -> None:
    write(tmp_path / template, "A=1\n")
    write(tmp_path / env, "A=1\nX_ONLY_HERE=1\n")
    run = envsync("check", template, cwd=tmp_path)
    assert run.rc == 0, run
    text = parse_text(run.out)
    assert [(f["file"], f["line"], f["code"], f["key"]) for f in text.findings] == [
        (env, "2", "ENV002", "X_ONLY_HERE")
    ]


@pytest.mark.parametrize(("template", "env"), NAMING)
def test_pairing_names_the_missing_env(tmp_path: Path, template: str, env: str) -> None:
    write(tmp_path / template, "A=1\n")
    run = envsync("check", template, cwd=tmp_path)
    assert run.rc == 1
    (f,) = parse_text(run.out).findings
    assert f["code"] == "ENV012"
    assert env in f["message"]


def test_unpairable_name_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "settings.txt", "A=1\n")
    assert_one_line_error(envsync("check", "settings.txt", cwd=tmp_path), "settings.txt")


def test_env_option_overrides_the_convention(tmp_path: Path) -> None:
    write(tmp_path / "settings.txt", "A=1\nB=2\n")
    write(tmp_path / "prod" / "live.env", "A=1\n")
    write(tmp_path / ".env", "A=1\nB=2\n")
    run = envsync("check", "settings.txt", "--env", "prod/live.env", cwd=tmp_path)
    assert run.rc == 1
    assert codes(parse_text(run.out)) == [("ENV001", "B")]


def test_env_with_two_templates_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "a.env.example", "A=1\n")
    write(tmp_path / "b.env.example", "B=1\n")
    write(tmp_path / "x.env", "A=1\nB=1\n")
    run = envsync("check", "a.env.example", "b.env.example", "--env", "x.env", cwd=tmp_path)
    assert run.rc == 2
    assert "Traceback" not in run.err
    assert "--env" in run.err
    assert run.out == ""


def test_several_templates_in_one_run(tmp_path: Path) -> None:
    write(tmp_path / "api.env.example", "A=1\nB=2\n")
    write(tmp_path / "api.env", "A=1\n")
    write(tmp_path / "web" / ".env.example", "W=1\n")
    write(tmp_path / "web" / ".env", "W=1\nOLD=1\n")
    write(tmp_path / ".env.sample", "S=1\n")
    write(tmp_path / ".env", "S=2\n")
    run = envsync("check", "api.env.example", "web/.env.example", ".env.sample", cwd=tmp_path)
    assert run.rc == 1
    text = parse_text(run.out)
    assert sorted((f["file"], f["code"], f["key"]) for f in text.findings) == [
        (".env.sample", "ENV003", "S"),
        ("api.env.example", "ENV001", "B"),
        ("web/.env", "ENV002", "OLD"),
    ]
    assert (text.summary["error"], text.summary["warning"], text.summary["info"]) == ("1", "1", "1")
    assert text.summary["pairs"] == "3"


def test_same_template_twice_is_one_pair(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync("check", ".env.example", "./.env.example", cwd=tmp_path)
    text = parse_text(run.out)
    assert codes(text) == [("ENV001", "B")]
    assert text.summary["pairs"] == "1"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    pair(tmp_path, *IN_SYNC)
    for args in (
        ["check", "--fail-on", "sometimes"],
        ["check", "--format", "yaml"],
        ["check", "--if-missing", "create"],
        ["check", "--severity", "missing-key=fatal"],
        ["check", "--severity", "no-such-rule=error"],
        ["check", "--no-such-option"],
        [],
    ):
        run = envsync(*args, cwd=tmp_path)
        assert run.rc == 2, (args, run)
        assert "Traceback" not in run.err


# --- text format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("with_base", [True, False], ids=["base", "no-base"])
def test_text_lines_and_summary(tmp_path: Path, with_base: bool) -> None:
    pair(
        tmp_path,
        "# app\nA=1\nB=2\n\nC=http://x\n# OPT=1\n",
        "A=1\nC=http://y\nX=1\nX=2\n",
        # the previous template: the same defaults, without ``# OPT=1``
        "# app\nA=1\nB=2\n\nC=http://x\n",
    )
    run = envsync("check", *(WITH_BASE if with_base else []), cwd=tmp_path)
    assert run.rc == 1
    text = parse_text(run.out)
    # one header line says which base the pair was compared with, and where it came from
    based = (
        f".env: base from option: --base {BASE_FILE}" if with_base else ".env: no base (two-way)"
    )
    assert text.other == [based]
    got = [(f["file"], int(f["line"]), f["code"], f["slug"], f["key"]) for f in text.findings]
    # ENV010 only with a base: the template gained the commented-out OPT (DESIGN 4)
    optional = [(".env.example", 6, "ENV010", "new-optional-key", "OPT")] if with_base else []
    assert sorted(got) == sorted(
        [
            (".env.example", 3, "ENV001", "missing-key", "B"),
            (".env.example", 5, "ENV003", "changed-default", "C"),
            *optional,
            (".env", 4, "ENV002", "extra-key", "X"),  # the assignment compose uses
            (".env", 4, "ENV006", "duplicate-key", "X"),
        ]
    )
    assert "url-change" in next(f["message"] for f in text.findings if f["code"] == "ENV003")
    assert text.summary == {
        "error": "1",
        "warning": "2",
        "info": "2" if with_base else "1",
        "pairs": "1",
        "skipped": None,
        "fail_on": "error",
    }


def test_output_file(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    stdout = envsync("check", cwd=tmp_path)
    run = envsync("check", "--output", "report.txt", cwd=tmp_path)
    assert run.rc == 1
    assert run.out == ""
    assert (tmp_path / "report.txt").read_text(encoding="utf-8") == stdout.out


@pytest.mark.parametrize("option", ["--output", "--json", "--junit", "--sarif"])
def test_unwritable_report_file(tmp_path: Path, option: str) -> None:
    pair(tmp_path, *MISSING)
    (tmp_path / "taken").mkdir()
    for target in ("taken", "no/such/dir/report"):
        run = envsync("check", option, target, cwd=tmp_path)
        assert_one_line_error(run, target)


def test_auto_format_is_github_on_github_actions(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync("check", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert run.rc == 1
    assert run.out.startswith("::error file=.env.example,line=2,title=ENV001 missing-key::B: ")
    assert envsync(
        "check", "--format", "text", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"}
    ).out == (envsync("check", cwd=tmp_path).out)


def test_permissions_finding(tmp_path: Path) -> None:
    pair(tmp_path, *IN_SYNC)
    (tmp_path / ".env").chmod(0o644)
    run = envsync("check", cwd=tmp_path)
    assert run.rc == 0
    assert codes(parse_text(run.out)) == [("ENV011", "")]
    assert envsync("check", "--fail-on", "warning", cwd=tmp_path).rc == 1


# --- colour --------------------------------------------------------------------------------------

ANSI = "\x1b["


def test_no_colour_when_not_a_tty(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    assert ANSI not in envsync("check", cwd=tmp_path).out


def test_colour_always(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync("check", "--color", "always", cwd=tmp_path)
    assert ANSI in run.out
    assert re.sub(r"\x1b\[[0-9;]*m", "", run.out) == envsync("check", cwd=tmp_path).out


def test_colour_on_a_tty(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync_tty("check", cwd=tmp_path)
    assert run.rc == 1
    assert ANSI in run.out


@pytest.mark.parametrize(
    ("args", "environ"),
    [([], {"NO_COLOR": "1"}), (["--color", "never"], {}), ([], {"TERM": "dumb"})],
)
def test_no_colour_on_a_tty_when_asked(
    tmp_path: Path, args: list[str], environ: dict[str, str]
) -> None:
    pair(tmp_path, *MISSING)
    run = envsync_tty("check", *args, cwd=tmp_path, env=environ)
    assert run.rc == 1
    assert "ENV001" in run.out
    assert ANSI not in run.out


@pytest.mark.parametrize(
    ("environ", "coloured"),
    [
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "0"}, True),  # force-color.org: any non-empty value
        ({"FORCE_COLOR": ""}, False),
        ({"CLICOLOR_FORCE": "1"}, True),
        ({"CLICOLOR_FORCE": "0"}, False),
        ({"FORCE_COLOR": "1", "TERM": "dumb"}, True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
        ({"CLICOLOR_FORCE": "1", "NO_COLOR": "1"}, False),
        ({"NO_COLOR": ""}, False),  # empty NO_COLOR is unset; not a terminal: no colour
    ],
)
def test_colour_forced_by_the_environment(
    tmp_path: Path, environ: dict[str, str], coloured: bool
) -> None:
    """Not a terminal (a CI log): FORCE_COLOR or CLICOLOR_FORCE turn colour on, NO_COLOR off."""
    pair(tmp_path, *MISSING)
    run = envsync("check", cwd=tmp_path, env=environ)
    assert run.rc == 1
    assert (ANSI in run.out) is coloured
    forced_never = envsync("check", "--color", "never", cwd=tmp_path, env=environ)
    assert ANSI not in forced_never.out


def test_output_dash_is_standard_output(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync("check", "--format", "json", "--output", "-", cwd=tmp_path)
    assert run.rc == 1
    assert json.loads(run.out)["summary"]["total"] == 1
    assert not (tmp_path / "-").exists()
    tty = envsync_tty("check", "--output", "-", cwd=tmp_path)
    assert ANSI in tty.out  # standard output on a terminal: coloured as without --output


def test_colour_never_goes_to_files(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    run = envsync(
        "check", "--color", "always", "--output", "r.txt", "--json", "r.json", cwd=tmp_path
    )
    assert run.rc == 1
    assert ANSI not in (tmp_path / "r.txt").read_text(encoding="utf-8")
    assert ANSI not in (tmp_path / "r.json").read_text(encoding="utf-8")


# --- JSON and its schema -------------------------------------------------------------------------


def schema_of(tmp_path: Path) -> dict[str, Any]:
    run = envsync("schema", cwd=tmp_path)
    assert run.rc == 0, run
    schema: dict[str, Any] = json.loads(run.out)
    return schema


def validate(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    cls(schema).validate(instance)


def test_schema_validates_the_json_report(tmp_path: Path) -> None:
    schema = schema_of(tmp_path)
    write(tmp_path / "a.env.example", "A=1\nB=http://x\n# O=1\n")
    write(tmp_path / "a.env", "B=http://y\nX=1\nX=2\nK L=1\n", mode=0o644)
    write(tmp_path / "b.env.example", "A=1\n")
    # the base (for both pairs) lacks a.env.example's ``# O=1``: ENV010 (DESIGN 4)
    write(tmp_path / BASE_FILE, "A=1\nB=http://x\n")
    run = envsync(
        "check", "a.env.example", "b.env.example", *WITH_BASE, "--format", "json", cwd=tmp_path
    )
    assert run.rc == 1
    report = json.loads(run.out)
    validate(report, schema)
    found = {f["code"] for p in report["pairs"] for f in p["findings"]}
    assert found >= {"ENV001", "ENV002", "ENV003", "ENV006", "ENV007", "ENV010", "ENV011", "ENV012"}


def test_schema_rejects_a_broken_report(tmp_path: Path) -> None:
    """The schema is not vacuous: a report with a bad field fails it."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = schema_of(tmp_path)
    pair(tmp_path, *CHANGED)
    report = json.loads(envsync("check", "--format", "json", cwd=tmp_path).out)
    validate(report, schema)
    for breaks in (
        lambda r: r["pairs"][0]["findings"][0].update(severity="fatal"),
        lambda r: r["pairs"][0]["findings"][0].update(analysis="sideways"),
        lambda r: r["pairs"][0]["findings"][0].update(code="E1"),
        lambda r: r["summary"].pop("total"),
        lambda r: r.update(surprise=1),
    ):
        broken = json.loads(json.dumps(report))
        breaks(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, schema)


def test_json_file_equals_json_format(tmp_path: Path) -> None:
    pair(tmp_path, *MISSING)
    stdout = envsync("check", "--format", "json", cwd=tmp_path)
    run = envsync("check", "--json", "r.json", cwd=tmp_path)
    first, second = json.loads(stdout.out), json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert first == second
    assert first["summary"]["failed"] is True
    assert parse_text(run.out).findings  # stdout stays text


def test_version(tmp_path: Path) -> None:
    run = envsync("--version", cwd=tmp_path)
    assert run.rc == 0
    assert run.out.strip() == f"envsync-hook {envsync_hook.__version__}"
    from importlib.metadata import version

    assert version("envsync-hook") == envsync_hook.__version__


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "envsync"
    if not script.exists():
        pytest.skip("the envsync console script is not installed beside this Python")
    pair(tmp_path, *MISSING)
    proc = subprocess.run(
        [str(script), "check"], cwd=tmp_path, env=clean_environ(), capture_output=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stdout.decode() == envsync("check", cwd=tmp_path).out


# --- acceptance: Dify 1.4.0 .env against the 1.14.0 template, checked by Docker Compose ----------

ComposeRead = Callable[..., "list[Any]"]


class Acceptance(NamedTuple):
    template_text: str
    env_text: str
    run: Run
    junit: Path
    json_file: Path


@pytest.fixture(scope="module")
def dify(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Acceptance:
    old = corpus / "dify" / "1.4.0" / "docker" / ".env.example"
    new = corpus / "dify" / "1.14.0" / "docker" / ".env.example"
    work = tmp_path_factory.mktemp("dify")
    template = write(work / ".env.example", new.read_bytes())
    env = write(work / ".env", old.read_bytes())
    run = envsync("check", "--junit", "report.xml", "--json", "report.json", cwd=work)
    return Acceptance(
        template.read_text("utf-8"),
        env.read_text("utf-8"),
        run,
        work / "report.xml",
        work / "report.json",
    )


def _compose_keys(compose: ComposeRead, *texts: str) -> list[set[str]]:
    out = []
    for result in compose(list(texts), {}):
        assert isinstance(result, dict), result
        out.append(set(result))
    return out


def test_dify_missing_keys_are_what_compose_reads(compose: ComposeRead, dify: Acceptance) -> None:
    template_keys, env_keys = _compose_keys(compose, dify.template_text, dify.env_text)
    expected = template_keys - env_keys
    assert len(expected) > 100  # the upgrade really adds keys
    text = parse_text(dify.run.out)
    missing = {f["key"] for f in text.findings if f["code"] == "ENV001"}
    assert missing == expected
    assert dify.run.rc == 1
    assert "Traceback" not in dify.run.err


def test_dify_extra_keys_are_what_compose_reads(compose: ComposeRead, dify: Acceptance) -> None:
    """ENV002 + commented opt-ins the .env sets = keys compose reads from .env, not the template."""
    template_keys, env_keys = _compose_keys(compose, dify.template_text, dify.env_text)
    text = parse_text(dify.run.out)
    extra = {f["key"] for f in text.findings if f["code"] == "ENV002"}
    assert extra <= env_keys - template_keys
    commented = {c.key for c in envsync_hook.parse(dify.template_text).commented}
    assert (env_keys - template_keys) - extra <= commented


OPT_IN = re.compile(r"(?m)^[ \t]*#[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=")


def _junit_cases(junit: Path) -> tuple[Any, list[Any]]:
    """The one testsuite (for the one pair) and its testcases, checked for their shape."""
    from junitparser import JUnitXml

    xml = JUnitXml.fromfile(str(junit))
    assert isinstance(xml, JUnitXml)  # a <testsuites> root
    suites = list(xml)
    assert len(suites) == 1
    (suite,) = suites
    assert suite.name == ".env.example"
    cases = list(suite)
    assert suite.tests == len(cases)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "one testcase per key"
    for c in cases:
        assert c._elem.get("time") is not None
    return suite, cases


def _failed(cases: list[Any]) -> set[str]:
    from junitparser import Failure

    return {c.name for c in cases if any(isinstance(r, Failure) for r in c.result)}


def _assert_key_lines(cases: list[Any], keys: set[str], template_text: str) -> None:
    """A failing template key's testcase names its assignment in the template, in the failure
    text (``.env.example:LINE: ENV001 ...``); junit-10.xsd has no file or line attribute."""
    lines = template_text.splitlines()
    located = 0
    for c in cases:
        assert c.classname == ".env.example"
        assert c._elem.get("file") is None and c._elem.get("line") is None
        if c.name in keys and c.result:
            where = re.match(r"\.env\.example:(\d+): ENV\d{3} ", c.result[0].text)
            assert where, c.result[0].text
            line = int(where.group(1))
            assert re.match(rf"\s*(?:export\s+)?{re.escape(c.name)}\s*[=:]", lines[line - 1]), (
                c.name
            )
            located += 1
    assert located


def test_dify_junit(compose: ComposeRead, dify: Acceptance) -> None:
    """Without a base: one testcase per key checked (each template key, then each key only the
    .env assigns), and none for a commented-out opt-in, which is no finding without a base."""
    template_keys, env_keys = _compose_keys(compose, dify.template_text, dify.env_text)
    suite, cases = _junit_cases(dify.junit)
    names = [c.name for c in cases]
    opt_in = set(OPT_IN.findall(dify.template_text)) - template_keys - env_keys
    assert opt_in, "1.14.0 offers opt-ins the 1.4.0 .env does not set"
    assert set(names) == template_keys | env_keys
    assert len(names) == len(template_keys | env_keys)
    assert not opt_in & set(names)
    assert not [c for c in cases if "ENV010" in (c.system_out or "")]
    assert "ENV010" not in {f["code"] for f in parse_text(dify.run.out).findings}
    failed = _failed(cases)
    assert failed == template_keys - env_keys
    _assert_key_lines(cases, template_keys, dify.template_text)
    assert suite.failures == len(failed)


class BaseAcceptance(NamedTuple):
    base_text: str
    template_text: str
    env_text: str
    run: Run
    junit: Path


@pytest.fixture(scope="module")
def dify_base(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> BaseAcceptance:
    """The same upgrade, with the 1.4.0 template as the base (``--base``)."""
    old = corpus / "dify" / "1.4.0" / "docker" / ".env.example"
    new = corpus / "dify" / "1.14.0" / "docker" / ".env.example"
    work = tmp_path_factory.mktemp("dify-base")
    base = write(work / BASE_FILE, old.read_bytes())
    template = write(work / ".env.example", new.read_bytes())
    env = write(work / ".env", old.read_bytes())
    run = envsync("check", *WITH_BASE, "--junit", "report.xml", cwd=work)
    return BaseAcceptance(
        base.read_text("utf-8"),
        template.read_text("utf-8"),
        env.read_text("utf-8"),
        run,
        work / "report.xml",
    )


def test_dify_junit_with_base(compose: ComposeRead, dify_base: BaseAcceptance) -> None:
    """With a base: besides each key checked, a testcase of its own for each commented-out opt-in
    the template gained since the base (neither assigned nor commented there) that neither file
    assigns: ENV010, info, so listed in system-out, not a failure at the default fail-on."""
    template_keys, env_keys, base_keys = _compose_keys(
        compose, dify_base.template_text, dify_base.env_text, dify_base.base_text
    )
    assert dify_base.run.rc == 1
    assert "Traceback" not in dify_base.run.err
    suite, cases = _junit_cases(dify_base.junit)
    names = [c.name for c in cases]
    gained = (
        set(OPT_IN.findall(dify_base.template_text))
        - template_keys
        - env_keys
        - base_keys
        - set(OPT_IN.findall(dify_base.base_text))
    )
    assert gained, "1.14.0 gained opt-ins since 1.4.0 that the 1.4.0 .env does not set"
    assert set(names) == template_keys | env_keys | gained
    assert len(names) == len(template_keys | env_keys | gained)
    lines = dify_base.template_text.splitlines()
    optional = [c for c in cases if " ENV010 new-optional-key " in (c.system_out or "")]
    assert {c.name for c in optional} == gained
    for c in optional:
        where = re.match(r"\.env\.example:(\d+): ENV010 ", c.system_out)
        assert where, c.system_out
        line = int(where.group(1))
        assert re.match(rf"\s*#\s*(?:export\s+)?{re.escape(c.name)}=", lines[line - 1]), c.name
    text = parse_text(dify_base.run.out)
    assert {f["key"] for f in text.findings if f["code"] == "ENV010"} == gained
    failed = _failed(cases)
    assert failed == template_keys - env_keys
    assert suite.failures == len(failed)
    _assert_key_lines(cases, template_keys, dify_base.template_text)


def test_dify_json_counts_agree_with_text(dify: Acceptance) -> None:
    report = json.loads(dify.json_file.read_text("utf-8"))
    text = parse_text(dify.run.out)
    summary = report["summary"]
    assert {k: str(v) for k, v in summary["by_severity"].items()} == {
        k: text.summary[k] for k in ("error", "warning", "info")
    }
    assert summary["total"] == len(text.findings)
    per_code: dict[str, int] = {}
    for f in text.findings:
        per_code[f["code"]] = per_code.get(f["code"], 0) + 1
    assert {k: v for k, v in summary["by_code"].items() if v} == per_code
    assert summary["failed"] is True
    json_findings = sorted(
        (f["file"], f["line"], f["code"], f["key"]) for p in report["pairs"] for f in p["findings"]
    )
    text_findings = sorted(
        (f["file"], int(f["line"]), f["code"], f["key"] or "") for f in text.findings
    )
    assert json_findings == text_findings


# --- no secret in any output ---------------------------------------------------------------------


class Planted(NamedTuple):
    tokens: dict[str, str]  # what -> token
    innocent: str  # the token of an innocent key (shown under --show-values)


def plant(tmp_path: Path) -> Planted:
    tok = {
        name: "s3cr" + secrets.token_hex(12)
        for name in (
            "password",
            "api_key",
            "innocent",
            "url_password",
            "extra_secret",
            "extra_plain",
            "duplicate",
            "multiline",
            "optional",
            "syntax",
            "relocated",
            "template_default",
            "template_secret",
            "single",
        )
    }
    template = (
        "# settings\n"
        f"DB_PASSWORD={tok['template_secret']}\n"
        "OPENAI_API_KEY=\n"
        f"LOG_LEVEL={tok['template_default']}\n"
        "DB_URL=postgresql://postgres:difyai123456@db:5432/dify\n"
        "CERT_PEM=''\n"
        "NEW_KEY=value\n"
        "# OPT_IN=off\n"
        f"NEW_DEFAULT={tok['template_default']}x\n"
    )
    env = (
        f"DB_PASSWORD={tok['password']}\n"
        f"OPENAI_API_KEY='{tok['api_key']}'\n"
        f"LOG_LEVEL={tok['innocent']}\n"
        f"DB_URL=postgresql://postgres:{tok['url_password']}@db:5432/dify\n"
        f'CERT_PEM="-----BEGIN-----\n{tok["multiline"]}\n-----END-----"\n'
        f"MY_TOKEN={tok['extra_secret']}\n"
        f"MY_NOTE={tok['extra_plain']}\n"
        f"MY_NOTE={tok['duplicate']}\n"
        f"OPT_IN={tok['optional']}\n"
        f"MOVED={tok['relocated']}\n"
        f"QUOTED='{tok['single']}'\n"
        f"BROKEN KEY={tok['syntax']}\n"
    )
    write(tmp_path / ".env.example", template)
    write(tmp_path / ".env", env, mode=0o644)
    write(tmp_path / "envs" / "more.env.example", "MOVED=1\n")
    return Planted(tok, tok["innocent"])


REPORT_FILES = ("r.xml", "r.json", "r.sarif", "out.txt")


def test_no_secret_in_any_output(tmp_path: Path) -> None:
    planted = plant(tmp_path)
    outputs: dict[str, str] = {}
    for fmt in ("text", "json", "junit", "github", "sarif"):
        for extra in ([], ["--fail-on", "info"]):
            run = envsync(
                "check",
                "--also",
                "envs/*.env.example",
                "--format",
                fmt,
                *extra,
                cwd=tmp_path,
                env={"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
                if fmt == "github"
                else None,
            )
            assert run.rc == 1, run
            outputs[f"{fmt} {extra} stdout"] = run.out
            outputs[f"{fmt} {extra} stderr"] = run.err
    run = envsync(
        "check",
        "--also",
        "envs/*.env.example",
        "--junit",
        "r.xml",
        "--json",
        "r.json",
        "--sarif",
        "r.sarif",
        "--output",
        "out.txt",
        cwd=tmp_path,
    )
    outputs["files run stdout"] = run.out + run.err
    for name in (*REPORT_FILES, "summary.md"):
        outputs[name] = (tmp_path / name).read_text("utf-8")
    # the runs saw the planted lines: every kind of finding is there
    report = json.loads(outputs["r.json"])
    found = {f["code"] for p in report["pairs"] for f in p["findings"]}
    assert found >= {"ENV001", "ENV002", "ENV003", "ENV006", "ENV007", "ENV008", "ENV011"}
    for what, token in planted.tokens.items():
        for name, output in outputs.items():
            assert token not in output, f"{what} value leaked into {name}"
    for name, output in outputs.items():
        assert "difyai123456" not in output, name


def test_show_values_shows_innocent_values_only(tmp_path: Path) -> None:
    """The planted tokens are visible to this test: --show-values prints the innocent one."""
    planted = plant(tmp_path)
    for fmt in ("text", "json", "junit"):
        run = envsync("check", "--show-values", "--format", fmt, cwd=tmp_path)
        assert run.rc == 1
        both = run.out + run.err
        assert planted.innocent in both, fmt
        for what in (
            "password",
            "api_key",
            "url_password",
            "multiline",
            "extra_secret",
            "template_secret",
        ):
            assert planted.tokens[what] not in both, f"{what} shown by --show-values ({fmt})"
