"""Two-way comparison of an env file with its template: ``envsync_hook.compare.compare``.

Each table row is (template text, env text, expected findings), a finding written as
(code, key, file, line): file is ``T`` for the template and ``E`` for the env file. ENV010
new-optional-key is a three-way finding (DESIGN 4), so its table (and the settings tables) also
run with a base: the previous template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import pytest

from envsync_hook import parse
from envsync_hook.compare import Comparison, compare, index
from envsync_hook.findings import ANALYSIS_TEXT, RULES_BY_CODE, Finding
from envsync_hook.settings import Settings

T = "app/.env.example"
E = "app/.env"

Row = tuple[str, str, str, int]


B = "app/base.env.example"


def run(
    template: str,
    env: str,
    settings: Settings | None = None,
    also: Mapping[str, str] | None = None,
    base: str | None = None,
) -> Comparison:
    sides = tuple(index(path, parse(text)) for path, text in (also or {}).items())
    return compare(
        index(T, parse(template)),
        index(E, parse(env)),
        settings or Settings(),
        base=None if base is None else index(B, parse(base)),
        also=sides,
    )


def rows(findings: list[Finding]) -> list[Row]:
    return [(f.code, f.key, f.file, f.line) for f in findings]


def _sorted(expected: list[Row]) -> list[Row]:
    return sorted(expected, key=lambda r: (r[2], r[3], r[0]))


CASES: list[tuple[str, str, str, list[Row]]] = [
    ("in sync", "A=1\nB=2\n", "A=1\nB=2\n", []),
    ("order does not matter", "A=1\nB=2\n", "B=2\nA=1\n", []),
    ("comments do not matter", "# c\nA=1\n", "A=1 # mine\n", []),
    # ENV001 missing-key: at the template line
    ("missing", "A=1\n\nB=2\n", "A=1\n", [("ENV001", "B", T, 3)]),
    ("missing all", "A=1\nB=\n", "", [("ENV001", "A", T, 1), ("ENV001", "B", T, 2)]),
    ("missing empty default", "A=\n", "", [("ENV001", "A", T, 1)]),
    ("missing after multi-line", "A='x\ny'\nB=2\n", "A='x\ny'\n", [("ENV001", "B", T, 3)]),
    ("commented in env is still missing", "A=1\n", "# A=1\n", [("ENV001", "A", T, 1)]),
    # ENV002 extra-key: at the env line
    ("extra", "A=1\n", "A=1\nX=9\n", [("ENV002", "X", E, 2)]),
    ("extra empty", "A=1\n", "X=\nA=1\n", [("ENV002", "X", E, 1)]),
    # a commented-out template assignment makes the key known: neither extra nor optional-missing
    ("commented opt-in set", "A=1\n# X=5\n", "A=1\nX=9\n", []),
    ("commented export opt-in set", "A=1\n#export X=5\n", "A=1\nX=5\n", []),
    # prose mentioning a key is not an assignment
    ("prose is not opt-in", "A=1\n# set X to 5\n", "A=1\nX=5\n", [("ENV002", "X", E, 2)]),
    # ENV006 duplicate-key: at the last assignment (the one compose uses)
    ("duplicate", "A=1\n", "A=1\nA=1\n", [("ENV006", "A", E, 2)]),
    ("triplicate", "A=1\n", "A=0\nB=\nA=2\nA=1\n", [("ENV002", "B", E, 2), ("ENV006", "A", E, 4)]),
    # the last duplicate is the value compared
    (
        "duplicate last differs",
        "A=1\n",
        "A=1\nA=2\n",
        [("ENV003", "A", T, 1), ("ENV006", "A", E, 2)],
    ),
    ("duplicate last same", "A=1\n", "A=2\nA=1\n", [("ENV006", "A", E, 2)]),
    # a duplicate in the template is not the operator's problem
    ("template duplicate", "A=1\nA=2\n", "A=2\n", []),
    # ENV007 syntax-error: in either file, no key, at the line compose names
    ("env syntax", "A=1\n", "A=1\nB C=2\n", [("ENV007", "", E, 2)]),
    ("template syntax", "A=1\nK!=2\n", "A=1\n", [("ENV007", "", T, 2)]),
    # (Compose fails on the line after the last newline: the finding points at the last line)
    ("unterminated", "A=1\n", "A=1\nB='x\n", [("ENV007", "", E, 2)]),
    ("bad template", "A=1\n", "A=${\n", [("ENV003", "A", T, 1), ("ENV007", "", E, 1)]),
    # ENV010 new-optional-key needs a base (DESIGN 4): without one, a commented-out opt-in the
    # env lacks is no finding (the OPTIONAL table below has these rows with a base)
    ("optional", "A=1\n# OPT=on\n", "A=1\n", []),
    ("two optional", "# O1=1\nA=1\n  # O2=\n", "A=1\n", []),
    # bare keys (value from the environment) are never changed defaults
    ("bare in env", "A=1\n", "A\n", []),
    ("bare in template", "A\n", "A=5\n", []),
]


@pytest.mark.parametrize(
    ("template", "env", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_findings(template: str, env: str, expected: list[Row]) -> None:
    assert rows(run(template, env).findings) == _sorted(expected)


@pytest.mark.parametrize(("code", "key"), [(c, "X") for c in ("ENV001", "ENV002", "ENV006")])
def test_default_severity_and_slug(code: str, key: str) -> None:
    template, env = {
        "ENV001": ("X=1\n", ""),
        "ENV002": ("", "X=1\n"),
        "ENV006": ("X=1\n", "X=1\nX=1\n"),
    }[code]
    (f,) = run(template, env).findings
    rule = RULES_BY_CODE[code]
    assert (f.code, f.slug, f.severity, f.key) == (code, rule.slug, rule.severity, key)
    assert f.message


# --- ENV010 new-optional-key: only with a base (DESIGN 4) ----------------------------------------

# (id, base, template, env, expected with the base). The base never changes another rule's
# verdict in these rows (its assigned keys hold the template's values), so without the base the
# expectation is the same rows without ENV010: test_optional_needs_a_base checks that.
OPTIONAL: list[tuple[str, str, str, str, list[Row]]] = [
    # the template gained ``# OPT=`` and the env does not set it: at the commented line
    ("gained", "A=1\n", "A=1\n# OPT=on\n", "A=1\n", [("ENV010", "OPT", T, 2)]),
    (
        "two gained",
        "A=1\n",
        "# O1=1\nA=1\n  # O2=\n",
        "A=1\n",
        [("ENV010", "O1", T, 1), ("ENV010", "O2", T, 3)],
    ),
    ("gained, empty base", "", "A=1\n# OPT=on\n", "A=1\n", [("ENV010", "OPT", T, 2)]),
    ("gained export", "A=1\n", "A=1\n#export OPT=on\n", "A=1\n", [("ENV010", "OPT", T, 2)]),
    # only the one the base lacked: ``O1`` was already offered (with another value)
    (
        "one of two gained",
        "A=1\n# O1=0\n",
        "# O1=1\nA=1\n# O2=\n",
        "A=1\n",
        [("ENV010", "O2", T, 3)],
    ),
    # a commented line in the env file does not set the key
    ("commented in env", "A=1\n", "A=1\n# OPT=on\n", "A=1\n# OPT=on\n", [("ENV010", "OPT", T, 2)]),
    # the other rules still apply beside it
    (
        "gained beside a missing key",
        "A=1\n",
        "A=1\nB=2\n# OPT=on\n",
        "A=1\n",
        [("ENV001", "B", T, 2), ("ENV010", "OPT", T, 3)],
    ),
    # not gained: the base already offered it commented out, or assigned it
    ("already commented in base", "A=1\n# OPT=on\n", "A=1\n# OPT=on\n", "A=1\n", []),
    ("commented in base, other value", "A=1\n# OPT=x\n", "A=1\n# OPT=on\n", "A=1\n", []),
    ("assigned in base", "A=1\nOPT=on\n", "A=1\n# OPT=on\n", "A=1\n", []),
    # the env sets it (also to nothing, or bare): no finding, and not an extra key either
    ("env sets it", "A=1\n", "A=1\n# OPT=on\n", "A=1\nOPT=off\n", []),
    ("env sets it empty", "A=1\n", "A=1\n# OPT=on\n", "A=1\nOPT=\n", []),
    ("env sets it bare", "A=1\n", "A=1\n# OPT=on\n", "A=1\nOPT\n", []),
    # the template assigns the key as well: a key, not an opt-in
    ("also assigned", "A=1\n", "# A=0\nA=1\n", "A=1\n", []),
    ("also assigned, new key", "A=1\n", "A=1\n# B=0\nB=1\n", "A=1\n", [("ENV001", "B", T, 3)]),
    # ``# OPT=1`` inside a quoted value is value text, not an opt-in
    ("inside quotes is value", "A=1\n", "A='\n# OPT=1\n'\n", "A='\n# OPT=1\n'\n", []),
    # prose is not an assignment
    ("prose is not an opt-in", "A=1\n", "A=1\n# set OPT to on\n", "A=1\n", []),
]


@pytest.mark.parametrize(
    ("base", "template", "env", "expected"),
    [c[1:] for c in OPTIONAL],
    ids=[c[0] for c in OPTIONAL],
)
def test_optional_with_a_base(base: str, template: str, env: str, expected: list[Row]) -> None:
    c = run(template, env, base=base)
    assert rows(c.findings) == _sorted(expected)
    for f in c.findings:
        if f.code == "ENV010":
            rule = RULES_BY_CODE["ENV010"]
            assert (f.slug, f.severity) == (rule.slug, rule.severity)
            assert f.message


@pytest.mark.parametrize(
    ("base", "template", "env", "expected"),
    [c[1:] for c in OPTIONAL],
    ids=[c[0] for c in OPTIONAL],
)
def test_optional_needs_a_base(base: str, template: str, env: str, expected: list[Row]) -> None:
    without = [r for r in expected if r[0] != "ENV010"]
    assert rows(run(template, env).findings) == _sorted(without)


# --- ENV003 changed-default and its analysis ------------------------------------------------------

# (template default as written, env value as written, analysis): the change from the env value
# to the template default, as adopting the default would make it.
CHANGED = [
    ("x", "", "empty-to-value"),
    ("'x'", '""', "empty-to-value"),
    ("", "x", "value-to-empty"),
    ('""', "'x'", "value-to-empty"),
    ("10", "20", "numeric-decrease"),  # DESIGN: .env 20, template 10
    ("20", "10", "numeric-increase"),
    ("1.5", "0.5", "numeric-increase"),
    ('"30"', "'3'", "numeric-increase"),
    ("false", "true", "boolean-toggle"),
    ("true", "false", "boolean-toggle"),
    ("True", "false", "boolean-toggle"),
    ("http://api:5001", "http://api:5002", "url-change"),
    ("redis://redis:6379", "redis://cache:6379", "url-change"),
    ("/app/api/storage", "/data/storage", "path-change"),
    ("./volumes/app", "./data/app", "path-change"),
    ("weaviate", "qdrant", "text-change"),
    ("INFO", "DEBUG", "text-change"),
    ("${A}", "literal", "text-change"),
]


@pytest.mark.parametrize(("default", "current", "analysis"), CHANGED)
def test_changed_default_analysis(default: str, current: str, analysis: str) -> None:
    c = run(f"# head\nK={default}\n", f"K={current}\n")
    assert rows(c.findings) == [("ENV003", "K", T, 2)]
    (f,) = c.findings
    assert (f.slug, f.severity, f.analysis) == ("changed-default", "info", analysis)
    # the message says it in the operator's frame; the slug stays in ``analysis``
    assert f"({ANALYSIS_TEXT[analysis]})" in f.message


# --- value equality: what compose reads, before interpolation ------------------------------------

# (a, b, equal): two value texts as written after ``K=``
EQUALITY = [
    # quote-only differences are not changes
    ("x", "'x'", True),
    ("x", '"x"', True),
    ("'x'", '"x"', True),
    ("a b", "'a b'", True),
    ("", "''", True),
    ("", '""', True),
    ("x", "x # comment", True),
    ("x", "  x  ", True),
    ("x", '"x" # comment', True),
    ("'a\nb'", '"a\nb"', True),
    ('"a\\nb"', "'a\nb'", True),
    ('"a\\tb"', "'a\tb'", True),
    ('"say \\"hi\\""', "'say \"hi\"'", True),
    # dollars: literal in single quotes, ``$$`` and ``\\$`` escapes
    ("$$A", "'$A'", True),
    ('"\\$A"', "'$A'", True),
    ("$$A", '"$$A"', True),
    ("a$ b", "a$$ b", True),
    ("$", "'$'", True),
    ("$1", "$$1", True),
    # references are compared unexpanded
    ("${A}", '"${A}"', True),
    ("${A:-x}", '"${A:-x}"', True),
    ("${A}", "'${A}'", False),
    ("$A", "'$A'", False),
    ("${A}", "${B}", False),
    ("${A:-x}", "${A:-y}", False),
    ("${A:-x}", "${A}", False),
    ("$A", '"$A"', True),
    # comments: `` #`` ends an unquoted value, a bare ``#`` does not, quotes keep both
    ("a#b", "'a#b'", True),
    ("a #b", "'a #b'", False),
    ("a #b", "a", True),
    # line endings: a CR before the newline is trimmed from an unquoted value
    ("x\r", "x", True),
    # plain differences
    ("x", "y", False),
    ("x", "X", False),
    ("x", "x ", True),
    ("'x '", "x", False),
    ("'a\nb'", "'a\r\nb'", False),
]


@pytest.mark.parametrize(("a", "b", "equal"), EQUALITY)
def test_value_equality(a: str, b: str, equal: bool) -> None:
    for template, env in ((a, b), (b, a)):
        found = rows(run(f"K={template}\n", f"K={env}\n").findings)
        assert found == ([] if equal else [("ENV003", "K", T, 1)]), (template, env)


ENVIRONS: list[dict[str, str]] = [{}, {"A": "v", "B": "w"}, {"A": ""}, {"B": "v"}]


@pytest.mark.parametrize(("a", "b", "equal"), EQUALITY)
def test_value_equality_is_what_compose_reads(
    compose: Callable[..., list[Any]], a: str, b: str, equal: bool
) -> None:
    """Equal values read alike in every environment; unequal ones differ in some environment."""
    same = []
    for environ in ENVIRONS:
        ra, rb = compose([f"K={a}\n", f"K={b}\n"], environ)
        assert isinstance(ra, dict) and isinstance(rb, dict), (ra, rb)
        same.append(ra == rb)
    assert all(same) if equal else not all(same)


def test_reference_is_not_expanded_from_the_env_file() -> None:
    """``${A}`` in the template and A's own value in the env file: still a difference."""
    c = run("A=foo\nX=${A}\n", "A=foo\nX=foo\n")
    assert rows(c.findings) == [("ENV003", "X", T, 2)]
    c = run("A=foo\nX=foo\n", "A=foo\nX=${A}\n")
    assert rows(c.findings) == [("ENV003", "X", T, 2)]


