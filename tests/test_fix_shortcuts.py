"""The shortcuts that make a 100,000-key fix cheaper give what the plain way gives.

Each test compares a shortcut with the computation it replaces, on cases where its condition
holds and on cases where it does not (the shortcut must then step aside): a wrong condition
fails here.
"""

from __future__ import annotations

from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsync_hook import escaping, parse
from envsync_hook.compare import (
    DROP,
    KEEP,
    TAKE,
    TRAIL,
    UNDER,
    Side,
    _holding,
    _names_holding,
    index,
    with_decisions,
)
from envsync_hook.escaping import all_plausible
from envsync_hook.findings import (
    FAIL_ON_CHOICES,
    RULES,
    SEVERITIES,
    Finding,
    PairResult,
    make_finding,
)
from envsync_hook.merge import merged_index
from envsync_hook.reporters.summary import Counts, count
from envsync_hook.reporters.text import _packed


def _same_side(a: Side, b: Side) -> None:
    assert a.path == b.path
    assert a.doc is b.doc
    assert list(a.last.items()) == list(b.last.items())  # (order too: first appearance)
    assert a.dups == b.dups
    assert a.bare_after == b.bare_after


MERGED_INDEX_CASES = [
    # (template, merged text): the usual layout, the shortcut applies
    ("A=1\nB=2\n", "A=1\nB=3\n"),
    ("A=1\nB=2\n", "A=1\nB=2\n# envsync: kept\nC=3\nD=4\n"),
    ("", "C=3\n"),
    ("A=1\n", ""),
    # a kept key that the template also assigns: a duplicate, index's way
    ("A=1\nB=2\n", "A=1\nB=2\nA=3\n"),
    ("A=1\nB=2\n", "A=1\nB=2\nC=3\nC=4\n"),
    # a bare KEY after its own assignment (bare_after)
    ("A=1\nB=2\n", "A=1\nB=2\nA\n"),
    # the template assigns a key twice
    ("A=1\nA=2\nB=3\n", "A=1\nA=2\nB=3\nC=4\n"),
    # not the template's order (a line moved up for a reference), or fewer statements
    ("A=1\nB=2\n", "B=2\nA=1\n"),
    ("A=1\nB=2\nC=3\n", "A=1\nC=3\n"),
    ("A=1\nB=2\n", "C=0\nA=1\nB=2\n"),
]


@pytest.mark.parametrize(("template", "text"), MERGED_INDEX_CASES)
def test_merged_index_is_index(template: str, text: str) -> None:
    t = index(".env.example", parse(template))
    doc = parse(text)
    _same_side(merged_index(".env", doc, t), index(".env", doc))


_LINES = st.sampled_from(["A=1", "B=2", "C=3", "A=9", "D", "export E=5", "# c", "B"])


@settings(max_examples=300, deadline=None)
@given(
    template=st.lists(_LINES, max_size=5),
    rest=st.lists(_LINES, max_size=5),
    cut=st.integers(0, 5),
)
def test_merged_index_is_index_generated(template: list[str], rest: list[str], cut: int) -> None:
    """The template's lines, then others (or a prefix of it only: ``cut``)."""
    ttext = "".join(x + "\n" for x in template)
    mtext = "".join(x + "\n" for x in template[: cut if cut < len(template) else None] + rest)
    t = index(".env.example", parse(ttext))
    doc = parse(mtext)
    _same_side(merged_index(".env", doc, t), index(".env", doc))


_DECISIONS = st.dictionaries(
    st.text("ABCDEFG", min_size=1, max_size=3), st.sampled_from([KEEP, TAKE, DROP, TRAIL, UNDER])
)


@settings(max_examples=300, deadline=None)
@given(decisions=_DECISIONS, wanted=st.lists(st.sampled_from([KEEP, TAKE, DROP, TRAIL, UNDER])))
def test_with_decisions_is_a_filter_per_decision(
    decisions: dict[str, str], wanted: list[str]
) -> None:
    expected = tuple([k for k, d in decisions.items() if d == w] for w in wanted)
    assert with_decisions(decisions, *wanted) == expected


PATTERNS = ("PASSWORD", "TOKEN", "KEY", "PW")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["A", "DB_PASSWORD", "C"], ["A", "DB_PASSWORD", "C"]),
        # names the first call did not look at: added keys (one secret-looking), others gone
        (["A", "DB_PASSWORD", "C"], ["A", "API_TOKEN", "NEW", "C"]),
        (["A", "DB_PASSWORD"], ["X", "MY_KEY", "Y_PW"]),
        ([], ["A_TOKEN", "B"]),
        (["A_TOKEN"], []),
        (["MY_KEY", "B"], ["MY_KEY", "B"]),  # (a hit of PATTERNS, not of other patterns)
    ],
)
def test_holding_with_an_earlier_call_is_holding(before: list[str], after: list[str]) -> None:
    seen = dict.fromkeys(before, 0)
    known = (PATTERNS, seen, _holding(seen, PATTERNS, None))
    names = dict.fromkeys(after, 0)
    assert _holding(names, PATTERNS, known) == _holding(names, PATTERNS, None)
    # an earlier call with other patterns is no help
    other = ("PASSWORD",)
    assert _holding(names, other, known) == frozenset(_names_holding(after, other))
    assert _holding(names, PATTERNS, None) == frozenset(_names_holding(after, PATTERNS))


