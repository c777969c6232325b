from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from typing import Any, get_args

import pytest
from junitparser import Failure, JUnitXml, Skipped

from envsync_hook import base
from envsync_hook.findings import (
    ANALYSIS_KINDS,
    FAIL_ON_CHOICES,
    RULES,
    SEVERITIES,
    Finding,
    PairResult,
    make_finding,
)
from envsync_hook.reporters import (
    FORMATS,
    REPORTERS,
    ReportOptions,
    get_reporter,
    github,
    json_report,
    json_schema,
    sarif,
    step_summary,
    text,
)

OPTS = ReportOptions(fail_on="error", color=False, version="9.8.7")

MISSING = make_finding("ENV001", "DB_HOST", "docker/.env.example", 3, "not set in docker/.env")
CHANGED = make_finding(
    "ENV003",
    "WORKERS",
    "docker/.env.example",
    5,
    "differs from the template default (numeric-increase)",
    analysis="numeric-increase",
)
STALE = make_finding(
    "ENV004", "WORKERS", "docker/.env.example", 5, "holds the old default", analysis="text-change"
)
EXTRA = make_finding("ENV002", "LEGACY_FLAG", "docker/.env", 9, "no template defines it")
SYNTAX = make_finding("ENV007", "", "docker/.env", 12, "unterminated double quote")
NO_FILE = make_finding("ENV012", "", "other/.env", 0, "does not exist")

KEYS = (
    ("DB_HOST", "docker/.env.example", 3),
    ("WORKERS", "docker/.env.example", 5),
    ("LOG_LEVEL", "docker/.env.example", 7),
    ("LEGACY_FLAG", "docker/.env", 9),
)
PAIR = PairResult(
    "docker/.env.example",
    "docker/.env",
    (MISSING, CHANGED, STALE, EXTRA, SYNTAX),
    keys=KEYS,
    duration=0.5,
    base_source="record",
    base_detail="docker/env-backup/.env.sync (synced 2026-12-04 16:30)",
)
MISSING_ENV = PairResult("other/.env.example", "other/.env", (NO_FILE,))
SKIPPED = PairResult(
    "ci/.env.example", "ci/.env", (), skipped=True, notice="ci/.env does not exist: skipped"
)
CLEAN = PairResult("ok/.env.example", "ok/.env", (), keys=(("A", "ok/.env.example", 1),))
ALL = [PAIR, MISSING_ENV, SKIPPED, CLEAN]


def render(fmt: str, results: Sequence[PairResult], **options: Any) -> str:
    return REPORTERS[fmt](results, OPTS._replace(**options))


# --- the registry ---------------------------------------------------------------------------


def test_formats_are_the_documented_ones() -> None:
    assert FORMATS == ("text", "json", "junit", "github", "sarif")
    assert tuple(REPORTERS) == FORMATS


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reporter_returns_one_document_ending_in_a_newline(fmt: str) -> None:
    out = render(fmt, ALL)
    assert out.endswith("\n")
    assert not out.endswith("\n\n")
    assert render(fmt, ALL) == out  # deterministic
    assert get_reporter(fmt)(ALL, OPTS) == out


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_reporter_handles_no_pairs(fmt: str) -> None:
    assert render(fmt, []).endswith("\n")


def test_unknown_format() -> None:
    with pytest.raises(KeyError):
        get_reporter("yaml")


def test_importing_the_text_path_stays_light() -> None:
    code = (
        "import sys, envsync_hook.reporters, envsync_hook.reporters.text; "
        "heavy = ('pydantic', 'junit_xml', 'json', 'jsonschema', 'dataclasses', 'xml'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finding", "line"),
    [
        (MISSING, "docker/.env.example:3: ENV001 missing-key DB_HOST: not set in docker/.env"),
        (EXTRA, "docker/.env:9: ENV002 extra-key LEGACY_FLAG: no template defines it"),
        (SYNTAX, "docker/.env:12: ENV007 syntax-error: unterminated double quote"),
        (NO_FILE, "other/.env: ENV012 missing-env-file: does not exist"),
        (
            make_finding("ENV007", "K", "a.env", 1, "line one\nline two\r"),
            r"a.env:1: ENV007 syntax-error K: line one\nline two\r",
        ),
        (
            make_finding("ENV002", "K\x1b[2J", "we\x07ird.env", 2, "x"),
            r"we\x07ird.env:2: ENV002 extra-key K\x1b[2J: x",
        ),
    ],
)
def test_text_finding_line(finding: Finding, line: str) -> None:
    assert text.format_finding(finding) == line
    out = render("text", [PairResult("t", "e", (finding,))])
    assert out.splitlines() == ["e: no base (two-way)", line, out.splitlines()[-1]]


