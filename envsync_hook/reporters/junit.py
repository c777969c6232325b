"""The ``junit`` report, valid against Jenkins' ``junit-10.xsd`` (the schema pytest's own
tests use), written with the standard library's ElementTree as pytest writes its own.

- ``<testsuites name="envsync check">``, then one ``<testsuite>`` per pair, ``name`` = the
  template path, with ``<properties>`` naming the template and the env file.
- one ``<testcase>`` per key checked: ``classname`` = the template path, ``name`` = the key.
  Both stay the same whatever the key's findings are (before and after a fix), so test-history
  tools see one test per key.
- a ``<failure type="ENV001" message="ENV001 missing-key: ...">`` per finding at or above
  fail-on, its text ``file:line: ENV001 missing-key KEY: message`` (the schema has no ``file``
  or ``line`` attribute on a testcase); findings below fail-on go to the testcase's
  ``system-out``, in the same form.
- a finding whose key was not checked (ENV012 missing-env-file, a syntax error, ...) is a
  testcase of its own, named ``<slug> <file>[:<line>]``; a skipped pair is one skipped testcase
  named after its env file.
- every ``time`` is in seconds rounded to milliseconds (``0.012``), the only form the schema's
  ``SUREFIRE_TIME`` accepts on a suite.

Why not junit-xml: its 1.9 (the last release) always writes a ``disabled`` attribute on
``testsuite`` and ``testsuites`` and a suite ``time`` like ``3.0176999985087605e-05``, both
refused by the schema, and it has no option to leave them out. Only finding fields reach the XML,
never a value. Imported only on the JUnit path.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from envsync_hook.findings import Finding, PairResult
from envsync_hook.reporters.summary import skip_notice
from envsync_hook.reporters.text import format_finding, location

if TYPE_CHECKING:
    from envsync_hook.reporters import ReportOptions


def seconds(value: float) -> str:
    """A duration as the schema's ``SUREFIRE_TIME`` accepts it: ``0.012`` (never negative)."""
    return f"{max(0.0, value):.3f}"


def _xml_char(c: str) -> str:
    """``c``, or ``\\xNN`` when XML 1.0 cannot hold it (control characters but tab, CR, LF)."""
    n = ord(c)
    if c in "\t\r\n" or 0x20 <= n < 0xD800 or 0xE000 <= n <= 0xFFFD or n >= 0x10000:
        return c
    return f"\\x{n:02x}"


def _xml_text(s: str) -> str:
    """``s`` as XML 1.0 can hold it: a path or key may hold control characters, which
    ElementTree would write as they are and so make the file unreadable."""
    if s.isprintable():  # the usual case, without a copy
        return s
    return "".join(map(_xml_char, s))


class _Case:
    """One testcase being built: its failures and the findings shown below fail-on."""

    __slots__ = ("below", "failures", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[Finding] = []
        self.below: list[Finding] = []

    def add(self, f: Finding, fail_on: str) -> None:
        (self.failures if f.at_or_above(fail_on) else self.below).append(f)


def _cases(pair: PairResult, fail_on: str) -> list[_Case]:
    """The testcases of a pair that was checked: one per distinct key, then one per finding
    about no checked key, in that order."""
    by_key: dict[str, _Case] = {}
    for key, _file, _line in pair.keys:
        if key not in by_key:
            by_key[key] = _Case(key)
    loose: list[_Case] = []
    for f in pair.findings:
        case = by_key.get(f.key) if f.key else None  # a file-level finding joins no key's case
        if case is None:
            case = _Case(f.key or f"{f.slug} {location(f.file, f.line)}")
            loose.append(case)
        case.add(f, fail_on)
    return [*by_key.values(), *loose]


def _testcase(parent: ET.Element, classname: str, case: _Case, time: str) -> None:
    element = ET.SubElement(
        parent, "testcase", name=_xml_text(case.name), classname=classname, time=time
    )
    for f in case.failures:
        failure = ET.SubElement(
            element,
            "failure",
            type=f.code,
            message=_xml_text(f"{f.code} {f.slug}: {f.message}"),
        )
        failure.text = _xml_text(format_finding(f))
    if case.below:
        out = ET.SubElement(element, "system-out")
        out.text = _xml_text("\n".join(format_finding(f) for f in case.below))


def _suite(parent: ET.Element, pair: PairResult, fail_on: str) -> tuple[int, int, float]:
    """Append the pair's testsuite; return its (tests, failures, seconds)."""
    suite = ET.SubElement(parent, "testsuite", name=_xml_text(pair.template))
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="template", value=_xml_text(pair.template))
    ET.SubElement(props, "property", name="env", value=_xml_text(pair.env))
    classname = _xml_text(pair.template)
    if pair.skipped:
        case = ET.SubElement(
            suite,
            "testcase",
            name=_xml_text(pair.env),
            classname=classname,
            time=seconds(pair.duration),
        )
        ET.SubElement(case, "skipped", message=_xml_text(skip_notice(pair)))
        tests, failures, skipped = 1, 0, 1
    else:
        cases = _cases(pair, fail_on)
        each = seconds(pair.duration / max(1, len(cases)))
        for c in cases:
            _testcase(suite, classname, c, each)
        tests, failures, skipped = len(cases), sum(1 for c in cases if c.failures), 0
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", seconds(pair.duration))
    return tests, failures, pair.duration


def render(results: Sequence[PairResult], options: ReportOptions) -> str:
    root = ET.Element("testsuites", name=f"envsync {options.command}")
    tests = failures = 0
    total = 0.0
    for pair in results:
        t, f, s = _suite(root, pair, options.fail_on)
        tests, failures, total = tests + t, failures + f, total + s
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("time", seconds(total))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n'
