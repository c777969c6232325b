"""The findings that remain after fix (``compare.after_fix``) are those of comparing the merged
text again, on generated template/env/base/set quadruples and on real upgrades.

``after_fix`` works them out from the comparison fix merged from, instead of comparing again:
these tests hold the two equal, finding for finding and key for key, and show that the
shortcut's rules are needed (a version that keeps every finding fails).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, assume, example, find, given, settings
from hypothesis import strategies as st

import envsync_hook.compare as compare_module
from envsync_hook import parse
from envsync_hook.compare import after_fix, compare, index
from envsync_hook.merge import MergeError, merged
from envsync_hook.settings import Settings

KEYS = ("A", "B", "DB_PASSWORD", "C")
OWN = ("OWN1", "API_TOKEN", "MOVED")
VALUES = ("v", "w", "", "s3cr3t-default", "${A}", "x${B:-d}", '"q v"', "'lit $A'")

value = st.sampled_from(VALUES)
statement = st.builds(
    lambda export, key, v, comment: f"{export}{key}={v}{comment}",
    st.sampled_from(["", "", "", "export "]),
    st.sampled_from(KEYS + OWN),
    value,
    st.sampled_from(["", "", " # mine"]),
)
template_line = st.one_of(
    st.builds(lambda key, v: f"{key}={v}", st.sampled_from(KEYS), value),
    st.builds(lambda key, v: f"{key}={v}", st.sampled_from(KEYS), value),
    st.builds(lambda key, v: f"# {key}={v}", st.sampled_from(KEYS + OWN), value),
    st.sampled_from(["# a comment", ""]),
)
env_line = st.one_of(statement, statement, statement, st.sampled_from(["# my note", "", "B"]))
also_line = st.builds(lambda key, v: f"{key}={v}", st.sampled_from(("MOVED", "OWN1")), value)
runs = st.sampled_from(
    [
        Settings(),
        Settings(),
        Settings(prune=True),
        Settings(keep_stale=True),
        Settings(take_template=("B", "DB_*")),
        Settings(ignore=("OWN*",)),
        Settings(severities=(("ENV013", "off"), ("ENV003", "off"))),
    ]
)


def _text(draw: Callable[..., Any], line: Any, most: int = 7) -> str:
    return "".join(x + "\n" for x in draw(st.lists(line, max_size=most)))


@st.composite
def quadruples(draw: Callable[..., Any]) -> tuple[str, str, str | None, str | None, Settings]:
    template = _text(draw, template_line)
    env = _text(draw, env_line)
    base = _text(draw, template_line) if draw(st.booleans()) else None
    also = _text(draw, also_line, 3) if draw(st.booleans()) else None
    return template, env, base, also, draw(runs)


def both(
    template: str, env: str, base: str | None, also: str | None, run: Settings
) -> tuple[Any, Any] | None:
    """(after_fix's findings and keys, compare's of the merged text); None when fix refuses."""
    t = index(".env.example", parse(template))
    e = index(".env", parse(env))
    b = index("base.env.example", parse(base)) if base is not None else None
    a = (index("envs/api.env.example", parse(also)),) if also is not None else ()
    first = compare(t, e, run, b, a)
    try:
        _text_, doc = merged(t, e, first, ".env.example")
    except MergeError:
        return None
    m = index(".env", doc)
    again = compare(t, m, run, b, a)
    fast = after_fix(first, t, m, run, b, a)
    return (fast[0], list(fast[1])), (again.findings, list(again.keys))


def _valid(*texts: str | None) -> bool:
    return not any(parse(x).errors for x in texts if x is not None)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(case=quadruples())
# (a key kept because a kept value references it, and bare in the env file)
@example(case=("A=v\n", "B\nA=v\nA=x${B:-d}\n", "B=v\n", None, Settings(prune=True)))
def test_after_fix_is_the_comparison_of_the_merged_text(
    case: tuple[str, str, str | None, str | None, Settings],
) -> None:
    assume(_valid(*case[:4]))
    result = both(*case)
    if result is None:
        return
    fast, again = result
    assert fast == again


def test_the_shortcut_rules_are_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeping every finding of the first comparison (no rule at all) is caught."""
    monkeypatch.setattr(compare_module, "_RESOLVED_BY_FIX", frozenset())

    def differs(case: tuple[str, str, str | None, str | None, Settings]) -> bool:
        if not _valid(*case[:4]):
            return False
        result = both(*case)
        return result is not None and result[0] != result[1]

    find(quadruples(), differs, settings=settings(max_examples=2000, deadline=None))


def _corpus() -> Path | None:
    root = os.environ.get("ENVSYNC_CORPUS")
    return Path(root) if root else None


@pytest.mark.parametrize(
    ("old", "new"), [("1.4.0", "1.14.0"), ("1.10.0", "1.14.1"), ("0.6.12", "1.0.0")]
)
@pytest.mark.parametrize("with_base", [False, True])
def test_after_fix_on_real_upgrades(old: str, new: str, with_base: bool) -> None:
    corpus = _corpus()
    if corpus is None:
        pytest.skip("set ENVSYNC_CORPUS=../shared/corpus to run corpus tests")
    old_text = (corpus / "dify" / old / "docker" / ".env.example").read_text(encoding="utf-8")
    new_text = (corpus / "dify" / new / "docker" / ".env.example").read_text(encoding="utf-8")
    # the operator's .env: the old template, a few values customised, a key of their own
    env = old_text.replace("LOG_LEVEL=INFO", "LOG_LEVEL=DEBUG") + "MY_OWN=1\n"
    result = both(new_text, env, old_text if with_base else None, None, Settings())
    assert result is not None
    fast, again = result
    assert again[0], "a real upgrade leaves findings (customised and own keys)"
    assert fast == again