@pytest.mark.parametrize(
    ("results", "fail_on", "summary"),
    [
        ([PAIR], "error", "2 errors, 2 warnings, 1 info in 1 pair (fail-on: error)"),
        ([MISSING_ENV], "warning", "1 error, 0 warnings, 0 info in 1 pair (fail-on: warning)"),
        (
            [PairResult("t", "e", (EXTRA,))],
            "never",
            "0 errors, 1 warning, 0 info in 1 pair (fail-on: never)",
        ),
        (ALL, "error", "3 errors, 2 warnings, 1 info in 4 pairs, 1 skipped (fail-on: error)"),
        (
            [CLEAN._replace(changed=True)],
            "info",
            "0 errors, 0 warnings, 0 info in 1 pair, 1 changed (fail-on: info)",
        ),
        ([], "error", "0 errors, 0 warnings, 0 info in 0 pairs (fail-on: error)"),
    ],
)
def test_text_summary_line(results: list[PairResult], fail_on: str, summary: str) -> None:
    assert render("text", results, fail_on=fail_on).splitlines()[-1] == summary


def test_text_whole_report() -> None:
    assert render("text", ALL).splitlines() == [
        "docker/.env: base from sync record: docker/env-backup/.env.sync (synced 2026-12-04 16:30)",
        "docker/.env.example:3: ENV001 missing-key DB_HOST: not set in docker/.env",
        "docker/.env.example:5: ENV003 changed-default WORKERS: "
        "differs from the template default (numeric-increase)",
        "docker/.env.example:5: ENV004 stale-default WORKERS: holds the old default",
        "docker/.env:9: ENV002 extra-key LEGACY_FLAG: no template defines it",
        "docker/.env:12: ENV007 syntax-error: unterminated double quote",
        "other/.env: no base (two-way)",
        "other/.env: ENV012 missing-env-file: does not exist",
        "ci/.env does not exist: skipped",
        "ok/.env: no base (two-way)",
        "upgrade: 1 stale default (fix takes the new default)",
        "3 errors, 2 warnings, 1 info in 4 pairs, 1 skipped (fail-on: error)",
    ]


def test_text_skipped_pair_without_notice_still_says_so() -> None:
    out = render("text", [SKIPPED._replace(notice="")])
    assert out.splitlines()[0] == "ci/.env: skipped (template ci/.env.example)"


@pytest.mark.parametrize(
    ("color", "results", "expected_codes"),
    [
        (True, [PAIR], {"\x1b[31m", "\x1b[33m", "\x1b[36m", "\x1b[1m", "\x1b[0m"}),
        (True, [CLEAN], {"\x1b[32m", "\x1b[1m", "\x1b[0m"}),
        (False, ALL, set()),
    ],
)
def test_text_colour_only_when_asked(
    color: bool, results: list[PairResult], expected_codes: set[str]
) -> None:
    out = render("text", results, color=color)
    assert set(re.findall(r"\x1b\[[0-9;]*m", out)) == expected_codes
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert plain == render("text", results, color=False)


# --- json -----------------------------------------------------------------------------------


def _validate(instance: Any) -> None:
    schema = json.loads(json_schema())
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - the test extra installs it
        json_report.Report.model_validate(instance)
        return
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)


