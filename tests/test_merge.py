"""The fix merge as a pure function: ``compare`` decides, ``merge.merge`` writes the text.

Table tests pin the layout rules of DESIGN.md section 6 (template lines byte for byte, the
operator's raw value spliced into the template's line, re-quoting only where needed, the
commented-out opt-ins, the trailing block, ``--prune``, ``--take-template``). Property tests check
the invariants on generated template/env pairs: idempotence, no key lost, and every key reads
(through ``compose_values`` and, on a sample, the real Docker Compose) as the operator's value
where kept and the template default otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import pytest
from compose_oracle import ComposeError
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from envsync_hook import DotenvSyntaxError, compose_values, parse
from envsync_hook.cli import main
from envsync_hook.compare import compare as compare_sides
from envsync_hook.compare import index
from envsync_hook.merge import merge
from envsync_hook.settings import Settings
from tests.cli_run import run

MARK = "{MARK}"


def merge_text(
    template: str,
    env: str,
    base: str | None = None,
    **options: Any,
) -> str:
    """``envsync fix`` on texts: compare (two- or three-way), then merge."""
    t = index(".env.example", parse(template))
    e = index(".env", parse(env))
    b = index("base.env.example", parse(base)) if base is not None else None
    comparison = compare_sides(t, e, Settings(**options), b)
    return merge(t, e, comparison, ".env.example")


def assert_layout(result: str, expected: str | tuple[str, ...]) -> None:
    """``result`` equals one of ``expected``; ``{MARK}`` stands for one comment line (the
    trailing block's marker, whose wording is the tool's)."""
    options = expected if isinstance(expected, tuple) else (expected,)
    for want in options:
        if MARK not in want:
            if result == want:
                return
            continue
        pre, post = want.split(MARK)
        if not (result.startswith(pre) and result.endswith(post)):
            continue
        middle = result[len(pre) : len(result) - len(post)]
        if middle.startswith("#") and "\n" not in middle and "\r" not in middle:
            return
    raise AssertionError(f"merged text {result!r} is not any of {options!r}")


# --------------------------------------------------------------------------------------------
# table: (id, template, env, options, expected output)

LAYOUT: list[tuple[str, str, str, dict[str, Any], str | tuple[str, ...]]] = [
    ("in sync: nothing changes", "A=1\nB=2\n", "A=1\nB=2\n", {}, "A=1\nB=2\n"),
    (
        "comments, blank lines and order come from the template",
        "# head\n\nA=1\n# about B\nB=2\n\n# tail\n",
        "B=3\nA=4\n",
        {},
        "# head\n\nA=4\n# about B\nB=3\n\n# tail\n",
    ),
    ("a new key arrives with its default", "A=1\nB=2\n", "A=5\n", {}, "A=5\nB=2\n"),
    ("CRLF template gives CRLF output", "A=1\r\nB=2\r\n", "A=5\n", {}, "A=5\r\nB=2\r\n"),
    ("CRLF env, LF template: LF output", "A=1\nB=2\n", "A=5\r\nB=6\r\n", {}, "A=5\nB=6\n"),
    ("no final newline kept", "A=1\nB=2", "A=5\nB=3\n", {}, "A=5\nB=3"),
    ("final newline added when the template has one", "A=1\n", "A=5", {}, "A=5\n"),
    (
        "only the value text changes: the template's comment stays",
        "A=1 # the port\n",
        "A=8080\n",
        {},
        "A=8080 # the port\n",
    ),
    (
        "the template's spacing and export prefix stay",
        "export A = 1   # c\n",
        "A=2\n",
        {},
        "export A = 2   # c\n",
    ),
    ("single quotes as written", "A=x\n", "A='s p'\n", {}, "A='s p'\n"),
    ("double quotes as written", "A=x\n", 'A="x y"\n', {}, 'A="x y"\n'),
    (
        "escapes as written",
        "A=x # c\n",
        'A="a\\"b\\n"\n',
        {},
        'A="a\\"b\\n" # c\n',
    ),
    (
        "multi-line PEM value as written",
        "PEM=\nB=1\n",
        'PEM="-----BEGIN KEY-----\nMIIB\n-----END KEY-----"\nB=1\n',
        {},
        'PEM="-----BEGIN KEY-----\nMIIB\n-----END KEY-----"\nB=1\n',
    ),
    (
        "multi-line value into a CRLF template keeps its own newlines",
        "A=1\r\nPEM=x\r\nB=2\r\n",
        'PEM="l1\nl2"\n',
        {},
        'A=1\r\nPEM="l1\nl2"\r\nB=2\r\n',
    ),
    (
        "operator value onto an empty CRLF template line",
        "A=\r\nB=2\r\n",
        "A=set\r\n",
        {},
        "A=set\r\nB=2\r\n",
    ),
    (
        "multi-line operator value onto an empty CRLF template line",
        "PEM=\r\nB=1\r\n",
        'PEM="l1\nl2"\n',
        {},
        'PEM="l1\nl2"\r\nB=1\r\n',
    ),
    ("dollar in single quotes as written", "A=x\n", "A='pa$$word'\n", {}, "A='pa$$word'\n"),
    ("escaped dollar as written", "A=x\n", 'A="a\\$b"\n', {}, 'A="a\\$b"\n'),
    (
        "a reference stays a reference",
        "A=1 # c\n",
        "A=${X:-d}\n",
        {},
        "A=${X:-d} # c\n",
    ),
    (
        "' #' inside quotes as written",
        "A=x # c\n",
        'A="v #not a comment"\n',
        {},
        'A="v #not a comment" # c\n',
    ),
    (
        "unquoted operator value onto a quoted template value before ' # comment'",
        'A="x" # c\n',
        "A=y\n",
        {},
        ("A=y # c\n", 'A="y" # c\n'),
    ),
    (
        "unquoted '#' without a space is part of the value",
        "A=x # c\n",
        "A=y#z\n",
        {},
        "A=y#z # c\n",
    ),
    # re-quoting: only where the splice would change what compose reads
    (
        "empty value before ' # comment' is quoted",
        "A=1 # the port\n",
        "A=\n",
        {},
        ('A="" # the port\n', "A='' # the port\n"),
    ),
    (
        "empty value without a comment needs no quotes",
        "A=1\n",
        "A=\n",
        {},
        "A=\n",
    ),
    (
        'unquoted value onto KEY="x"#c is quoted (y#c would be the value)',
        'A="x"#c\n',
        "A=y\n",
        {},
        ('A="y"#c\n', "A='y'#c\n"),
    ),
    (
        'quoted operator value onto KEY="x"#c needs nothing more',
        'A="x"#c\n',
        "A='y'\n",
        {},
        "A='y'#c\n",
    ),
    # the env's own syntax variants are read, then written in the template's layout
    ("'KEY =value' in env", "A=1\n", "A =5\n", {}, "A=5\n"),
    ("export prefix in env: kept (issue 12)", "A=1\n", "export A=5\n", {}, "export A=5\n"),
    ("env duplicates: the last one counts", "A=1\n", "A=2\nA=9\n", {}, "A=9\n"),
    (
        "template duplicates: the last one is edited",
        "A=1\nA=2\n",
        "A=9\n",
        {},
        ("A=1\nA=9\n", "A=9\nA=9\n"),
    ),
    ("bare KEY in env replaces the line", "A=1\n", "A\n", {}, "A\n"),
    ("bare KEY in the template, operator sets it", "A\nB=1\n", "A=3\nB=1\n", {}, "A=3\nB=1\n"),
    # commented-out opt-ins
    (
        "operator value goes right below the template's commented-out line",
        "A=1\n# B=2\nC=3\n",
        "A=1\nB=5\nC=3\n",
        {},
        "A=1\n# B=2\nB=5\nC=3\n",
    ),
    (
        "below a '#B=' without space and a trailing comment",
        "A=1\n#B=2 # optional\nC=3\n",
        "B=5\n",
        {},
        "A=1\n#B=2 # optional\nB=5\nC=3\n",
    ),
    (
        "below a commented-out line at the end without final newline",
        "A=1\n# B=2",
        "B=5\n",
        {},
        "A=1\n# B=2\nB=5",
    ),
    (
        "below a commented-out line in a CRLF template",
        "A=1\r\n# B=2\r\nC=3\r\n",
        "B='5'\n",
        {},
        "A=1\r\n# B=2\r\nB='5'\r\nC=3\r\n",
    ),
    # operator-only keys: one trailing block under a marker comment
    (
        "operator-only keys keep the comment lines directly above them",
        "A=1\n",
        "# my note\nX=1\n\nA=2\n# not directly above\n\n# about Y\n# more\nY='q'\n",
        {},
        "A=2\n\n" + MARK + "\n# my note\nX=1\n# about Y\n# more\nY='q'\n",
    ),
    (
        "operator-only multi-line value",
        "A=1\n",
        'PEM="l1\nl2"\n',
        {},
        "A=1\n\n" + MARK + '\nPEM="l1\nl2"\n',
    ),
    (
        "trailing block follows the template's EOL",
        "A=1\r\n",
        "X=1\n",
        {},
        "A=1\r\n\r\n" + MARK + "\r\nX=1\r\n",
    ),
    (
        "trailing block after a template without final newline",
        "A=1",
        "A=1\nX=2\n",
        {},
        "A=1\n\n" + MARK + "\nX=2",
    ),
    ("--prune drops operator-only keys", "A=1\n", "# mine\nX=1\nA=2\n", {"prune": True}, "A=2\n"),
    (
        "--prune keeps values set for commented-out opt-ins",
        "A=1\n# B=2\n",
        "B=5\nX=1\n",
        {"prune": True},
        "A=1\n# B=2\nB=5\n",
    ),
    (
        "--take-template takes the default for that key only",
        "A=1\nB=2\n",
        "A=7\nB=8\n",
        {"take_template": ("A",)},
        "A=1\nB=8\n",
    ),
    (
        "--take-template is a pattern",
        "AB=1\nAC=2\nB=3\n",
        "AB=7\nAC=8\nB=9\n",
        {"take_template": ("A*",)},
        "AB=1\nAC=2\nB=9\n",
    ),
    ("empty env: the template", "# c\nA=1\n", "", {}, "# c\nA=1\n"),
    ("empty template: the env's keys in the block", "", "A=1\n", {}, MARK + "\nA=1\n"),
    ("BOM in the template stays", "\ufeffA=1\n", "A=2\n", {}, "\ufeffA=2\n"),
]


def _values(text: str) -> dict[str, str]:
    return compose_values(text, {})


@pytest.mark.parametrize(
    ("template", "env", "options", "expected"),
    [row[1:] for row in LAYOUT],
    ids=[row[0] for row in LAYOUT],
)
def test_merge_layout(
    template: str, env: str, options: dict[str, Any], expected: str | tuple[str, ...]
) -> None:
    result = merge_text(template, env, **options)
    assert_layout(result, expected)
    # and the layout is what compose reads as intended: the expected text's values
    first = expected[0] if isinstance(expected, tuple) else expected
    assert _values(result) == _values(first.replace(MARK, "# marker"))


@pytest.mark.parametrize(
    ("template", "env", "options", "expected"),
    [row[1:] for row in LAYOUT],
    ids=[row[0] for row in LAYOUT],
)
def test_merge_layout_through_main(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    template: str,
    env: str,
    options: dict[str, Any],
    expected: str | tuple[str, ...],
) -> None:
    """The same table through ``main(["fix", ...])`` on real files."""
    (tmp_path / ".env.example").write_bytes(template.encode("utf-8"))
    (tmp_path / ".env").write_bytes(env.encode("utf-8"))
    monkeypatch.chdir(tmp_path)
    argv = ["fix", "--quiet", "--format", "json", "--output", os.devnull]
    if options.get("prune"):
        argv.append("--prune")
    for pattern in options.get("take_template", ()):
        argv += ["--take-template", pattern]
    code = main(argv)
    result = (tmp_path / ".env").read_bytes().decode("utf-8")
    assert_layout(result, expected)
    assert code == (0 if result == env else 1)


def test_later_upgrades_keep_one_trailing_block() -> None:
    """Upgrade after upgrade, the operator-only keys stay in one block under one marker."""
    first = merge_text("A=1\n", "A=5\n# mine\nX=1\n")
    marker = first.splitlines()[2]
    assert marker.startswith("#")
    second_env = first + "# also mine\nY=2\n"
    second = merge_text("A=1\nB=2\n", second_env)
    assert second.splitlines().count(marker) == 1
    assert_layout(second, "A=5\nB=2\n\n" + MARK + "\n# mine\nX=1\n# also mine\nY=2\n")


def test_a_key_the_template_adopts_leaves_the_trailing_block() -> None:
    first = merge_text("A=1\n", "A=5\n# mine\nX=1\n")
    second = merge_text("A=1\nX=9 # now upstream\n", first)
    assert second == "A=5\nX=1 # now upstream\n"


# --------------------------------------------------------------------------------------------
# three-way decisions in the merge (the CLI side is in test_threeway.py)

THREE_WAY: list[tuple[str, str, str, str, dict[str, Any], str | tuple[str, ...]]] = [
    # id, base, template, env, options, expected
    ("stale default takes the new one", "A=1\n", "A=2\n", "A=1\n", {}, "A=2\n"),
    ("stale default, quoted differently", "A=1\n", "A=2\n", "A='1'\n", {}, "A=2\n"),
    ("--keep-stale keeps it", "A=1\n", "A=2\n", "A=1\n", {"keep_stale": True}, "A=1\n"),
    ("conflict keeps the operator's", "A=1\n", "A=2\n", "A=5\n", {}, "A=5\n"),
    (
        "conflict with --take-template",
        "A=1\n",
        "A=2\n",
        "A=5\n",
        {"take_template": ("A",)},
        "A=2\n",
    ),
    ("customised, default unchanged", "A=1\n", "A=1\n", "A=5\n", {}, "A=5\n"),
    ("quote-only change upstream is no change", "A=1\n", 'A="1"\n', "A=1\n", {}, 'A="1"\n'),
    (
        "removed upstream at the old default: dropped",
        "A=1\nGONE=old\n",
        "A=1\n",
        "A=1\nGONE=old\n",
        {},
        "A=1\n",
    ),
    (
        "removed upstream, customised: kept",
        "A=1\nGONE=old\n",
        "A=1\n",
        "A=1\nGONE=mine\n",
        {},
        "A=1\n\n" + MARK + "\nGONE=mine\n",
    ),
    (
        "removed upstream, customised, --prune: dropped",
        "A=1\nGONE=old\n",
        "A=1\n",
        "A=1\nGONE=mine\n",
        {"prune": True},
        "A=1\n",
    ),
    (
        "a reference equal to the old default is stale (compared before interpolation)",
        "B=1\nA=${B}\n",
        "B=1\nA=${B}/x\n",
        "B=7\nA=${B}\n",
        {},
        "B=7\nA=${B}/x\n",
    ),
]


@pytest.mark.parametrize(
    ("base", "template", "env", "options", "expected"),
    [row[1:] for row in THREE_WAY],
    ids=[row[0] for row in THREE_WAY],
)
def test_merge_three_way(
    base: str,
    template: str,
    env: str,
    options: dict[str, Any],
    expected: str | tuple[str, ...],
) -> None:
    assert_layout(merge_text(template, env, base=base, **options), expected)


# --------------------------------------------------------------------------------------------
# generated template/env pairs

KEYS = ("A", "B", "C", "D", "E_1")
# references name only variables that are never keys, so what compose reads does not depend on
# the order of the lines, and the expectation below needs no knowledge of the merge's layout
ENVIRONS: tuple[dict[str, str], ...] = ({}, {"X": "ex", "Y": "why y"})

_UNQUOTED_FIRST = st.sampled_from(["a", "b", "1", "#", "$$", "$X", "${Y}", "${X:-d}", "é", "="])
_UNQUOTED_REST = st.sampled_from(
    [
        "a",
        "b",
        "1",
        " ",
        "#",
        " #",
        "$$",
        "$X",
        "${Y}",
        "${X:-d}",
        "${Y-e f}",
        "\\",
        "=",
        "'",
        '"',
        "é",
        "{",
        "}",
        ":",
    ]
)
_DOUBLE = st.sampled_from(
    [
        "a",
        " ",
        "#",
        " # ",
        "\n",
        "\\n",
        '\\"',
        "\\\\",
        "$X",
        "${Y:-z}",
        "$$",
        "\\$",
        "'",
        "é",
        "-----BEGIN KEY-----\nMIIB\n-----END KEY-----",
    ]
)
_SINGLE = st.sampled_from(["a", " ", "#", " # ", "\n", '"', "$", "$X", "${Y}", "\\'", "é"])

unquoted = st.builds(
    lambda first, rest: first + "".join(rest), _UNQUOTED_FIRST, st.lists(_UNQUOTED_REST, max_size=4)
)
values = st.one_of(
    st.just(""),
    unquoted,
    unquoted,
    st.lists(_DOUBLE, max_size=4).map(lambda p: '"' + "".join(p) + '"'),
    st.lists(_SINGLE, max_size=4).map(lambda p: "'" + "".join(p) + "'"),
)
assignments = st.builds(
    lambda export, key, sp1, sp2, value, trail: f"{export}{key}{sp1}={sp2}{value}{trail}",
    st.sampled_from(["", "", "", "export "]),
    st.sampled_from(KEYS),
    st.sampled_from(["", "", " "]),
    st.sampled_from(["", "", " "]),
    values,
    st.sampled_from(["", "", " # note", "  ", " #"]),
)
commented = st.builds(
    lambda sp, key, v: f"#{sp}{key}={v}",
    st.sampled_from(["", " "]),
    st.sampled_from(KEYS),
    st.sampled_from(["1", "x", "on"]),
)
lines = st.one_of(
    assignments,
    assignments,
    assignments,
    commented,
    st.sampled_from(["# note", "#", "  # indented", "# KEY: not an assignment", ""]),
    st.sampled_from(KEYS),  # a bare KEY: the value comes from the environment
)


@st.composite
def dotenv_texts(draw: Callable[..., Any]) -> str:
    body: list[str] = draw(st.lists(lines, max_size=8))
    eol: str = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    final: bool = draw(st.booleans())
    text = eol.join(body)
    # a bare KEY as the very last line without a newline reads as key "" (a compose-go quirk,
    # covered by its own test below): end such texts with a newline
    if body and body[-1] in KEYS:
        final = True
    return text + eol if final and body else text


def readable(text: str) -> bool:
    """Compose accepts ``text`` (no syntax error, no malformed ``${``), and no bare ``KEY``
    follows an assignment of the same key (covered by its own test below)."""
    doc = parse(text)
    if doc.errors:
        return False
    assigned: set[str] = set()
    for b in doc.bindings:
        if b.inherited and b.key in assigned:
            return False
        if not b.inherited:
            assigned.add(b.key)
    try:
        for environ in ENVIRONS:
            compose_values(text, environ)
    except DotenvSyntaxError:
        return False
    return True


def clear_of_known_bugs(template: str, env: str) -> bool:
    """False for pairs that hit a bug with its own test (``test_bug_*`` below): a bare ``KEY`` in
    the env while the template has no final newline, or while the template assigns that key
    more than once; an empty value or a bare ``KEY`` in a file with CRLF line endings; a
    multi-line value in the env with a line that starts with ``#``."""
    for b in parse(env).bindings:
        inner = env[b.value_start : b.value_end].split("\n")[1:]
        if any(line.lstrip().startswith("#") for line in inner):
            return False
    if "\r" in template + env and any(
        b.value_start == b.value_end for text in (template, env) for b in parse(text).bindings
    ):
        return False
    bare = {b.key for b in parse(env).bindings if b.inherited}
    if not bare:
        return True
    if template != "" and not template.endswith("\n"):
        return False
    assigned = [b.key for b in parse(template).bindings]
    return not any(assigned.count(k) > 1 for k in bare)


def keys_of(text: str) -> set[str]:
    return {b.key for b in parse(text).bindings}


_COMMENTED_KEY = re.compile(r"^[ \t]*#[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=", re.M)


def expected_values(
    template_values: Mapping[str, str], env_values: Mapping[str, str], env_keys: set[str]
) -> dict[str, str]:
    """The operator's value for every key the env sets, the template default for the rest."""
    want = {k: v for k, v in template_values.items() if k not in env_keys}
    want.update(env_values)
    return want


SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


def check_contract(template: str, env: str, **options: Any) -> str:
    """The invariants of DESIGN.md section 6.5 for one pair; returns the merged text."""
    result = merge_text(template, env, **options)
    assert not parse(result).errors
    assert merge_text(template, result, **options) == result, "fix is not idempotent"
    taken = options.get("take_template", ())
    for environ in ENVIRONS + ({"A": "from-environ", "B": "from-environ"},):
        t = compose_values(template, environ)
        want = expected_values(t, compose_values(env, environ), keys_of(env))
        for key in taken:
            if key in t:
                want[key] = t[key]
        assert compose_values(result, environ) == want, environ
    return result


# Pairs the property tests below found; each breaks the contract in the version this file was
# written against (they are excluded from the generated pairs by ``clear_of_known_bugs`` so that
# the properties keep looking for new problems).
EDGE_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("CRLF env: operator-only key with an empty value", "A=1\r\n", "C=\r\nD=1\r\n", {}),
    ("CRLF template: bare KEY line set by the operator", "A\r\nB=1\r\n", "A=5\r\n", {}),
    ("CRLF template: empty value set by the operator", "A=\r\nB=2\r\n", "A=set\r\n", {}),
    ("template without final newline, operator-only bare KEY", "A=1", "A=1\nB\n", {}),
    ("template without final newline ending in a key set bare", "A=1\nB=2", "A=1\nB\n", {}),
    ("env: assignment, then a bare KEY of the same key", "A=0\n", "A=1\nA\n", {}),
    ("template assigns twice, env has a bare KEY", "A=1\nA=2\n", "A\n", {}),
    ("--take-template for a key the env has bare", "A=1\n", "A\n", {"take_template": ("A",)}),
    (
        "operator-only key below a multi-line value whose last line starts with '#'",
        "",
        'A="x\n# y"\nB=1\n',
        {},
    ),
]


