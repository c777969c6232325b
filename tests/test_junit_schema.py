"""JUnit reports that Jenkins accepts: real runs of the CLI, validated with ``xmlschema``
against ``junit-10.xsd`` (the schema of Jenkins' xunit plugin, which pytest's own JUnit tests
use; ``tests/data/SOURCES.md``), and the identity of a key's testcase across runs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from cli_run import run

SCHEMA_FILE = Path(__file__).parent / "data" / "junit-10.xsd"

TEMPLATE = "# db\nDB_HOST=db\nDB_PORT=5432\nWORKERS=4\n# OPTIONAL_FLAG=1\n"
ENV = "DB_HOST=db.internal\nWORKERS=4\nWORKERS=8\nLEGACY=1\n"  # DB_PORT missing, dup, extra


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA_FILE))


def _project(tmp_path: Path) -> Path:
    work = tmp_path / "site"
    (work / "docker").mkdir(parents=True)
    (work / "docker" / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    env = work / "docker" / ".env"
    env.write_text(ENV, encoding="utf-8")
    env.chmod(0o600)
    return work


def _ids(report: Path) -> dict[str, tuple[str, str, list[str]]]:
    """testcase name -> (classname, suite name, failure types)."""
    root = ET.parse(report).getroot()
    out = {}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            types = [f.attrib["type"] for f in case.iter("failure")]
            out[case.attrib["name"]] = (case.attrib["classname"], suite.attrib["name"], types)
    return out


def test_the_schema_rejects_what_junit_xml_wrote(schema: xmlschema.XMLSchema) -> None:
    """The validator can fail: junit-xml's ``disabled``, testcase ``file``/``line`` and an
    exponent time, as the previous version wrote them."""
    old = (
        '<testsuites disabled="0" errors="0" failures="0" tests="1" time="3.0176999985087605e-05">'
        '<testsuite disabled="0" errors="0" failures="0" name=".env.example" skipped="0" '
        'tests="1" time="3.0176999985087605e-05">'
        '<testcase name="A" classname="envsync.ok" file=".env.example" line="1"/>'
        "</testsuite></testsuites>"
    )
    errors = list(schema.iter_errors(old))
    assert len(errors) >= 4, errors


def test_three_runs_are_valid_and_keys_keep_their_identity(
    tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    work = _project(tmp_path)
    before = work / "before.xml"
    fixed = work / "fix.xml"
    after = work / "after.xml"
    r1 = run(work, "check", "docker/.env.example", "--fail-on", "warning", "--junit", str(before))
    r2 = run(work, "fix", "docker/.env.example", "--junit", str(fixed))
    r3 = run(work, "check", "docker/.env.example", "--fail-on", "warning", "--junit", str(after))
    assert (r1.returncode, r2.returncode, r3.returncode) == (1, 1, 1), r1.stderr + r2.stderr
    for report in (before, fixed, after):
        schema.validate(str(report))  # raises with the first error
    ids_before, ids_after = _ids(before), _ids(after)
    # the failing keys before the fix: missing, duplicate, extra
    assert ids_before["DB_PORT"][2] == ["ENV001"]
    assert ids_before["WORKERS"][2] == ["ENV006"]
    assert ids_before["LEGACY"][2] == ["ENV002"]
    # after it: DB_PORT is set (passes), LEGACY is kept (still extra), the duplicate is gone
    assert ids_after["DB_PORT"][2] == []
    assert ids_after["WORKERS"][2] == []
    for key in ("DB_HOST", "DB_PORT", "WORKERS", "LEGACY"):
        assert ids_before[key][:2] == ids_after[key][:2] == ("docker/.env.example",) * 2, key


def test_a_skipped_and_a_missing_pair_are_valid(
    tmp_path: Path, schema: xmlschema.XMLSchema
) -> None:
    work = _project(tmp_path)
    (work / "docker" / ".env").unlink()
    report = work / "r.xml"
    skipped = run(
        work, "check", "docker/.env.example", "--if-missing", "skip", "--junit", str(report)
    )
    assert skipped.returncode == 0, skipped.stderr
    schema.validate(str(report))
    assert [e.tag for e in ET.parse(report).getroot().iter("skipped")] == ["skipped"]
    missing = run(work, "check", "docker/.env.example", "--format", "junit")
    assert missing.returncode == 1
    schema.validate(missing.stdout)
    assert "ENV012" in {f.attrib["type"] for f in ET.fromstring(missing.stdout).iter("failure")}