@pytest.mark.parametrize("results", [ALL, [PAIR], [SKIPPED], []])
@pytest.mark.parametrize("fail_on", FAIL_ON_CHOICES)
def test_json_validates_against_its_own_schema(results: list[PairResult], fail_on: str) -> None:
    data = json.loads(render("json", results, fail_on=fail_on))
    _validate(data)
    # and round-trips through the model unchanged
    again = json_report.Report.model_validate(data).model_dump(mode="json")
    assert again == data


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda d: d["pairs"][0]["findings"][0].update(severity="fatal"), "unknown severity"),
        (lambda d: d["pairs"][0]["findings"][0].update(code="E1"), "bad code"),
        (lambda d: d["pairs"][0]["findings"][0].update(value="hunter2"), "extra field"),
        (lambda d: d["pairs"][0]["findings"][0].update(analysis="bigger"), "unknown analysis"),
        (lambda d: d.update(fail_on="sometimes"), "unknown fail-on"),
        (lambda d: d["summary"].pop("failed"), "missing field"),
    ],
)
def test_json_schema_rejects(mutate: Any, why: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(render("json", [PAIR]))
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        _validate(data)


ONLY_CHANGED = [PairResult("t", "e", (CHANGED,))]
ONLY_EXTRA = [PairResult("t", "e", (EXTRA,))]


@pytest.mark.parametrize(
    ("results", "fail_on", "errors_warnings_info", "failed"),
    [
        (ALL, "error", (3, 2, 1), True),
        ([CLEAN], "info", (0, 0, 0), False),
        (ONLY_CHANGED, "warning", (0, 0, 1), False),
        (ONLY_CHANGED, "info", (0, 0, 1), True),
        (ONLY_EXTRA, "error", (0, 1, 0), False),
        (ONLY_EXTRA, "warning", (0, 1, 0), True),
        ([PAIR], "never", (2, 2, 1), False),
    ],
)
def test_json_counts(
    results: list[PairResult],
    fail_on: str,
    errors_warnings_info: tuple[int, int, int],
    failed: bool,
) -> None:
    summary = json.loads(render("json", results, fail_on=fail_on))["summary"]
    assert summary["by_severity"] == dict(zip(("error", "warning", "info"), errors_warnings_info))
    assert summary["total"] == sum(errors_warnings_info)
    assert summary["failed"] is failed
    assert list(summary["by_code"]) == [r.code for r in RULES]
    expected_by_code = {r.code: 0 for r in RULES}
    for pair in results:
        for f in pair.findings:
            expected_by_code[f.code] += 1
    assert summary["by_code"] == expected_by_code


def test_json_whole_report() -> None:
    data = json.loads(render("json", [PAIR, SKIPPED], command="fix"))
    assert data["tool"] == {"name": "envsync-hook", "version": "9.8.7"}
    assert data["command"] == "fix"
    assert data["fail_on"] == "error"
    assert data["summary"]["by_code"]["ENV001"] == 1
    assert data["summary"]["by_code"]["ENV006"] == 0
    assert (data["summary"]["pairs"], data["summary"]["skipped"]) == (2, 1)
    first, second = data["pairs"]
    assert first["template"] == "docker/.env.example"
    assert first["env"] == "docker/.env"
    assert first["base"] == {
        "source": "record",
        "detail": "docker/env-backup/.env.sync (synced 2026-12-04 16:30)",
    }
    assert [f["code"] for f in first["findings"]] == [
        "ENV001",
        "ENV003",
        "ENV004",
        "ENV002",
        "ENV007",
    ]
    assert first["findings"][1] == {
        "code": "ENV003",
        "slug": "changed-default",
        "severity": "info",
        "key": "WORKERS",
        "file": "docker/.env.example",
        "line": 5,
        "message": "differs from the template default (numeric-increase)",
        "analysis": "numeric-increase",
    }
    assert second == {
        "template": "ci/.env.example",
        "env": "ci/.env",
        "skipped": True,
        "changed": False,
        "notice": "ci/.env does not exist: skipped",
        "base": {"source": "none", "detail": ""},
        "findings": [],
    }


def test_json_literals_match_the_findings_module() -> None:
    assert get_args(json_report.Severity) == SEVERITIES
    assert get_args(json_report.FailOn) == FAIL_ON_CHOICES
    assert get_args(json_report.Analysis) == ANALYSIS_KINDS
    assert get_args(json_report.BaseSource) == base.SOURCES


def test_json_schema_is_a_2020_12_schema() -> None:
    schema = json.loads(json_schema())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "envsync-hook report"
    assert set(schema["required"]) == {"tool", "command", "fail_on", "summary", "pairs"}
    assert schema["additionalProperties"] is False


# --- junit ----------------------------------------------------------------------------------


def _junit(results: Sequence[PairResult], fail_on: str = "error") -> JUnitXml:
    return JUnitXml.fromstring(render("junit", results, fail_on=fail_on).encode())


def _cases(xml: JUnitXml) -> Iterator[Any]:
    for suite in xml:
        yield from suite


def test_junit_one_testsuite_per_pair_named_by_template() -> None:
    xml = _junit(ALL)
    assert [s.name for s in xml] == [p.template for p in ALL]


@pytest.mark.parametrize(
    ("pair", "names"),
    [
        (PAIR, ["DB_HOST", "WORKERS", "LOG_LEVEL", "LEGACY_FLAG", "syntax-error docker/.env:12"]),
        (MISSING_ENV, ["missing-env-file other/.env"]),
        (CLEAN, ["A"]),
        (SKIPPED, ["ci/.env"]),
        # a key listed twice (two templates of a set) is one testcase
        (CLEAN._replace(keys=(("A", "x", 1), ("A", "y", 2))), ["A"]),
        # compose allows an empty key; a file-level finding is still a case of its own
        (
            MISSING_ENV._replace(keys=(("", "other/.env.example", 4),)),
            ["", "missing-env-file other/.env"],
        ),
    ],
)
def test_junit_one_testcase_per_key(pair: PairResult, names: list[str]) -> None:
    (suite,) = _junit([pair])
    assert [c.name for c in suite] == names
    assert suite.tests == len(names)


def test_junit_testcase_identity_is_template_and_key() -> None:
    """classname = the template path, whatever the key's findings; no file/line attributes
    (junit-10.xsd has none): the location is in the failure text."""
    (suite,) = _junit([PAIR])
    got = {c.name: (c.classname, sorted(c._elem.attrib)) for c in suite}
    attrs = ["classname", "name", "time"]
    assert got == {
        name: ("docker/.env.example", attrs)
        for name in (
            "DB_HOST",
            "WORKERS",
            "LOG_LEVEL",
            "LEGACY_FLAG",
            "syntax-error docker/.env:12",
        )
    }
    (db_host,) = [c for c in suite if c.name == "DB_HOST"]
    assert db_host.result[0].text == "docker/.env.example:3: ENV001 missing-key DB_HOST: " + (
        "not set in docker/.env"
    )


def test_junit_suite_properties_name_the_pair() -> None:
    (suite,) = _junit([PAIR])
    assert {p.name: p.value for p in suite.properties()} == {
        "template": "docker/.env.example",
        "env": "docker/.env",
    }


@pytest.mark.parametrize(
    ("fail_on", "failures"),
    [
        ("error", {"DB_HOST": ["ENV001"], "syntax-error docker/.env:12": ["ENV007"]}),
        (
            "warning",
            {
                "DB_HOST": ["ENV001"],
                "WORKERS": ["ENV004"],
                "LEGACY_FLAG": ["ENV002"],
                "syntax-error docker/.env:12": ["ENV007"],
            },
        ),
        (
            "info",
            {
                "DB_HOST": ["ENV001"],
                "WORKERS": ["ENV003", "ENV004"],
                "LEGACY_FLAG": ["ENV002"],
                "syntax-error docker/.env:12": ["ENV007"],
            },
        ),
        ("never", {}),
    ],
)
def test_junit_failures_only_at_or_above_fail_on(
    fail_on: str, failures: dict[str, list[str]]
) -> None:
    (suite,) = _junit([PAIR], fail_on)
    got = {
        c.name: [r.type for r in c.result if isinstance(r, Failure)] for c in suite if c.is_failure
    }
    assert got == failures
    assert suite.failures == len(failures)
    # everything below fail-on is in system-out, nothing is lost
    below = {c.name: c.system_out for c in suite if c.system_out}
    shown = sum(len(v) for v in failures.values()) + sum(
        len(out.splitlines()) for out in below.values()
    )
    assert shown == len(PAIR.findings)


def test_junit_failure_message_and_type() -> None:
    (suite,) = _junit([PAIR])
    (case,) = [c for c in suite if c.name == "DB_HOST"]
    (failure,) = case.result
    assert failure.type == "ENV001"
    assert failure.message == "ENV001 missing-key: not set in docker/.env"


def test_junit_below_fail_on_goes_to_system_out() -> None:
    (suite,) = _junit([PAIR], "error")
    (case,) = [c for c in suite if c.name == "WORKERS"]
    assert case.is_passed
    assert case.system_out.splitlines() == [
        text.format_finding(CHANGED),
        text.format_finding(STALE),
    ]


def test_junit_skipped_pair() -> None:
    (suite,) = _junit([SKIPPED])
    (case,) = suite
    (result,) = case.result
    assert isinstance(result, Skipped)
    assert result.message == "ci/.env does not exist: skipped"


@pytest.mark.parametrize("results", [ALL, [CLEAN], [SKIPPED], []])
def test_junit_time_on_every_element(results: list[PairResult]) -> None:
    root = ET.fromstring(render("junit", results))
    elements = [root, *root.iter("testsuite"), *root.iter("testcase")]
    assert len(elements) == 1 + len(results) + sum(1 for _ in root.iter("testcase"))
    for element in elements:
        assert float(element.attrib["time"]) >= 0.0, element.tag


def test_junit_time_is_the_pair_duration_shared_out() -> None:
    (suite,) = _junit([PAIR])
    assert [c.time for c in suite] == pytest.approx([0.1] * 5)
    assert suite.time == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("duration", "suite_time", "case_time"),
    [
        (3.0176999985087605e-05, "0.000", "0.000"),
        (1.23456, "1.235", "0.247"),
        (0.0, "0.000", "0.000"),
    ],
)
def test_junit_times_are_milliseconds(duration: float, suite_time: str, case_time: str) -> None:
    root = ET.fromstring(render("junit", [PAIR._replace(duration=duration)]))
    assert root.attrib["time"] == suite_time
    assert root.find("testsuite").attrib["time"] == suite_time  # type: ignore[union-attr]
    assert {c.attrib["time"] for c in root.iter("testcase")} == {case_time}