@pytest.mark.parametrize(
    ("template", "env", "options"),
    [row[1:] for row in EDGE_CASES],
    ids=[row[0] for row in EDGE_CASES],
)
def test_bug_edge_cases_keep_the_contract(template: str, env: str, options: dict[str, Any]) -> None:
    result = check_contract(template, env, **options)
    if "\r\n" in template and "\n" not in template.replace("\r\n", ""):
        # a CRLF template: no lone CR, no lone LF in the result
        assert "\r" not in result.replace("\r\n", ""), repr(result)
        assert "\n" not in result.replace("\r\n", ""), repr(result)


@SETTINGS
@given(template=dotenv_texts(), env=dotenv_texts())
def test_fix_is_idempotent_and_loses_nothing(template: str, env: str) -> None:
    assume(readable(template) and readable(env) and clear_of_known_bugs(template, env))
    result = merge_text(template, env)
    assert readable(result)
    # running fix on its own output changes nothing
    assert merge_text(template, result) == result
    # no key of the env disappears
    assert keys_of(env) <= keys_of(result)
    # every key reads as the operator's value where the env sets it, else the template default
    env_keys = keys_of(env)
    for environ in ENVIRONS:
        want = expected_values(
            compose_values(template, environ), compose_values(env, environ), env_keys
        )
        assert compose_values(result, environ) == want


