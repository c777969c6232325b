"""The rule table, the change analysis and the ordering of findings (DESIGN.md section 4)."""

from __future__ import annotations

import random

import pytest

from envsync_hook.findings import (
    ANALYSIS_KINDS,
    FAIL_ON_CHOICES,
    RULES,
    RULES_BY_CODE,
    RULES_BY_SLUG,
    SEVERITIES,
    Finding,
    analyse_change,
    make_finding,
)

# DESIGN.md section 4, transcribed: (code, slug, default severity)
DESIGN_RULES = [
    ("ENV001", "missing-key", "error"),
    ("ENV002", "extra-key", "warning"),
    ("ENV003", "changed-default", "info"),
    ("ENV004", "stale-default", "warning"),
    ("ENV005", "conflict", "warning"),
    ("ENV006", "duplicate-key", "warning"),
    ("ENV007", "syntax-error", "error"),
    ("ENV008", "relocated-key", "info"),
    ("ENV009", "renamed-key", "info"),
    ("ENV010", "new-optional-key", "info"),
    ("ENV011", "unsafe-permissions", "warning"),
    ("ENV012", "missing-env-file", "error"),
    ("ENV013", "default-secret", "warning"),
]


def test_rule_table_is_the_designed_one() -> None:
    assert [(r.code, r.slug, r.severity) for r in RULES] == DESIGN_RULES


def test_codes_and_slugs_are_unique() -> None:
    codes = [r.code for r in RULES]
    slugs = [r.slug for r in RULES]
    assert len(set(codes)) == len(codes) == 13
    assert len(set(slugs)) == len(slugs) == 13
    assert codes == [f"ENV{i:03d}" for i in range(1, 14)]


def test_lookup_tables_agree_with_the_rules() -> None:
    assert set(RULES_BY_CODE) == {r.code for r in RULES}
    assert set(RULES_BY_SLUG) == {r.slug for r in RULES}
    for r in RULES:
        assert RULES_BY_CODE[r.code] is r
        assert RULES_BY_SLUG[r.slug] is r


@pytest.mark.parametrize(("code", "slug", "severity"), DESIGN_RULES)
def test_every_rule_has_a_known_severity_and_a_summary(code: str, slug: str, severity: str) -> None:
    rule = RULES_BY_CODE[code]
    assert rule.severity in SEVERITIES
    assert rule.summary.strip()
    assert "\n" not in rule.summary


def test_analysis_kinds_are_the_designed_ones() -> None:
    assert ANALYSIS_KINDS == (
        "empty-to-value",
        "value-to-empty",
        "numeric-increase",
        "numeric-decrease",
        "boolean-toggle",
        "url-change",
        "path-change",
        "text-change",
    )


@pytest.mark.parametrize(("code", "slug", "severity"), DESIGN_RULES)
def test_make_finding_takes_slug_and_default_severity_from_the_table(
    code: str, slug: str, severity: str
) -> None:
    f = make_finding(code, "K", ".env.example", 3, "msg")
    assert (f.code, f.slug, f.severity) == (code, slug, severity)
    assert (f.key, f.file, f.line, f.message, f.analysis) == ("K", ".env.example", 3, "msg", None)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_make_finding_severity_override(severity: str) -> None:
    f = make_finding("ENV003", "K", "f", 1, "m", severity=severity, analysis="text-change")
    assert f.severity == severity
    assert f.slug == "changed-default"
    assert f.analysis == "text-change"


def test_finding_is_immutable() -> None:
    f = make_finding("ENV001", "K", "f", 1, "m")
    with pytest.raises(AttributeError):
        f.key = "other"  # type: ignore[misc]
    assert hash(f) == hash(make_finding("ENV001", "K", "f", 1, "m"))


