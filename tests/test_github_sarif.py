"""``--format github`` and ``--sarif`` through the real command line.

The workflow commands are parsed the way the Actions runner parses them
(``actions/runner`` ``src/Runner.Common/ActionCommand.cs``: ``TryParseV2``, ``UnescapeProperty``,
``UnescapeData``), from a template whose path holds ``,``, ``:``, ``%``, CR and LF. The SARIF
file goes through Microsoft's validator (npm ``@microsoft/sarif-multitool``): the executable
named by ``$ENVSYNC_SARIF_MULTITOOL``, else the package installed under ``$ENVSYNC_SARIF_TOOLS``
or ``$ENVSYNC_NPM_CACHE`` (default ``<tmp>/envsync-npm``), which the test installs there with
npm when it is missing. It skips with the reason when node/npm or the package cannot be had.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from envsync_hook.findings import RULES

#: the syntax of an annotation: command, ``key=value`` properties (no raw ``,`` ``:`` CR LF in
#: a value), ``::`` and a one-line message
COMMAND = re.compile(
    r"^::(?P<cmd>error|warning|notice)"
    r"(?: (?P<props>[a-z]+=[^,:\r\n]*(?:,[a-z]+=[^,:\r\n]*)*))?"
    r"::(?P<data>[^\r\n]*)$"
)

# the runner's unescaping, in its order (the ``%`` mapping last)
_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))


def _unescape(s: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for escaped, token in mappings:
        s = s.replace(escaped, token)
    return s


class Annotation(NamedTuple):
    command: str
    properties: dict[str, str]
    message: str


def parse_annotation(line: str) -> Annotation:
    """``TryParseV2``: command info up to the next ``::``; properties split on ``,``, then ``=``."""
    assert COMMAND.match(line), f"not a well-formed workflow command: {line!r}"
    end = line.index("::", 2)
    info, data = line[2:end], line[end + 2 :]
    name, _, props = info.partition(" ")
    properties: dict[str, str] = {}
    for item in filter(None, props.split(",")):
        key, sep, value = item.partition("=")
        assert sep, item
        properties[key] = _unescape(value, _PROPERTY)
    return Annotation(name, properties, _unescape(data, _DATA))


def envsync(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "envsync_hook", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


# Values no output may show: each is unique and appears in no key, path or message.
SECRET_VALUES = ("tmpl-v4lue-one", "0per4tor-v4lue-two", "0per4tor-dup-first", "0per4tor-extra")

TEMPLATE = "# service\nSERVICE_URL=tmpl-v4lue-one\nWORKERS=4\n\n# added upstream\nNEW_KEY=on\n"
ENV = (
    "SERVICE_URL=0per4tor-v4lue-two\n"  # ENV003 changed-default (template line 2)
    "WORKERS=0per4tor-dup-first\n"
    "WORKERS=4\n"  # ENV006 duplicate-key (env file)
    "LOCAL_ONLY=0per4tor-extra\n"  # ENV002 extra-key (env file)
)  # NEW_KEY missing: ENV001 (template line 6); mode 0644: ENV011 (env file)

#: a directory name holding every character that needs escaping
NASTY_DIR = "deploy, prod: 100%\r\nsite"


def template_line(key: str) -> int:
    for number, line in enumerate(TEMPLATE.splitlines(), 1):
        if line.startswith(f"{key}="):
            return number
    raise AssertionError(key)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    try:
        site = tmp_path / NASTY_DIR
        site.mkdir()
    except OSError:  # pragma: no cover - file systems that refuse CR/LF in names
        pytest.skip("this file system refuses CR and LF in file names")
    (site / ".env.example").write_bytes(TEMPLATE.encode("utf-8"))
    (site / ".env").write_bytes(ENV.encode("utf-8"))
    (site / ".env").chmod(0o644)
    return tmp_path


def run_github(
    project: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[Annotation]]:
    proc = envsync(project, "check", f"{NASTY_DIR}/.env.example", *args, **env)
    assert proc.returncode == 1, proc.stderr
    commands = [line for line in proc.stdout.split("\n") if line.startswith("::")]
    return proc, [parse_annotation(line) for line in commands]


@pytest.mark.parametrize(
    "args_env",
    [
        (("--format", "github"), {}),
        ((), {"GITHUB_ACTIONS": "true"}),  # auto picks github on Actions
        (("--format", "auto"), {"GITHUB_ACTIONS": "true"}),
    ],
    ids=["--format github", "default on Actions", "--format auto on Actions"],
)
def test_annotations_parse_like_the_runner(
    project: Path, args_env: tuple[tuple[str, ...], dict[str, str]]
) -> None:
    args, env = args_env
    proc, annotations = run_github(project, *args, **env)
    template = f"{NASTY_DIR}/.env.example"
    codes = sorted(a.properties["title"].split()[0] for a in annotations)
    assert codes == ["ENV001", "ENV002", "ENV003", "ENV006", "ENV011"]
    for a in annotations:
        # every annotation points at the template, never at the env file
        assert a.properties["file"] == template, a
        code, slug = a.properties["title"].split()
        rule = next(r for r in RULES if r.code == code)
        assert slug == rule.slug
        assert (
            a.command == {"error": "error", "warning": "warning", "info": "notice"}[rule.severity]
        )
    by_code = {a.properties["title"].split()[0]: a for a in annotations}
    assert by_code["ENV001"].properties["line"] == str(template_line("NEW_KEY"))
    assert by_code["ENV001"].message.startswith("NEW_KEY: ")
    assert by_code["ENV003"].properties["line"] == str(template_line("SERVICE_URL"))
    # findings in the env file name it in the message, without a line in the template
    for code in ("ENV002", "ENV006", "ENV011"):
        assert "line" not in by_code[code].properties
        assert f"{NASTY_DIR}/.env" in by_code[code].message
    assert "LOCAL_ONLY" in by_code["ENV002"].message


def test_escaping_is_visible_in_the_raw_output(project: Path) -> None:
    proc, _ = run_github(project, "--format", "github")
    escaped_dir = "deploy%2C prod%3A 100%25%0D%0Asite"
    assert f"file={escaped_dir}/.env.example," in proc.stdout
    # in a message only %, CR and LF are escaped; ':' and ',' stay
    assert "deploy, prod: 100%25%0D%0Asite/.env" in proc.stdout
    for line in proc.stdout.split("\n"):
        assert "\r" not in line


def test_no_value_in_any_output(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    sarif = tmp_path / "out.sarif"
    proc, _ = run_github(
        project,
        "--format",
        "github",
        "--sarif",
        str(sarif),
        GITHUB_STEP_SUMMARY=str(summary),
    )
    outputs = proc.stdout + proc.stderr + summary.read_text("utf-8") + sarif.read_text("utf-8")
    for value in SECRET_VALUES:
        assert value not in outputs


def test_step_summary_carries_every_finding(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    proc, annotations = run_github(project, "--format", "github", GITHUB_STEP_SUMMARY=str(summary))
    text = summary.read_text("utf-8")
    assert text.startswith("earlier step\n")  # appended, not overwritten
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and re.search(r"ENV\d{3}", ln)]
    assert len(rows) == len(annotations) == 5


def test_no_summary_without_github_format(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    proc = envsync(
        project,
        "check",
        f"{NASTY_DIR}/.env.example",
        "--format",
        "text",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert proc.returncode == 1
    assert not summary.exists()
    assert not any(line.startswith("::") for line in proc.stdout.splitlines())


def test_skipped_pair_is_a_notice(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\n", encoding="utf-8")
    proc = envsync(tmp_path, "check", "--if-missing", "skip", GITHUB_ACTIONS="true")
    assert proc.returncode == 0
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("::")]
    assert parse_annotation(line).command == "notice"


# --- SARIF ------------------------------------------------------------------------------------

SARIF_PACKAGE = "@microsoft/sarif-multitool@5.7.0"


def _npm_cache() -> Path:
    """Where ``npm install`` put (or puts) the validator: ``$ENVSYNC_SARIF_TOOLS`` (set by
    ``.ci/run``), ``$ENVSYNC_NPM_CACHE``, else ``<tmp>/envsync-npm``."""
    named = os.environ.get("ENVSYNC_SARIF_TOOLS") or os.environ.get("ENVSYNC_NPM_CACHE")
    return Path(named or Path(tempfile.gettempdir()) / "envsync-npm")


@pytest.fixture(scope="session")
def sarif_multitool() -> str:
    """The validator's executable (the platform binary the npm package wraps)."""
    named = os.environ.get("ENVSYNC_SARIF_MULTITOOL")
    if named:
        return named
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(
            "node and npm are needed for Microsoft's SARIF validator (@microsoft/sarif-multitool)"
        )
    cache = _npm_cache()
    package = cache / "node_modules" / "@microsoft" / "sarif-multitool"
    if not package.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", SARIF_PACKAGE],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if proc.returncode != 0 or not package.is_dir():
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"cannot npm install {SARIF_PACKAGE} into {cache} (offline?): {reason}")
    proc = subprocess.run(
        [node, "-e", "process.stdout.write(require(process.argv[1]))", str(package)],
        capture_output=True,
        text=True,
        check=False,
    )
    binary = Path(proc.stdout)
    if proc.returncode != 0 or not binary.is_file():
        pytest.skip(f"{SARIF_PACKAGE} has no validator for this platform: {proc.stderr.strip()}")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o100)  # the package's postinstall step, if skipped
    return str(binary)