@SETTINGS
@given(template=dotenv_texts(), env=dotenv_texts())
# the operator's comment like the one on an earlier template line of the key: the second run
# dropped it (it was compared with that line's, not the line the value goes on)
@example(template='A=a # note\r\nA=""\r\n#A=1', env="A=a # note")
def test_prune_drops_only_keys_no_template_line_defines(template: str, env: str) -> None:
    assume(readable(template) and readable(env) and clear_of_known_bugs(template, env))
    result = merge_text(template, env, prune=True)
    assert merge_text(template, result, prune=True) == result
    defined = keys_of(template) | set(_COMMENTED_KEY.findall(template))
    assert keys_of(result) == keys_of(template) | (keys_of(env) & defined)
    env_keys = keys_of(env)
    for environ in ENVIRONS:
        want = expected_values(
            compose_values(template, environ), compose_values(env, environ), env_keys
        )
        got = compose_values(result, environ)
        assert got == {k: v for k, v in want.items() if k in defined}


#: (template, env, fix's options, the env file after the first fix): a template that assigns
#: the key twice, the earlier line with a trailing comment like the operator's
TWICE_WITH_A_COMMENT = [
    ('A=a # note\r\nA=""\r\n#A=1', "A=a # note", ("--prune",), "A=a # note\r\nA=a # note\r\n#A=1"),
    ('A=a # note\r\nA=""\r\n#A=1', "A=a # note", (), "A=a # note\r\nA=a # note\r\n#A=1"),
    ("A=x # note\nA=\n", "A=a # note\n", (), "A=x # note\nA=a # note\n"),
    ("A=x # note\nA= # other\n", "A=a # note\n", ("--prune",), "A=x # note\nA= a # note\n"),
]