# (.env value, template default) -> what adopting the default would do
ANALYSE = [
    # empty <-> value comes first, whatever the value looks like
    ("", "x", "empty-to-value"),
    ("", "10", "empty-to-value"),
    ("", "true", "empty-to-value"),
    ("", "http://a", "empty-to-value"),
    ("x", "", "value-to-empty"),
    ("10", "", "value-to-empty"),
    ("/data", "", "value-to-empty"),
    # numbers: direction is from the env value to the template default (Dify's script)
    ("20", "10", "numeric-decrease"),
    ("10", "20", "numeric-increase"),
    ("1.5", "2.25", "numeric-increase"),
    ("-1", "-5", "numeric-decrease"),
    ("0.5", "0.25", "numeric-decrease"),
    ("100", "1e3", "numeric-increase"),
    (" 7", "8", "numeric-increase"),
    # booleans, any spelling Dify's templates use
    ("true", "false", "boolean-toggle"),
    ("false", "true", "boolean-toggle"),
    ("True", "false", "boolean-toggle"),
    ("yes", "no", "boolean-toggle"),
    ("on", "off", "boolean-toggle"),
    ("enabled", "disabled", "boolean-toggle"),
    # "1"/"0" are numbers first
    ("1", "0", "numeric-decrease"),
    ("0", "1", "numeric-increase"),
    # URLs on either side
    ("http://api:5001", "http://api:5002", "url-change"),
    ("redis://localhost:6379/0", "rediss://cache/1", "url-change"),
    ("localhost", "http://localhost", "url-change"),
    ("https://x.example", "x.example", "url-change"),
    # paths on either side
    ("/app/storage", "/data/storage", "path-change"),
    ("./volumes/db", "./volumes/db2", "path-change"),
    ("../x", "y", "path-change"),
    ("text", "~/y", "path-change"),
    # anything else
    ("weaviate", "qdrant", "text-change"),
    ("INFO", "DEBUG", "text-change"),
    ("true", "maybe", "text-change"),
    ("10", "ten", "text-change"),
    ("${A}", "${B}", "text-change"),
]


@pytest.mark.parametrize(("current", "default", "expected"), ANALYSE)
def test_analyse_change(current: str, default: str, expected: str) -> None:
    assert analyse_change(current, default) == expected


@pytest.mark.parametrize(("current", "default", "expected"), ANALYSE)
def test_analyse_change_result_is_a_documented_kind(
    current: str, default: str, expected: str
) -> None:
    assert analyse_change(current, default) in ANALYSIS_KINDS


@pytest.mark.parametrize(
    ("current", "default"),
    [("20", "10"), ("1.5", "3"), ("", "x"), ("true", "false"), ("http://a", "http://b")],
)
def test_analyse_change_swaps_direction(current: str, default: str) -> None:
    opposite = {
        "numeric-increase": "numeric-decrease",
        "numeric-decrease": "numeric-increase",
        "empty-to-value": "value-to-empty",
        "value-to-empty": "empty-to-value",
    }
    forward = analyse_change(current, default)
    assert analyse_change(default, current) == opposite.get(forward, forward)


def _f(file: str, line: int, code: str, key: str = "K") -> Finding:
    return make_finding(code, key, file, line, "m")


def test_findings_sort_by_file_then_line_then_code() -> None:
    ordered = [
        _f(".env", 1, "ENV002"),
        _f(".env", 2, "ENV006"),
        _f(".env", 10, "ENV002"),
        _f(".env.example", 1, "ENV001"),
        _f(".env.example", 1, "ENV007"),
        _f(".env.example", 2, "ENV001"),
        _f(".env.example", 9, "ENV003"),
        _f(".env.example", 10, "ENV001"),
        _f("a/.env.example", 1, "ENV001"),
    ]
    shuffled = ordered[:]
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert sorted(shuffled) == ordered


def test_line_sorts_numerically_not_as_text() -> None:
    assert sorted([_f("f", 10, "ENV001"), _f("f", 9, "ENV001")])[0].line == 9


@pytest.mark.parametrize(
    ("severity", "fail_on", "expected"),
    [
        ("error", "error", True),
        ("error", "warning", True),
        ("error", "info", True),
        ("error", "never", False),
        ("warning", "error", False),
        ("warning", "warning", True),
        ("warning", "info", True),
        ("warning", "never", False),
        ("info", "error", False),
        ("info", "warning", False),
        ("info", "info", True),
        ("info", "never", False),
    ],
)
def test_at_or_above(severity: str, fail_on: str, expected: bool) -> None:
    f = make_finding("ENV003", "K", "f", 1, "m", severity=severity)
    assert f.at_or_above(fail_on) is expected


def test_fail_on_choices() -> None:
    assert set(FAIL_ON_CHOICES) == {*SEVERITIES, "never"}