def test_junit_control_characters_stay_readable_xml() -> None:
    bell = make_finding("ENV001", "K\x07EY", "a\x1bb/.env.example", 1, "m\x00")
    pair = PairResult("a\x1bb/.env.example", "a\x1bb/.env", (bell,), keys=(("K\x07EY", "t", 1),))
    root = ET.fromstring(render("junit", [pair]))
    assert [c.attrib["name"] for c in root.iter("testcase")] == ["K\\x07EY"]


# --- github ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100%", "100%25", "100%25"),
        ("a\rb", "a%0Db", "a%0Db"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v", "k: v", "k%3A v"),
        ("a,b", "a,b", "a%2Cb"),
        ("%0A", "%250A", "%250A"),  # an escape sequence in the input is not left as one
        ("::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"),
    ],
)
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert github.escape_data(raw) == data
    assert github.escape_property(raw) == prop


_COMMAND = re.compile(
    r"^::(?P<cmd>error|warning|notice)"
    r"(?: (?P<props>[a-zA-Z]+=[^,:\r\n]*(?:,[a-zA-Z]+=[^,:\r\n]*)*))?"
    r"::(?P<data>[^\r\n]*)$"
)


def _unescape(s: str) -> str:
    for esc, ch in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        s = s.replace(esc, ch)
    return s