@pytest.mark.parametrize(("template", "env", "options", "first"), TWICE_WITH_A_COMMENT)
def test_a_second_fix_keeps_the_operators_comment_like_an_earlier_template_lines(
    tmp_path: Path, template: str, env: str, options: tuple[str, ...], first: str
) -> None:
    """fix twice through the CLI: the first keeps the operator's trailing comment on the line
    the value goes on (the template's last of the key), and the second changes nothing (no
    write, no new backup); Compose reads the operator's values throughout."""
    (tmp_path / ".env.example").write_bytes(template.encode("utf-8"))
    (tmp_path / ".env").write_bytes(env.encode("utf-8"))
    done = run(tmp_path, "fix", *options)
    assert done.returncode in (0, 1), done.stderr
    after = (tmp_path / ".env").read_bytes().decode("utf-8")
    assert after == first
    backups = sorted(p.name for p in (tmp_path / "env-backup").iterdir())
    again = run(tmp_path, "fix", *options)
    assert again.returncode in (0, 1), again.stderr
    assert (tmp_path / ".env").read_bytes().decode("utf-8") == first
    assert sorted(p.name for p in (tmp_path / "env-backup").iterdir()) == backups
    assert "updated" not in again.stdout + again.stderr
    for environ in ENVIRONS:
        assert compose_values(first, environ) == compose_values(env, environ)