def test_holding_searches_anew_when_a_pattern_holds_a_newline() -> None:
    """A pattern with a newline matches across two joined names: which names are searched
    together changes the answer, so an earlier call's answer is not reused."""
    patterns = ("A\nB",)
    before, after = ["XA"], ["XA", "BY"]
    seen = dict.fromkeys(before, 0)
    known = (patterns, seen, _holding(seen, patterns, None))
    assert known[2] == frozenset()
    whole = _holding(dict.fromkeys(after, 0), patterns, None)
    assert whole == frozenset({"XA"})  # (the joined names "xa\nby" hold "a\nb")
    assert _holding(dict.fromkeys(after, 0), patterns, known) == whole


@pytest.mark.parametrize(("a", "b"), list(product(["A_KEY", "B"], ["C_PW", "D"])))
def test_holding_is_per_name(a: str, b: str) -> None:
    """The union of two searches is the search of the union (what the reuse relies on)."""
    both = frozenset(_names_holding([a, b], PATTERNS))
    assert both == frozenset(_names_holding([a], PATTERNS)) | frozenset(
        _names_holding([b], PATTERNS)
    )


def _all_plausible_by_regex(keys: list[str]) -> bool:
    """all_plausible as three regex passes (before its substring shortcut)."""
    joined = "\n".join(keys)
    return (
        escaping._PLAIN_NAMES.fullmatch(joined) is not None
        and escaping._LONG_RUN.search(joined) is None
        and escaping._MAYBE_RANDOM.search(joined) is None
    )


_NAME_CHARS = "AB0_9aZ.-\n\u00e9"


@settings(max_examples=1000, deadline=None)
@given(keys=st.lists(st.text(_NAME_CHARS, max_size=20), max_size=4))
def test_all_plausible_is_the_three_regex_passes(keys: list[str]) -> None:
    assert all_plausible(keys) == _all_plausible_by_regex(keys)


@pytest.mark.parametrize(
    "keys",
    [
        ["DB_PASSWORD", "S3_BUCKET_NAME"],  # plausible: no hint at all
        ["ABCDEFGHIJKLMNOP"],  # 16 letters in a row
        ["ABCDEFGHIJ_KLMNOP", "A1234567890123456"],
        ["awsAccessKeyId"],  # a lower-case letter before a capital
        ["A1b"],  # a digit before a lower-case letter
        ["A1B2C3"],  # digit, capitals, digits, capitals, digit
        ["A1B_2C3", "X9Y"],  # a digit before a capital, but no such run
        ["http_proxy", "lower_only"],  # lower-case letters, no hint
    ],
)
def test_all_plausible_cases(keys: list[str]) -> None:
    assert all_plausible(keys) == _all_plausible_by_regex(keys)


def _count_one_by_one(results: list[PairResult], fail_on: str) -> Counts:
    """summary.count as a loop over each finding (before its Counter shortcut)."""
    by_severity = dict.fromkeys(SEVERITIES, 0)
    by_code = {rule.code: 0 for rule in RULES}
    total, failed = 0, False
    for pair in results:
        for f in pair.findings:
            by_severity[f.severity] = by_severity.get(f.severity, 0) + 1
            by_code[f.code] = by_code.get(f.code, 0) + 1
            total += 1
            failed = failed or f.at_or_above(fail_on)
    return Counts(
        by_severity,
        by_code,
        total,
        failed,
        pairs=len(results),
        skipped=sum(1 for p in results if p.skipped),
        changed=sum(1 for p in results if p.changed),
    )


_FINDING = st.builds(
    lambda code, severity, line: make_finding(code, "K", ".env", line, "m", severity),
    st.sampled_from([rule.code for rule in RULES]),
    st.sampled_from(SEVERITIES),
    st.integers(1, 3),
)


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.lists(_FINDING, max_size=6), max_size=3),
    fail_on=st.sampled_from(FAIL_ON_CHOICES),
)
def test_count_is_a_count_of_each_finding(pairs: list[list[Finding]], fail_on: str) -> None:
    results = [PairResult(".env.example", ".env", tuple(fs)) for fs in pairs]
    got = count(results, fail_on)
    want = _count_one_by_one(results, fail_on)
    assert got == want
    assert list(got.by_severity) == list(want.by_severity)  # (the same order of keys)
    assert list(got.by_code) == list(want.by_code)


@settings(max_examples=500, deadline=None)
@given(
    items=st.lists(st.text("ab (1)", min_size=1, max_size=12), max_size=30),
    width=st.integers(5, 40),
    most=st.integers(1, 4),
)
def test_packed_with_most_is_the_start_of_all(items: list[str], width: int, most: int) -> None:
    """What the report takes of the lines (the first ``most``, and whether there are more)
    is the same as when every line is packed."""
    every = _packed("  .env: ", items, width)
    some = _packed("  .env: ", iter(items), width, most)
    assert some[:most] == every[:most]
    assert (len(some) > most) == (len(every) > most)


@settings(max_examples=500, deadline=None)
@given(
    keys=st.lists(st.text("pPaswWdD_kK1", max_size=10), max_size=6, unique=True),
    patterns=st.lists(st.sampled_from(["PASS", "PASSWORD", "PW", "PWD", "KEY", "WD"]), max_size=4),
)
def test_names_holding_is_a_test_per_name(keys: list[str], patterns: list[str]) -> None:
    """The words searched for leave out those holding another (``PASSWORD`` holds ``PASS``):
    the same names come out as when each name is tested for every word."""
    words = {p.lower() for p in patterns} | {"pw"}
    expected = [k for k in keys if any(w in k.lower() for w in words)]
    assert _names_holding(keys, tuple(patterns)) == expected