def _parse_command(line: str) -> tuple[str, dict[str, str], str]:
    m = _COMMAND.match(line)
    assert m, line
    props = dict(p.split("=", 1) for p in m["props"].split(",")) if m["props"] else {}
    return m["cmd"], {k: _unescape(v) for k, v in props.items()}, _unescape(m["data"])


@pytest.mark.parametrize(
    ("finding", "line"),
    [
        (
            MISSING,
            "::error file=docker/.env.example,line=3,title=ENV001 missing-key::"
            "DB_HOST: not set in docker/.env",
        ),
        (
            EXTRA,
            "::warning file=docker/.env,line=9,title=ENV002 extra-key::"
            "LEGACY_FLAG: no template defines it",
        ),
        (
            CHANGED._replace(message="a"),
            "::notice file=docker/.env.example,line=5,title=ENV003 changed-default::WORKERS: a",
        ),
        (NO_FILE, "::error file=other/.env,title=ENV012 missing-env-file::does not exist"),
        (
            make_finding("ENV007", "K", "dir,x/a:b.env", 2, "50% of\r\nit, a:b"),
            "::error file=dir%2Cx/a%3Ab.env,line=2,title=ENV007 syntax-error::"
            "K: 50%25 of%0D%0Ait, a:b",
        ),
    ],
)
def test_github_annotation(finding: Finding, line: str) -> None:
    assert github.annotation(finding) == line