@SETTINGS
@given(template=dotenv_texts(), env=dotenv_texts())
def test_take_template_takes_the_default(template: str, env: str) -> None:
    assume(readable(template) and readable(env) and clear_of_known_bugs(template, env))
    bare = {b.key for b in parse(env).bindings if b.inherited}
    for key in sorted(template_values_any(template) - bare):
        result = merge_text(template, env, take_template=(key,))
        assert merge_text(template, result, take_template=(key,)) == result
        for environ in ENVIRONS:
            t = compose_values(template, environ)
            got = compose_values(result, environ)
            assert got.get(key) == t.get(key)
            want = expected_values(t, compose_values(env, environ), keys_of(env))
            others = {k: v for k, v in want.items() if k != key}
            assert {k: v for k, v in got.items() if k != key} == others


def template_values_any(template: str) -> set[str]:
    """Keys the template assigns a value to (its last assignment is not a bare KEY)."""
    last: dict[str, bool] = {}
    for b in parse(template).bindings:
        last[b.key] = b.inherited
    return {k for k, inherited in last.items() if not inherited}


@SETTINGS
@given(template=dotenv_texts())
def test_fix_of_a_fresh_copy_is_the_template(template: str) -> None:
    assume(readable(template))
    assert merge_text(template, template) == template