def test_reference_is_not_expanded_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVSYNC_TEST_REF", "foo")
    c = run("X=${ENVSYNC_TEST_REF}\n", "X=foo\n")
    assert rows(c.findings) == [("ENV003", "X", T, 1)]


@pytest.mark.parametrize(("a", "b"), [("$A", "${A}"), ("$A/x", '"${A}/x"')])
def test_braces_only_difference_is_not_a_change(a: str, b: str) -> None:
    assert run(f"K={a}\n", f"K={b}\n").findings == []


# --- --also: relocated keys ---------------------------------------------------------------------


def test_key_of_another_template_is_relocated_not_extra() -> None:
    also = {"app/envs/db.env.example": "# db\nDB_HOST=db\n", "app/envs/x.env.example": "# Y=1\n"}
    c = run("A=1\n", "A=1\nDB_HOST=mine\nY=2\nZ=3\n", also=also)
    assert rows(c.findings) == [
        ("ENV002", "Z", E, 4),
        ("ENV008", "DB_HOST", "app/envs/db.env.example", 2),
        ("ENV008", "Y", "app/envs/x.env.example", 1),
    ]
    assert c.relocated == {"DB_HOST": "app/envs/db.env.example", "Y": "app/envs/x.env.example"}


# (name, base, env, expected decision for DB_HOST, words of the ENV008 message)
RELOCATED: list[tuple[str, str | None, str, str, str]] = [
    ("two-way: kept", None, "DB_HOST=db\n", "trail", "fix keeps it"),
    ("still the old default: dropped", "A=1\nDB_HOST=db\n", "DB_HOST=db\n", "drop", "drops it"),
    (
        "old default written otherwise: dropped",
        "A=1\nDB_HOST=db\n",
        "DB_HOST='db' # mine\n",
        "drop",
        "previous template's default",
    ),
    ("customised: kept", "A=1\nDB_HOST=db\n", "DB_HOST=mine\n", "trail", "customised"),
    ("not in the base: kept", "A=1\n", "DB_HOST=db\n", "trail", "fix keeps it"),
    ("only commented in the base: kept", "A=1\n# DB_HOST=db\n", "DB_HOST=db\n", "trail", "keeps"),
    ("bare in the env: kept", "A=1\nDB_HOST=db\n", "DB_HOST\n", "trail", "keeps"),
]