def test_github_title_property_is_escaped() -> None:
    line = github.command("warning", [("file", "a,b"), ("title", "T: 1%, 2\n")], "m:,")
    assert line == "::warning file=a%2Cb,title=T%3A 1%25%2C 2%0A::m:,"
    assert _parse_command(line) == ("warning", {"file": "a,b", "title": "T: 1%, 2\n"}, "m:,")


@pytest.mark.parametrize("severity", SEVERITIES)
def test_github_round_trips_every_field(severity: str) -> None:
    nasty = "x%y\r\nz: a,b"
    f = make_finding("ENV006", "K" + nasty, "d" + nasty, 4, "m" + nasty, severity=severity)
    cmd, props, data = _parse_command(github.annotation(f))
    assert cmd == {"error": "error", "warning": "warning", "info": "notice"}[severity]
    assert props == {"file": f.file, "line": "4", "title": "ENV006 duplicate-key"}
    assert data == f"{f.key}: {f.message}"


def test_github_report_lines() -> None:
    lines = render("github", ALL).splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == 6 + 1  # findings + the skipped pair's notice
    for line in commands:
        _parse_command(line)
    assert _parse_command(commands[-1]) == (
        "notice",
        {"title": "envsync skipped"},
        "ci/.env does not exist: skipped",
    )
    assert lines[-1] == "3 errors, 2 warnings, 1 info in 4 pairs, 1 skipped (fail-on: error)"