@SETTINGS
@given(template=dotenv_texts(), env=dotenv_texts())
def test_line_endings_follow_a_crlf_template(template: str, env: str) -> None:
    assume("\r\n" in template and readable(template) and readable(env))
    # no value in either file spans lines: then every line ending of the result is the template's
    assume(all("\n" not in b.template for b in parse(template).bindings))
    assume(all("\n" not in b.template for b in parse(env).bindings))
    result = merge_text(template, env)
    assert "\r" not in result.replace("\r\n", ""), result
    assert "\n" not in result.replace("\r\n", ""), result


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(template=dotenv_texts(), env=dotenv_texts())
def test_fix_values_by_the_real_compose(
    compose: Callable[..., list[dict[str, str] | ComposeError]], template: str, env: str
) -> None:
    """The same expectation, every value read by Docker Compose itself."""
    assume(readable(template) and readable(env) and clear_of_known_bugs(template, env))
    result = merge_text(template, env)
    env_keys = keys_of(env)
    for environ in ENVIRONS:
        t, e, r = compose([template, env, result], environ)
        assume(not isinstance(t, ComposeError) and not isinstance(e, ComposeError))
        assert not isinstance(r, ComposeError), r
        assert isinstance(t, dict) and isinstance(e, dict)
        assert r == expected_values(t, e, env_keys)