@pytest.mark.parametrize(
    ("base", "env", "decision", "words"),
    [r[1:] for r in RELOCATED],
    ids=[r[0] for r in RELOCATED],
)
def test_relocated_key_three_way(base: str | None, env: str, decision: str, words: str) -> None:
    """With a base, a relocated key still holding the old default is dropped (the template that
    now defines it gives its own default); a customised one is kept, and the message says so."""
    also = {"app/envs/db.env.example": "DB_HOST=db_postgres\n"}
    c = run("A=1\n", "A=1\n" + env, also=also, base=base)
    assert c.decisions["DB_HOST"] == decision
    (found,) = [f for f in c.findings if f.code == "ENV008"]
    assert found.key == "DB_HOST" and words in found.message, found.message


# --- keys checked -------------------------------------------------------------------------------


def test_keys_checked_are_template_keys_then_env_only_keys() -> None:
    c = run("A=1\n# O=1\nB=2\nA=3\n", "C=1\nB=2\nO=5\nC=2\n")
    assert c.keys == [("A", T, 4), ("B", T, 3), ("C", E, 4), ("O", E, 3)]


# --- settings: ignored keys, severities ---------------------------------------------------------

TEMPLATE = "A=1\nB=2\nDB_X=3\n# OPT=1\n"
ENV = "A=9\nDB_X=3\nDB_X=3\nEXTRA=1\nB C=1\n"
# the previous template: the same defaults, and no ``# OPT=`` yet (so the template gained it)
BASE = "A=1\nB=2\nDB_X=3\n"
ALL = [
    ("ENV003", "A", T, 1),
    ("ENV001", "B", T, 2),
    ("ENV010", "OPT", T, 4),  # with BASE only
    ("ENV006", "DB_X", E, 3),
    ("ENV002", "EXTRA", E, 4),
    ("ENV007", "", E, 5),
]


