"""The ``junit`` report (via junit-xml): a testsuite per pair, a testcase per key checked.

- testsuite ``name`` = the template path; ``time`` = the pair's duration.
- testcase ``name`` = the key, ``classname`` = ``envsync.<slug>`` of the key's most severe
  finding (``envsync.ok`` for a key without findings), ``file``/``line`` = the key's location.
- a ``<failure type="ENV001" message="ENV001 missing-key: ...">`` per finding at or above
  fail-on; findings below it are listed in the testcase's ``system-out``.
- a finding whose key was not checked (ENV012 missing-env-file, a syntax error, ...) is a
  testcase of its own; a skipped pair is one skipped testcase.

Only finding fields reach the XML, never a value. Imported only on the JUnit path.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from junit_xml import (  # type: ignore[import-untyped]
    TestCase,
    TestSuite,
    to_xml_report_string,
)

from envsync_hook.escaping import escape
from envsync_hook.findings import SEVERITY_RANK, Finding, PairResult
from envsync_hook.reporters.summary import skip_notice
from envsync_hook.reporters.text import format_finding, location

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions

CLASS_PREFIX = "envsync."


def _case(
    name: str,
    file: str,
    line: int,
    findings: Sequence[Finding],
    fail_on: str,
    seconds: float,
) -> TestCase:
    worst = max(findings, key=lambda f: SEVERITY_RANK[f.severity], default=None)
    case = TestCase(
        name,
        classname=CLASS_PREFIX + (worst.slug if worst else "ok"),
        elapsed_sec=seconds,
        file=escape(file),
        line=line if line > 0 else None,
        allow_multiple_subelements=True,
    )
    below: list[str] = []
    for f in findings:
        if f.at_or_above(fail_on):
            case.add_failure_info(
                message=escape(f"{f.code} {f.slug}: {f.message}"),
                output=format_finding(f),
                failure_type=f.code,
            )
        else:
            below.append(format_finding(f))
    if below:
        case.stdout = "\n".join(below)
    return case


def _suite(pair: PairResult, fail_on: str) -> TestSuite:
    if pair.skipped:
        case = TestCase(
            escape(pair.env), classname=CLASS_PREFIX + "skipped", elapsed_sec=pair.duration
        )
        case.add_skipped_info(message=escape(skip_notice(pair)))
        return TestSuite(escape(pair.template), [case])

    # one testcase per distinct key, at its first location
    locations: dict[str, tuple[str, int]] = {}
    for key, file, line in pair.keys:
        locations.setdefault(key, (file, line))
    by_key: dict[str, list[Finding]] = {key: [] for key in locations}
    loose: list[Finding] = []
    for f in pair.findings:
        if f.key and f.key in by_key:  # a file-level finding (no key) never joins a key's case
            by_key[f.key].append(f)
        else:
            loose.append(f)

    seconds = pair.duration / max(1, len(by_key) + len(loose))
    cases = [_case(key, *locations[key], by_key[key], fail_on, seconds) for key in by_key]
    for f in loose:
        name = f.key or f"{f.slug} {location(f.file, f.line)}"
        cases.append(_case(escape(name), f.file, f.line, [f], fail_on, seconds))
    return TestSuite(escape(pair.template), cases)


def _add_missing_times(xml: str) -> str:
    """Give every element a ``time``: junit-xml leaves it out of a testcase when it is 0."""
    root = ET.fromstring(xml)
    root.attrib.setdefault("tests", "0")
    for element in root.iter():
        if element.tag in ("testsuites", "testsuite", "testcase"):
            element.attrib.setdefault("time", "0.000000")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    suites = [_suite(pair, options.fail_on) for pair in results]
    return _add_missing_times(to_xml_report_string(suites, prettyprint=False))
