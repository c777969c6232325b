"""Fix never changes what Compose reads (issue 12): references across moved lines, the
operator's own comments and ``export``.

- the issue's example and its variants, through the real CLI, read back by the real Docker
  Compose in an empty environment and in one that sets every referenced variable;
- table tests for the placement, the operator's trailing comments and ``export``;
- a refusal: exit 2, one line naming the key, no value printed, nothing written;
- a hypothesis property over template/env/base triples with cross-references, reordering,
  opt-ins, operator-only keys, duplicates and ``export``: fix writes a file that reads as
  decided (``compose_values`` in two environments; the real Compose on 250 cases a run,
  batched) or refuses, never a silent change; and the same property fails once the placement
  (and the check that would refuse) are switched off.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_run import run
from compose_oracle import ComposeError
from conftest import SUMMARY
from hypothesis import HealthCheck, assume, find, given, settings
from hypothesis import strategies as st

import envsync_hook.merge as merge_module
from envsync_hook import DotenvSyntaxError, compose_values, parse
from envsync_hook.compare import BARE, DROP, KEEP, TAKE, TRAIL, UNDER, canonical, index
from envsync_hook.compare import compare as compare_sides
from envsync_hook.merge import MergeError, merge
from envsync_hook.settings import Settings

_NAME = re.compile(r"\$\{?([_A-Za-z][_A-Za-z0-9]*)")


def decide(template: str, env: str, base: str | None = None) -> tuple[Any, Any, Any]:
    t = index(".env.example", parse(template))
    e = index(".env", parse(env))
    b = index("base.env.example", parse(base)) if base is not None else None
    return t, e, compare_sides(t, e, Settings(), b)


def fix_text(template: str, env: str, base: str | None = None) -> str:
    t, e, c = decide(template, env, base)
    return merge(t, e, c, ".env.example")


def probe(*texts: str) -> dict[str, str]:
    """Every name the texts reference (and every bare KEY), set to a value of its own."""
    found: set[str] = set()
    for text in texts:
        for b in parse(text).bindings:
            if b.inherited:
                found.add(b.key)
            elif b.quote != "'":
                found.update(_NAME.findall(b.template))
    return {n: f"from-env-{n.lower()}" for n in sorted(found)}


# --------------------------------------------------------------------------------------------
# the example and its variants: real CLI, real Compose

VARIANTS: list[tuple[str, str, str, str | None]] = [
    (
        "the issue: a reference to an operator-only key",
        "APP_URL=http://localhost\nDB_HOST=db\n",
        "MY_DOMAIN=example.com\nAPP_URL=https://${MY_DOMAIN}/app\nDB_HOST=db\n",
        None,
    ),
    (
        "the template orders the keys differently",
        "# the URL\nURL=http://localhost\n# the host\nHOST=localhost\nPORT=80\n",
        "HOST=db.internal\nPORT=8080\nURL=http://${HOST}:${PORT}/\n",
        None,
    ),
    (
        "a reference to an opt-in placed under its comment",
        "URL=http://localhost\n# optional:\n# PROXY_HOST=proxy\n",
        "PROXY_HOST=squid.internal\nURL=http://${PROXY_HOST}:3128\n",
        None,
    ),
    (
        "a reference to a key the template drops (it held the old default)",
        "A=1\nURL=http://localhost\n",
        "LEGACY_HOST=old.example\nA=1\nURL=http://${LEGACY_HOST}\n",
        "A=1\nLEGACY_HOST=old.example\nURL=http://localhost\n",
    ),
    (
        "${X:-default} and ${X:?err} forms",
        "A=x\nB=y\nC=z\n",
        "MINE=set\nA=${MINE:-fallback}\nB=${MINE:?MINE is required}\nC=${LATER:-before-later}\n"
        "LATER=now\n",
        None,
    ),
    (
        "a reference from a multi-line double-quoted value",
        "CERT=\nHOST=localhost\n",
        'HOST=db.internal\nOWN_NAME=db\nCERT="-----BEGIN-----\n${OWN_NAME}@${HOST}\n-----END-----"\n',
        None,
    ),
    (
        "a chain of references among operator-only keys and template keys",
        "URL=http://localhost\nTOKEN=\n",
        "SCHEME=https\nDOMAIN=example.com\nBASE=${SCHEME}://${DOMAIN}\nURL=${BASE}/app\n"
        "TOKEN=t-${DOMAIN}\n",
        None,
    ),
    (
        "a value that saw no key above it in .env, where the template puts that key above it",
        "HOST=localhost\nURL=http://localhost\n",
        "URL=http://${HOST:-nohost}/\nHOST=db.internal\n",
        None,
    ),
]


@pytest.mark.parametrize(
    ("template", "env", "base"),
    [row[1:] for row in VARIANTS],
    ids=[row[0] for row in VARIANTS],
)
def test_compose_reads_every_operator_key_as_before(
    tmp_path: Path,
    compose: Callable[..., list[dict[str, str] | ComposeError]],
    template: str,
    env: str,
    base: str | None,
) -> None:
    (tmp_path / ".env.example").write_text(template, encoding="utf-8")
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    args = ["fix"]
    if base is not None:
        (tmp_path / "base.env").write_text(base, encoding="utf-8")
        args += ["--base", "base.env"]
    proc = run(tmp_path, *args)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    after = (tmp_path / ".env").read_text(encoding="utf-8")
    for environ in ({}, probe(template, env)):
        before_read, after_read = compose([env, after], environ)
        assert isinstance(before_read, dict), before_read
        assert isinstance(after_read, dict), after_read
        assert {k: after_read.get(k) for k in before_read} == before_read, environ
    # and a second fix changes nothing
    again = run(tmp_path, *args)
    assert again.returncode in (0, 1), again.stderr
    assert (tmp_path / ".env").read_text(encoding="utf-8") == after


# --------------------------------------------------------------------------------------------
# placement: table

PLACEMENT: list[tuple[str, str, str, str | None, str]] = [
    (
        "the issue: the operator-only key moves up to before its first use",
        "APP_URL=http://localhost\nDB_HOST=db\n",
        "MY_DOMAIN=example.com\nAPP_URL=https://${MY_DOMAIN}/app\nDB_HOST=db\n",
        None,
        "MY_DOMAIN=example.com\nAPP_URL=https://${MY_DOMAIN}/app\nDB_HOST=db\n",
    ),
    (
        "its comments come along, above the template's comments of the line that uses it",
        "# where the app lives\nAPP_URL=http://localhost\n",
        "# my domain\nMY_DOMAIN=example.com\nAPP_URL=https://${MY_DOMAIN}/app\nOWN=1\n",
        None,
        "# my domain\nMY_DOMAIN=example.com\n# where the app lives\nAPP_URL=https://${MY_DOMAIN}/app"
        "\n\n# envsync: kept from the previous env file; not assigned in .env.example\nOWN=1\n",
    ),
    (
        "a template key referenced from above moves up",
        "URL=http://localhost\nHOST=localhost\n",
        "HOST=h\nURL=http://${HOST}\n",
        None,
        "HOST=h\nURL=http://${HOST}\n",
    ),
    (
        "an opt-in referenced from above moves up from under its comment",
        "URL=x\n# OPT=0\n",
        "OPT=1\nURL=${OPT}/y\n",
        None,
        "OPT=1\nURL=${OPT}/y\n# OPT=0\n",
    ),
    (
        "a reference to a key the template adds reads it where the template puts it",
        "NEW=t\nA=x\n",
        "A=${NEW:-d}\n",
        None,
        "NEW=t\nA=${NEW:-d}\n",
    ),
    (
        "a key that held the old default but is referenced: kept",
        "A=1\n",
        "OLD=x\nA=${OLD}/y\n",
        "A=1\nOLD=x\n",
        "OLD=x\nA=${OLD}/y\n",
    ),
    (
        "a value that saw no key above it goes above that key",
        "HOST=localhost\nURL=http://${HOST}\n",
        "URL=http://${HOST}\nHOST=h\n",
        None,
        "URL=http://${HOST}\nHOST=h\n",
    ),
    (
        "references that resolve the same: the template's layout as it is",
        "# hosts\nHOST=localhost\nURL=http://${HOST}\n",
        "HOST=h\nURL=https://${HOST}\n",
        None,
        "# hosts\nHOST=h\nURL=https://${HOST}\n",
    ),
]


@pytest.mark.parametrize(
    ("template", "env", "base", "expected"),
    [row[1:] for row in PLACEMENT],
    ids=[row[0] for row in PLACEMENT],
)
def test_placement(template: str, env: str, base: str | None, expected: str) -> None:
    result = fix_text(template, env, base)
    assert result == expected
    assert fix_text(template, result, base) == result  # fix is idempotent
    assert silent_changes(template, env, base, result) == []


# --------------------------------------------------------------------------------------------
# the operator's own text: trailing comments and export

OWN_TEXT: list[tuple[str, str, str, str]] = [
    (
        "a customised value keeps the operator's comment",
        "RATE_LIMIT_MAX=100 # default\n",
        "RATE_LIMIT_MAX=500 # raised for the launch\n",
        "RATE_LIMIT_MAX=500 # raised for the launch\n",
    ),
    (
        "a value equal to the default keeps the operator's comment",
        "DEBUG=false # set true to debug\n",
        "DEBUG=false   # checked with ops, 2026-05\n",
        "DEBUG=false   # checked with ops, 2026-05\n",
    ),
    (
        "the same comment: the template's line as it is",
        "A=1   # c\n",
        "A=2 # c\n",
        "A=2   # c\n",
    ),
    (
        "no comment of the operator's: the template's stays",
        "A=1 # about A\n",
        "A=2\n",
        "A=2 # about A\n",
    ),
    (
        "a quoted value with a comment",
        'A="x" # t\n',
        'A="y y" # mine\n',
        'A="y y" # mine\n',
    ),
    (
        "a comment on a template line without one",
        "A=1\nB=2\n",
        "A=1 # mine\nB=2\n",
        "A=1 # mine\nB=2\n",
    ),
    (
        "export kept on a customised key",
        "A=1\nB=2\n",
        "export A=5\nB=2\n",
        "export A=5\nB=2\n",
    ),
    (
        "export kept on a key equal to the default",
        "A=1\nB=2\n",
        "export A=1\nB=2\n",
        "export A=1\nB=2\n",
    ),
    (
        "export and comment together",
        "# about A\nA=1 # t\n",
        "export A=7 # mine\n",
        "# about A\nexport A=7 # mine\n",
    ),
    (
        "the template's export stays",
        "export A=1\n",
        "A=2\n",
        "export A=2\n",
    ),
    (
        "CRLF template: the output's line endings are the template's",
        "A=1 # t\r\nB=2\r\n",
        "export A=5 # mine\nB=3\n",
        "export A=5 # mine\r\nB=3\r\n",
    ),
    (
        "a multi-line value with a comment after it",
        'A="x" # t\nB=1\n',
        'A="line one\nline two" # mine\nB=1\n',
        'A="line one\nline two" # mine\nB=1\n',
    ),
    (
        # (``A= # x`` is no comment: Compose reads the value ``# x``)
        "an empty quoted value before the operator's comment",
        "A=1 # t\n",
        'A="" # left empty on purpose\n',
        'A="" # left empty on purpose\n',
    ),
    (
        "an opt-in placed under its comment, right above a key the operator exports",
        "# OPT=1\nKEY=a\n",
        "export KEY=b\nOPT=2\n",
        "# OPT=1\nOPT=2\nexport KEY=b\n",
    ),
]


@pytest.mark.parametrize(
    ("template", "env", "expected"),
    [row[1:] for row in OWN_TEXT],
    ids=[row[0] for row in OWN_TEXT],
)
def test_operator_comment_and_export_kept(template: str, env: str, expected: str) -> None:
    result = fix_text(template, env)
    assert result == expected
    assert fix_text(template, result) == result
    assert compose_values(result) == {**compose_values(template), **compose_values(env)}


# --------------------------------------------------------------------------------------------
# refusal


def test_a_merge_that_would_change_a_reading_is_refused(tmp_path: Path) -> None:
    """The env file assigns A twice and B references the first: no placement keeps both."""
    template = "A=0\nB=x\n"
    env = "A=early-secret-1\nB=${A}/path\nA=late-secret-2\n"
    (tmp_path / ".env.example").write_text(template, encoding="utf-8")
    (tmp_path / ".env").write_text(env, encoding="utf-8")
    proc = run(tmp_path, "fix")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "would read B differently" in lines[0] and "nothing was written" in lines[0]
    assert "secret" not in proc.stdout + proc.stderr
    assert (tmp_path / ".env").read_text(encoding="utf-8") == env
    assert not (tmp_path / "env-backup").exists()


def test_without_the_placement_the_verification_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge_module, "place", lambda text, *a, **k: text)
    template, env = VARIANTS[0][1], VARIANTS[0][2]
    with pytest.raises(MergeError, match="would read APP_URL differently"):
        fix_text(template, env)


# --------------------------------------------------------------------------------------------
# property

KEYS = ("A", "B", "C", "D")
OWN = ("OWN1", "OWN2")
REF_FORMS = ("${%s}", "$%s", "${%s:-dflt}", "${%s-dflt}", "${%s:+alt}", "${%s:?needs %s}")

ref = st.builds(
    lambda form, name: form.replace("%s", name),
    st.sampled_from(REF_FORMS),
    st.sampled_from(KEYS + OWN + ("X",)),
)
plain = st.sampled_from(["v", "w", "", "1", "http://h"])
unquoted = st.builds(lambda a, r, b: a + r + b, plain, ref, st.sampled_from(["", "/p", ":80"]))
value = st.one_of(
    plain,
    plain,
    unquoted,
    unquoted,
    st.builds(lambda r, nl: f'"x {r}{nl}y"', ref, st.sampled_from(["", "\n"])),
    st.builds(lambda r: f"'{r}'", ref),
)
statement = st.builds(
    lambda export, key, v, comment: f"{export}{key}={v}{comment}",
    st.sampled_from(["", "", "", "export "]),
    st.sampled_from(KEYS + OWN),
    value,
    st.sampled_from(["", "", " # mine", " # note"]),
)
template_statement = st.builds(
    lambda key, v, comment: f"{key}={v}{comment}",
    st.sampled_from(KEYS),
    value,
    st.sampled_from(["", "", " # note"]),
)
template_line = st.one_of(
    template_statement,
    template_statement,
    st.builds(lambda key: f"# {key}=opt", st.sampled_from(KEYS + OWN)),
    st.sampled_from(["# a comment", ""]),
)
env_line = st.one_of(statement, statement, statement, st.sampled_from(["# my note", ""]))


@st.composite
def triples(draw: Callable[..., Any]) -> tuple[str, str, str | None]:
    template = "".join(line + "\n" for line in draw(st.lists(template_line, max_size=6)))
    env = "".join(line + "\n" for line in draw(st.lists(env_line, max_size=6)))
    base = None
    if draw(st.booleans()):
        base = "".join(line + "\n" for line in draw(st.lists(template_line, max_size=6)))
    return template, env, base


def _read(text: str, environ: Mapping[str, str]) -> dict[str, str] | None:
    try:
        return compose_values(text, environ)
    except DotenvSyntaxError:
        return None  # compose refuses the whole file in this environment


def _following_taken(template: str, env: str, decisions: Mapping[str, str]) -> set[str]:
    """Keys whose env value references a key that takes the template's value (a stale or
    ``--take-template`` key, or a key the env file lacks), directly or through another such
    key: by decision they read there what the merged file gives (README, "what is kept
    where", 5)."""
    bindings = parse(env).bindings
    new = {b.key for b in parse(template).bindings} - {b.key for b in bindings}
    out = {k for k, d in decisions.items() if d == TAKE} | new
    for b in bindings:
        if b.quote != "'" and not b.inherited and set(_NAME.findall(b.template)) & out:
            out.add(b.key)
    return out


def silent_changes(template: str, env: str, base: str | None, result: str) -> list[str]:
    """What in ``result`` does not read as decided (empty: it does)."""
    t, e, c = decide(template, env, base)
    decisions = c.decisions
    problems = []
    rdoc = index("merged", parse(result))
    follows = _following_taken(template, env, decisions)
    for environ in ({}, probe(template, env)):
        want, got = _read(env, environ), _read(result, environ)
        if want is None or _read(template, environ) is None:
            continue  # Compose refuses the env file (or the template) itself here
        if got is None:
            problems.append(f"compose refuses the result in {environ}")
            continue
        for key, d in decisions.items():
            if d in (KEEP, TRAIL, UNDER) and key in e.last and key not in follows:
                if got.get(key) != want.get(key):
                    problems.append(f"{key} ({d}) reads differently in {environ}")
            elif d == DROP and key not in t.last and key in got:
                problems.append(f"{key} should be dropped")
    for key, ti in t.last.items():  # keys taking the template's value hold its text
        if decisions.get(key, TAKE) == TAKE and t.doc.kinds[ti] != BARE:
            ri = rdoc.last.get(key)
            if ri is None or canonical(rdoc.doc.templates[ri]) != canonical(t.doc.templates[ti]):
                problems.append(f"{key} does not hold the template's text")
    return problems


def fix_or_refuse(template: str, env: str, base: str | None) -> str | None:
    try:
        return fix_text(template, env, base)
    except MergeError:
        return None


def _valid(template: str, env: str, base: str | None) -> bool:
    return not any(parse(x).errors for x in (template, env, base or ""))


PROPERTY = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@PROPERTY
@given(case=triples())
def test_fix_reads_as_decided_or_refuses(case: tuple[str, str, str | None]) -> None:
    template, env, base = case
    assume(_valid(template, env, base))
    result = fix_or_refuse(template, env, base)
    if result is None:
        return  # a refusal: nothing written (the CLI test above shows exit 2)
    assert not parse(result).errors
    assert silent_changes(template, env, base, result) == []
    assert fix_text(template, result, base) == result  # idempotent


#: cases read back by the real Compose this run, per environment (empty, every name set)
COMPOSE_CASES = {False: 0, True: 0}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(cases=st.lists(triples(), min_size=25, max_size=25))
def test_real_compose_reads_the_results_as_decided(
    compose: Callable[..., list[dict[str, str] | ComposeError]],
    cases: list[tuple[str, str, str | None]],
) -> None:
    """300 cases a run (12 examples of 25), each environment asked in one compose call: an
    empty one and one that sets every name any of the files references."""
    done = []
    for template, env, base in cases:
        if _valid(template, env, base):
            result = fix_or_refuse(template, env, base)
            if result is not None:
                done.append((template, env, base, result))
    everything: dict[str, str] = {}
    for template, env, _, _ in done:
        everything.update(probe(template, env))
    for environ in ({}, everything):
        # cases whose template or env file Compose refuses in this environment are left out
        # (by compose_values, which agrees with Compose on them): each one Compose rejected
        # would cost further calls
        asked = [
            case
            for case in done
            if _read(case[0], environ) is not None and _read(case[1], environ) is not None
        ]
        read = compose([x for _, env, _, result in asked for x in (env, result)], environ)
        COMPOSE_CASES[bool(environ)] += len(asked)
        for n, (template, env, base, result) in enumerate(asked):
            before, after = read[2 * n], read[2 * n + 1]
            assert isinstance(before, dict), (env, before)
            assert isinstance(after, dict), (env, result, after)
            _, e, c = decide(template, env, base)
            follows = _following_taken(template, env, c.decisions)
            for key, d in c.decisions.items():
                if d in (KEEP, TRAIL, UNDER) and key in e.last and key not in follows:
                    assert after.get(key) == before.get(key), (key, env, result, environ)


def test_real_compose_sample_size() -> None:
    """Runs after the test above (file order): the sample it read back, in the run summary."""
    if COMPOSE_CASES[False] == 0:
        pytest.skip("the real-Compose test did not run")
    SUMMARY.append(
        f"issue 12: real Compose read {COMPOSE_CASES[False]} fixed files in an empty "
        f"environment, {COMPOSE_CASES[True]} in one that sets every referenced name"
    )
    assert COMPOSE_CASES[False] >= 200 and COMPOSE_CASES[True] >= 200, COMPOSE_CASES


def test_without_the_placement_the_property_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The merge as it was (no placement, no check by what Compose reads): the property finds a
    silent change, and the issue's example is one."""
    monkeypatch.setattr(merge_module, "place", lambda text, *a, **k: text)
    monkeypatch.setattr(merge_module, "_check_references", lambda *a, **k: None)
    template, env = VARIANTS[0][1], VARIANTS[0][2]
    assert silent_changes(template, env, None, fix_text(template, env)) != []

    def broken(case: tuple[str, str, str | None]) -> bool:
        template, env, base = case
        if not _valid(template, env, base):
            return False
        result = fix_or_refuse(template, env, base)
        return result is not None and silent_changes(template, env, base, result) != []

    found = find(
        triples(),
        broken,
        settings=settings(max_examples=2000, deadline=None, database=None),
    )
    assert broken(found)


@pytest.mark.parametrize("keys", [600, 3000])
def test_many_forward_references_are_placed(keys: int) -> None:
    """Each kept key references the next one, defined below it in the env file (so unset
    there), and the template has them in the reverse order: every line must move. Fix used to
    move one line per pass over the file, gave up after 500 moves and refused with a message
    about references resolving elsewhere; now the placement is one pass, and the result reads
    as the env file does."""
    template = "".join(f"# about K{i}\nK{i}=v\n" for i in reversed(range(keys)))
    env = "".join(f"K{i}=${{K{i + 1}}}x\n" for i in range(keys))
    result = fix_text(template, env)
    assert silent_changes(template, env, None, result) == []
    assert fix_text(template, result) == result
    order = [line.split("=")[0] for line in result.splitlines() if "=" in line]
    assert order == [f"K{i}" for i in range(keys)]