def expected_all(base: str | None) -> list[Row]:
    """ALL as the rule says: ENV010 only with a base (DESIGN 4)."""
    return [r for r in ALL if base is not None or r[0] != "ENV010"]


WITH_AND_WITHOUT_BASE = pytest.mark.parametrize("base", [BASE, None], ids=["base", "no-base"])


@WITH_AND_WITHOUT_BASE
@pytest.mark.parametrize(
    ("ignore", "gone"),
    [
        ((), set()),
        (("A",), {"A"}),
        (("DB_*",), {"DB_X"}),
        (("OPT",), {"OPT"}),
        (("B", "EXTRA", "OPT"), {"B", "EXTRA", "OPT"}),
        (("*",), {"A", "B", "DB_X", "EXTRA", "OPT"}),  # a syntax error has no key: still reported
        (("a",), set()),  # case-sensitive
        (("DB",), set()),  # a whole-key pattern, not a substring
    ],
)
def test_ignored_keys(ignore: tuple[str, ...], gone: set[str], base: str | None) -> None:
    c = run(TEMPLATE, ENV, Settings(ignore=ignore), base=base)
    assert rows(c.findings) == _sorted([r for r in expected_all(base) if r[1] not in gone])


@WITH_AND_WITHOUT_BASE
@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ((), {"ENV001": "error", "ENV002": "warning", "ENV003": "info", "ENV006": "warning"}),
        ((("missing-key", "warning"),), {"ENV001": "warning"}),
        ((("ENV001", "info"),), {"ENV001": "info"}),
        (
            (("extra-key", "error"), ("changed-default", "warning")),
            {"ENV002": "error", "ENV003": "warning"},
        ),
        (
            (("ENV007", "warning"), ("new-optional-key", "error")),
            {"ENV007": "warning", "ENV010": "error"},
        ),
        ((("ENV010", "warning"),), {"ENV010": "warning"}),
        # the first matching override wins (command line before configuration)
        ((("ENV001", "info"), ("missing-key", "error")), {"ENV001": "info"}),
    ],
)
def test_severity_overrides(
    severities: tuple[tuple[str, str], ...], expected: dict[str, str], base: str | None
) -> None:
    c = run(TEMPLATE, ENV, Settings(severities=severities), base=base)
    assert rows(c.findings) == _sorted(expected_all(base))
    got = {f.code: f.severity for f in c.findings}
    for code, severity in got.items():
        assert severity == expected.get(code, RULES_BY_CODE[code].severity), code