def _cells(row: str) -> list[str]:
    assert row.startswith("| ") and row.endswith(" |")
    return [c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", row[2:-2])]


def test_github_step_summary() -> None:
    md = step_summary(ALL, OPTS)
    lines = md.splitlines()
    assert lines[0] == "## envsync check: failed"
    assert "3 errors, 2 warnings, 1 info in 4 pairs, 1 skipped (fail-on: error)" in lines
    assert "- skipped: ci/.env does not exist: skipped" in lines
    # each compared pair says which base it was compared with (skipped pairs: none)
    bases = [line for line in lines if line.startswith("- ") and "base" in line]
    assert len(bases) == 3
    assert bases[0].startswith("- docker/.env: base from sync record: docker/env-backup/")
    assert "- other/.env: no base (two-way)" in bases
    header = lines.index("| File | Line | Code | Slug | Key | Message |")
    rows = [line for line in lines[header + 2 :] if line.startswith("|")]
    assert len(rows) == 6
    assert _cells(rows[0]) == [
        "docker/.env.example",
        "3",
        "ENV001",
        "missing-key",
        "DB\\_HOST",
        "not set in docker/.env",
    ]
    assert _cells(rows[-1])[1] == ""  # no line


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ("a|b", "a\\|b"),
        ("a\nb", "a b"),
        ("a\r\nb", "a  b"),
        ("__init__", "\\_\\_init\\_\\_"),
        ("<script>", "\\<script\\>"),
        ("`x` *y* [z]", "\\`x\\` \\*y\\* \\[z\\]"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_github_step_summary_cell_escaping(raw: str, cell: str) -> None:
    assert github.escape_cell(raw) == cell
    f = make_finding("ENV002", "K", "f", 1, raw)
    md = step_summary([PairResult("t", "e", (f,))], OPTS)
    (row,) = [line for line in md.splitlines() if line.startswith("| f |")]
    assert row.endswith(f"| {cell} |")
    assert len(re.findall(r"(?<!\\)\|", row)) == 7  # six cells, no more


def test_github_step_summary_without_findings() -> None:
    md = step_summary([CLEAN], OPTS._replace(command="fix"))
    assert md.splitlines()[0] == "## envsync fix: passed"
    assert "No findings." in md
    assert "|" not in md


# --- sarif ----------------------------------------------------------------------------------


def _sarif(results: Sequence[PairResult]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(render("sarif", results))
    return data


def test_sarif_structure() -> None:
    data = _sarif(ALL)
    assert data["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert data["version"] == "2.1.0"
    (run,) = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "envsync-hook"
    assert driver["version"] == "9.8.7"
    assert driver["informationUri"].startswith("https://")
    assert len(run["results"]) == 6
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["ci/.env does not exist: skipped"]


def test_sarif_rules_are_the_rule_table() -> None:
    rules = _sarif([])["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in RULES]
    assert [r["name"] for r in rules] == [r.slug for r in RULES]
    for rule, sarif_rule in zip(RULES, rules):
        assert sarif_rule["fullDescription"]["text"] == rule.summary
        assert sarif_rule["shortDescription"]["text"]
        assert rule.summary in sarif_rule["help"]["text"]
        assert set(sarif_rule) == {
            "id",
            "name",
            "shortDescription",
            "fullDescription",
            "help",
            "defaultConfiguration",
        }


@pytest.mark.parametrize(
    ("severity", "level"), [("error", "error"), ("warning", "warning"), ("info", "note")]
)
def test_sarif_levels(severity: str, level: str) -> None:
    rule_levels = {
        r["id"]: r["defaultConfiguration"]["level"]
        for r in _sarif([])["runs"][0]["tool"]["driver"]["rules"]
    }
    for rule in RULES:
        if rule.severity == severity:
            assert rule_levels[rule.code] == level
    # a finding's configured severity wins over the rule's default
    f = make_finding("ENV002", "K", "f", 1, "m", severity=severity)
    (result,) = _sarif([PairResult("t", "e", (f,))])["runs"][0]["results"]
    assert result["level"] == level


def test_sarif_results() -> None:
    run = _sarif(ALL)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    findings = [f for p in ALL for f in p.findings]
    for result, f in zip(run["results"], findings):
        assert result["ruleId"] == f.code
        assert rules[result["ruleIndex"]]["id"] == f.code
        assert result["message"]["text"] == (f"{f.key}: {f.message}" if f.key else f.message)
    assert run["results"][0]["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "docker/.env.example", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 3},
            }
        }
    ]
    # ENV012 has no line: no region
    assert run["results"][-1]["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "other/.env", "uriBaseId": "%SRCROOT%"}
    }


@pytest.mark.parametrize(
    ("file", "location"),
    [
        (".env.example", {"uri": ".env.example", "uriBaseId": "%SRCROOT%"}),
        ("./docker/.env", {"uri": "docker/.env", "uriBaseId": "%SRCROOT%"}),
        ("my dir/.env", {"uri": "my%20dir/.env", "uriBaseId": "%SRCROOT%"}),
        ("/srv/app/.env", {"uri": "file:///srv/app/.env"}),
    ],
)
def test_sarif_artifact_location(file: str, location: dict[str, str]) -> None:
    if sys.platform == "win32" and file.startswith("/"):  # pragma: no cover
        pytest.skip("POSIX absolute path")
    assert sarif.artifact_location(file) == location


# --- nothing but finding fields ---------------------------------------------------------------


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _finding_strings(results: Sequence[PairResult]) -> set[str]:
    allowed: set[str] = set()
    for p in results:
        allowed |= {p.template, p.env, p.notice, p.base_source, p.base_detail}
        for f in p.findings:
            allowed |= {f.file, f.code, f.slug, f.severity, f.key, f.message}
            allowed |= {f"{f.key}: {f.message}", f.analysis or ""}
    return allowed


def test_json_strings_are_finding_fields_or_schema_names() -> None:
    data = json.loads(render("json", ALL))
    schema_words = set(_strings(json.loads(json_schema())))
    fixed = {"envsync-hook", OPTS.version, "check", "error", *schema_words}
    fixed |= {r.code for r in RULES}  # summary.by_code names every code
    extra = set(_strings(data)) - _finding_strings(ALL) - fixed
    assert extra == set()


def test_sarif_strings_are_finding_fields_rules_or_constants() -> None:
    data = json.loads(render("sarif", ALL))
    rules = set(_strings(data["runs"][0]["tool"]["driver"]["rules"]))
    fixed = {
        *rules,
        "$schema",
        "version",
        "runs",
        "tool",
        "driver",
        "name",
        "rules",
        "informationUri",
        "invocations",
        "executionSuccessful",
        "toolExecutionNotifications",
        "level",
        "message",
        "text",
        "results",
        "ruleId",
        "ruleIndex",
        "locations",
        "physicalLocation",
        "artifactLocation",
        "uri",
        "uriBaseId",
        "region",
        "startLine",
        sarif.SCHEMA_URI,
        sarif.INFORMATION_URI,
        sarif.SRCROOT,
        sarif.TOOL_NAME,
        "2.1.0",
        OPTS.version,
        "note",
        "warning",
    }
    extra = set(_strings(data)) - _finding_strings(ALL) - fixed
    assert extra == set()


def test_junit_text_is_finding_fields_and_keys() -> None:
    root = ET.fromstring(render("junit", ALL))
    allowed = _finding_strings(ALL) | {k for p in ALL for key in p.keys for k in key[:2]}
    allowed |= {"envsync check", "template", "env"} | {p.env for p in ALL}
    allowed |= {f"{f.code} {f.slug}: {f.message}" for p in ALL for f in p.findings}
    allowed |= {text.format_finding(f) for p in ALL for f in p.findings}
    allowed |= {"syntax-error docker/.env:12", "missing-env-file other/.env", "skipped"}
    for element in root.iter():
        for name, value in element.attrib.items():
            if name in ("time", "tests", "failures", "errors", "skipped"):
                float(value)  # numbers only
            else:
                assert value in allowed, (element.tag, name, value)
        if element.text and element.text.strip():
            for line in element.text.splitlines():
                assert line in allowed, (element.tag, line)


def _stale(msg: str) -> Finding:
    return make_finding("ENV004", "A", "t", 1, msg)


@pytest.mark.parametrize(
    ("results", "command", "line"),
    [
        ([PairResult("t", "e", ())], "check", ""),
        (
            [PairResult("t", "e", (_stale("fix takes the new default"),))],
            "check",
            "upgrade: 1 stale default (fix takes the new default)",
        ),
        (
            [PairResult("t", "e", (_stale("fix takes the new default"),), changed=True)],
            "fix",
            "upgrade: 1 stale default, 1 updated",
        ),
        (
            [PairResult("t", "e", (_stale("fix keeps it (--keep-stale)"),), changed=True)],
            "fix",
            "upgrade: 1 stale default, 0 updated",
        ),
        (
            [PairResult("t", "e", (make_finding("ENV005", "B", "t", 2, "m"),) * 2)],
            "check",
            "upgrade: 2 conflicts need a decision (fix keeps yours)",
        ),
    ],
)
def test_upgrade_line(results: list[PairResult], command: str, line: str) -> None:
    from envsync_hook.reporters.summary import upgrade_line

    assert upgrade_line(results, command) == line