def validate(multitool: str, sarif: Path, out: Path) -> list[dict[str, Any]]:
    """Run ``sarif-multitool validate``; its findings (it exits 0 even when the file is bad)."""
    proc = subprocess.run(
        [
            multitool,
            "validate",
            str(sarif),
            "--output",
            str(out),
            "--log",
            "ForceOverwrite",
            "--level",
            "Error;Warning;Note",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = json.loads(out.read_text("utf-8-sig"))
    return [r for run in log["runs"] for r in run.get("results", [])]


def test_the_validator_catches_a_broken_file(sarif_multitool: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.sarif"
    bad.write_text('{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}', encoding="utf-8")
    results = validate(sarif_multitool, bad, tmp_path / "log.sarif")
    assert any(r.get("level") == "error" for r in results)


@pytest.mark.parametrize("command", ["check", "fix"])
def test_sarif_passes_microsofts_validator(
    sarif_multitool: str, project: Path, tmp_path: Path, command: str
) -> None:
    sarif = tmp_path / "envsync.sarif"
    proc = envsync(
        project, command, f"{NASTY_DIR}/.env.example", "--format", "text", "--sarif", str(sarif)
    )
    assert proc.returncode == 1, proc.stderr
    results = validate(sarif_multitool, sarif, tmp_path / "validation.sarif")
    problems = [
        f"{r.get('level')} {r['ruleId']}: {r.get('message')}"
        for r in results
        if r.get("level") in ("error", "warning")
    ]
    assert problems == []
    data = json.loads(sarif.read_text("utf-8"))
    run = data["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.code for r in RULES]
    assert run["tool"]["driver"]["version"]
    template_keyed = [r for r in run["results"] if r["ruleId"] in ("ENV001", "ENV003")]
    # fix reports what remains after the merge: the missing key is there now
    assert len(template_keyed) == (2 if command == "check" else 1)
    for r in template_keyed:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.endswith("/.env.example") and "%2C" in uri


def test_sarif_with_a_skipped_pair_passes_the_validator(
    sarif_multitool: str, tmp_path: Path
) -> None:
    (tmp_path / ".env.example").write_text("A=1\n", encoding="utf-8")
    sarif = tmp_path / "skipped.sarif"
    proc = envsync(tmp_path, "check", "--if-missing", "skip", "--sarif", str(sarif))
    assert proc.returncode == 0
    results = validate(sarif_multitool, sarif, tmp_path / "validation.sarif")
    assert [r for r in results if r.get("level") in ("error", "warning")] == []