@WITH_AND_WITHOUT_BASE
@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ("missing-key", "ENV001"),
        ("ENV002", "ENV002"),
        ("changed-default", "ENV003"),
        ("duplicate-key", "ENV006"),
        ("ENV007", "ENV007"),
        ("new-optional-key", "ENV010"),
    ],
)
def test_severity_off_removes_the_rule(rule: str, code: str, base: str | None) -> None:
    c = run(TEMPLATE, ENV, Settings(severities=((rule, "off"),)), base=base)
    assert rows(c.findings) == _sorted([r for r in expected_all(base) if r[0] != code])


# --- no values in messages ----------------------------------------------------------------------

PLANTED = {
    "DB_PASSWORD": "Zq7pPlantedSecret1",
    "LOG_LEVEL": "Zq7pPlantedInnocent2",
    "URL": "https://user:Zq7pPlantedUrlPw3@host/x",
}


def test_messages_carry_no_values() -> None:
    template = "DB_PASSWORD=difyai123456\nLOG_LEVEL=INFO\nURL=http://x\nNEW=Zq7pTemplateValue4\n"
    env = "".join(f"{k}={v}\n" for k, v in PLANTED.items()) + "OLD=Zq7pExtraValue5\nOLD=again\n"
    c = run(template, env)
    assert {f.code for f in c.findings} == {"ENV001", "ENV002", "ENV003", "ENV006"}
    for f in c.findings:
        assert "Zq7p" not in repr(f)
        assert "difyai123456" not in repr(f)