# --- verify: the merge's own check refuses a text that would not read as planned -------------

_VT = "# template\nA=1\nB=2\nC=3\n"
_VE = "A=x\nB=2\nOWN=o\nGONE=3\n"  # A customised, C missing, OWN kept at the end, GONE dropped


def _verify_sides(**options: Any) -> tuple[Any, Any, Any]:
    t = index(".env.example", parse(_VT))
    e = index(".env", parse(_VE))
    return t, e, compare_sides(t, e, Settings(**options))


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        # what merge writes; the same, re-quoted (the check then compares values, not text)
        ("# template\nA=x\nB=2\nC=3\n# envsync: kept\nOWN=o\n", True),
        ("# template\nA='x'\nB=\"2\"\nC=3\n# envsync: kept\nOWN=o\n", True),
        # the operator's value lost, a default changed, a key lost, a kept key lost
        ("# template\nA=1\nB=2\nC=3\n# envsync: kept\nOWN=o\n", False),
        ("# template\nA=x\nB=3\nC=3\n# envsync: kept\nOWN=o\n", False),
        ("# template\nA=x\nC=3\n# envsync: kept\nOWN=o\n", False),
        ("# template\nA=x\nB=2\nC=3\n", False),
        # a key that had to go, still there; statements out of order (values still right)
        ("# template\nA=x\nB=2\nC=3\n# envsync: kept\nOWN=o\nGONE=3\n", False),
        ("# template\nB=2\nA=x\nC=3\n# envsync: kept\nOWN=o\n", True),
        # a quote that swallows the next line; a bare KEY where a value should be
        ('# template\nA="x\nB=2\nC=3\n# envsync: kept\nOWN=o\n', False),
        ("# template\nA\nB=2\nC=3\n# envsync: kept\nOWN=o\n", False),
    ],
)
def test_verify_refuses_what_would_not_read_as_planned(text: str, accepted: bool) -> None:
    from envsync_hook.merge import MergeError, verify

    t, e, c = _verify_sides(prune=False)
    c = c._replace(decisions={**c.decisions, "GONE": "drop"})
    for unequal in (c.unequal, None):  # with and without the comparison's shortcut
        if accepted:
            verify(text, t, e, c.decisions, unequal)
        else:
            with pytest.raises(MergeError):
                verify(text, t, e, c.decisions, unequal)