def test_show_values_masks_secrets_and_url_passwords() -> None:
    template = "DB_PASSWORD=difyai123456\nLOG_LEVEL=INFO\nURL=http://x\n"
    env = "".join(f"{k}={v}\n" for k, v in PLANTED.items())
    c = run(template, env, Settings(show_values=True))
    messages = {f.key: f.message for f in c.findings}
    assert set(messages) == {"DB_PASSWORD", "LOG_LEVEL", "URL"}
    assert "Zq7pPlantedInnocent2" in messages["LOG_LEVEL"]
    assert "Zq7pPlantedSecret1" not in messages["DB_PASSWORD"]
    assert "difyai123456" not in messages["DB_PASSWORD"]
    assert "Zq7pPlantedUrlPw3" not in messages["URL"]
    assert "host" in messages["URL"]


@pytest.mark.parametrize(
    ("times", "shown"), [(2, "lines 1, 2)"), (10, "9, 10)"), (11, "and 1 more")]
)
def test_duplicate_lines_listed_at_most_ten(times: int, shown: str) -> None:
    """100,000 duplicates made one 344 KB message line; the list stops at ten."""
    (finding,) = [f for f in run("A=1\n", "A=1\n" * times).findings if f.code == "ENV006"]
    assert f"assigned {times} times" in finding.message and shown in finding.message
    assert finding.message.count(",") <= 10


def test_duplicate_message_is_short_for_many_duplicates() -> None:
    (finding,) = [f for f in run("A=1\n", "A=1\n" * 100_000).findings if f.code == "ENV006"]
    assert len(finding.message) < 120 and "and 99990 more" in finding.message
