"""Fuzzing: hostile dotenv text for both files never crashes check or fix; fix is idempotent;
what Docker Compose can read before a fix it can still read after it.

The strategies build text from the dialect's sharp edges (quotes, escapes, ``$`` references,
``export``, ``:`` separators, comments, CR and CRLF, a BOM, Unicode, unprintable characters)
and from arbitrary text. ``check`` and ``fix`` run in-process through ``envsync_hook.cli.main``
with real files; the compose property asks the real Docker Compose (tests/compose_oracle.py)
about a batch of pairs at a time.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import envsync_hook
from envsync_hook.cli import main

KEYS = ["A", "B", "C", "DB_PASSWORD", "URL", "a.b", "K-1", "X[0]", "ÉTÉ", "_", "k"]
KEY_CHARS = "ABCabc_019.-[]"
ATOMS = [
    "x",
    "hello world",
    " ",
    "  ",
    "#",
    " #",
    "\\n",
    "\\t",
    '\\"',
    "\\'",
    "\\\\",
    "\\$",
    "\\",
    "$A",
    "${A}",
    "${B:-d}",
    "${C-d}",
    "${A:+alt}",
    "${A:?msg}",
    "$$",
    "${",
    "}",
    "$",
    "'",
    '"',
    "`",
    "=",
    ":",
    "é",
    "😀",
    "\u200b",
    "\u202e",
    "\u00a0",
    "\t",
    "\x0b",
    "\x1b[31m",
    "postgres://u:p@h/db",
]
#: drawn one time in 30: each of them alone triggers a known bug (see KNOWN_BUGS)
RARE_ATOMS = ["\r", "\ufeff"]

keys = st.one_of(
    st.sampled_from(KEYS),
    st.text(alphabet=KEY_CHARS + " $é\t'\"", min_size=0, max_size=5),
)
atoms = st.integers(0, 29).flatmap(lambda i: st.sampled_from(RARE_ATOMS if i == 0 else ATOMS))
raw_values = st.lists(atoms, max_size=5).map("".join)
values = st.one_of(
    raw_values,
    raw_values.map(lambda v: f'"{v}"'),
    raw_values.map(lambda v: f"'{v}'"),
    st.tuples(raw_values, st.sampled_from(["\n", "\r\n"]), raw_values).map(
        lambda t: f'"{t[0]}{t[1]}{t[2]}"'  # multi-line
    ),
)
assignments = st.tuples(
    st.sampled_from(["", "", "export ", "  ", "\t"]),
    keys,
    st.sampled_from(["=", "=", "=", " = ", ":", "= ", " ="]),
    values,
    st.sampled_from(["", "", " # comment", "#x", " ", "\t# c"]),
).map("".join)
lines = st.one_of(
    assignments,
    assignments,
    assignments,
    st.sampled_from(["", "# comment", "#", "   ", "# A=commented", "#DB_PASSWORD=old", "export"]),
    keys,  # a bare KEY takes its value from the environment
    st.text(max_size=10),  # anything at all
)
#: line-ending styles of a whole file: LF, CRLF, or a mix with old-Mac lone CRs
EOL_STYLES = [["\n"], ["\n"], ["\n"], ["\r\n"], ["\n", "\r\n", "\r"]]


TAME_ATOMS = ["x", "hello world", " #", "#", "\\n", "$A", "${A}", "${B:-d}", "$$", "é", "😀"]
TAME_ATOMS += ["postgres://u:p@h/db", "=", ":", "`", "\t", " ", "\u200b"]
tame_raw = st.lists(st.sampled_from(TAME_ATOMS), max_size=4).map("".join)
tame_values = st.one_of(
    tame_raw,
    tame_raw.map(lambda v: f'"{v}"'),
    tame_raw.map(lambda v: "'" + v.replace("\\", "") + "'"),
    st.tuples(tame_raw, tame_raw).map(lambda t: f'"{t[0]}\n{t[1]}"'),
)


@st.composite
def tame_texts(draw: st.DrawFn) -> str:
    """Closer to real files (most of which compose reads): distinct valid keys, comments."""
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    out = []
    for key in draw(st.lists(st.sampled_from(KEYS), unique=True, min_size=1, max_size=6)):
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(["", "# comment", "# A=commented"])))
        if draw(st.integers(0, 5)) == 0:
            out.append(key)  # bare: from the environment
        else:
            prefix = draw(st.sampled_from(["", "", "export "]))
            comment = draw(st.sampled_from(["", "", " # comment"]))
            out.append(f"{prefix}{key}={draw(tame_values)}{comment}")
    return "".join(line + eol for line in out)


@st.composite
def dotenv_texts(draw: st.DrawFn) -> str:
    eols = st.sampled_from(draw(st.sampled_from(EOL_STYLES)))
    body = draw(st.lists(st.tuples(lines, eols), max_size=8))
    text = "".join(line + eol for line, eol in body)
    if body and draw(st.integers(0, 7)) == 0:
        text = text.rstrip("\r\n")  # no final newline
    if draw(st.integers(0, 19)) == 0:
        text = "\ufeff" + text
    return text


class Run(NamedTuple):
    code: int
    stdout: str
    stderr: str


def _main(args: Sequence[str]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))
    os.chmod(path, 0o600)


def _files(d: Path) -> dict[str, bytes]:
    return {
        p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
    }


def _check_run(run: Run) -> None:
    assert run.code in (0, 1, 2), run
    if run.code == 2:
        lines = run.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("envsync: error: "), run.stderr


@pytest.fixture(scope="session")
def new_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    return lambda: tmp_path_factory.mktemp("fuzz")


class KnownBug(NamedTuple):
    id: str
    applies: Callable[[str, str], bool]  #: (template, env) -> this bug may strike
    template: str  #: a minimal reproduction
    env: str
    reason: str


def _lone_cr(text: str) -> bool:
    return re.search(r"\r(?!\n)", text) is not None


def _assigns_twice(text: str) -> bool:
    keys = [b.key for b in envsync_hook.parse(text).bindings]
    return len(keys) != len(set(keys))


def _no_final_newline(text: str) -> bool:
    return text != "" and not text.endswith("\n")


#: bugs this fuzzing found, now fixed: each minimal reproduction stays as a regression test
#: (test_fixed_bug_stays_fixed), and the properties below cover their ground again.
FIXED_BUGS = [
    KnownBug(
        "export-then-a-bare-word-at-eof-in-the-template",
        lambda t, e: _no_final_newline(t),
        "\ufeffexport\rexport",
        "\ufeffA=",
        "the template's key '' ('export' + CR + a bare word at EOF) got its '=' only when "
        "it had no 'export' prefix: fix refused a valid pair",
    ),
    KnownBug(
        "bom-then-bare-word-at-eof-in-the-env",
        lambda t, e: _no_final_newline(e),
        "\ufeffA\n",
        "\ufeffA",
        "the env's key '' (a bare word at EOF after a BOM) was written as 'A=' in the kept "
        "block: fix refused a valid pair ('would not keep the value of ', exit 2)",
    ),
    KnownBug(
        "empty-key-of-a-bare-word-at-eof",
        lambda t, e: _no_final_newline(t) or _no_final_newline(e),
        "A\n",
        "A",
        "compose reads a bare word at EOF without newline as key '' (value 'A'); merge cannot "
        "keep it and fix refuses a valid pair: 'would not keep the value of ', exit 2",
    ),
    KnownBug(
        "empty-value-with-its-comment-over-a-bare-word-at-eof",
        lambda t, e: _no_final_newline(t),
        "\ufeff\nA",
        "\ufeff= # comment",
        "the operator's key '' ('= # comment') over the template's bare word at EOF: the word "
        "was replaced by the value with its comment but no '=', leaving no statement: fix "
        "refused a valid pair ('would not keep the value of ', exit 2)",
    ),
    KnownBug(
        "stray-carriage-return-not-idempotent",
        lambda t, e: _lone_cr(t) or _lone_cr(e),
        "X=1\n",
        "B=1\r\r\n",
        "not idempotent: the first fix writes 'B=1\\r\\n' in the kept block, the second "
        "'B=1\\n' (a second backup)",
    ),
    KnownBug(
        "lone-cr-after-a-closing-quote-in-the-template",
        lambda t, e: _lone_cr(t) or _lone_cr(e),
        'A=""\rB\n',
        "B=\n",
        "template 'A=\"\"\\rB': fix refuses a pair compose reads "
        "('would not keep the value of A', exit 2)",
    ),
    KnownBug(
        "template-assigns-a-key-twice-the-last-bare",
        lambda t, e: _assigns_twice(t),
        "A=\n# comment\nA\n",
        "",
        "not idempotent: each fix inserts one more bare 'A' line ('A=\\n# comment\\nA' "
        "becomes 'A=\\nA\\n# comment\\nA', then 'A=\\nA\\nA\\n# comment\\nA', ...)",
    ),
]


#: bugs found and not fixed yet: the properties skip the inputs where one may strike (the
#: predicates are broad). None at the moment.
KNOWN_BUGS: list[KnownBug] = []


def _known_bug(template: str, env: str) -> bool:
    return any(bug.applies(template, env) for bug in KNOWN_BUGS)


def _assert_safe(d: Path, template: str, env: str) -> None:
    """check and fix on the pair: no crash, one-line refusals, fix idempotent."""
    t, e = d / ".env.example", d / ".env"
    _write(t, template)
    _write(e, env)
    pair = [str(t), "--env", str(e)]

    check = _main(["check", *pair])
    _check_run(check)
    assert _files(d) == {".env.example": template.encode(), ".env": env.encode()}

    first = _main(["fix", *pair])
    _check_run(first)
    if first.code == 2:  # a refusal writes nothing, for a reason check reported
        assert _files(d) == {".env.example": template.encode(), ".env": env.encode()}
        assert check.code == 2 or " ENV007 " in check.stdout
        return
    after_first = _files(d)
    changed = after_first[".env"] != env.encode()
    backups = [
        k
        for k in after_first
        if k.startswith("env-backup/") and not k.endswith(".meta") and ".sync/" not in k
    ]
    assert len(backups) == (1 if changed else 0)
    if changed:
        assert after_first[backups[0]] == env.encode()

    second = _main(["fix", *pair])
    assert second.code == 0, second
    assert _files(d) == after_first  # no change, no new backup

    recheck = _main(["check", *pair])
    assert recheck.code == 0, recheck.stdout


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(template=dotenv_texts(), env=dotenv_texts())
# (found by this property: the template's last word with no newline, compose-go's key "", and
# the operator's own key "": fix refused, naming no key, where check saw nothing wrong)
@example(template="\ufeffA=\n\nA", env="\ufeff=")
@example(template="\ufeffB=\nexport", env="\ufeffA=\n\nA")
@example(template="\ufeff# comment\r\nA\nA", env="\ufeff  A = ''#x\nexport\n")
@example(template="\ufeffexport", env="\ufeffA=\nexport\n")
def test_check_and_fix_never_crash_and_fix_is_idempotent(
    new_dir: Callable[[], Path], template: str, env: str
) -> None:
    assume(not _known_bug(template, env))
    _assert_safe(new_dir(), template, env)


@pytest.mark.parametrize("bug", FIXED_BUGS, ids=[b.id for b in FIXED_BUGS])
def test_fixed_bug_stays_fixed(new_dir: Callable[[], Path], bug: KnownBug) -> None:
    assert bug.applies(bug.template, bug.env)
    _assert_safe(new_dir(), bug.template, bug.env)


def _compose_ok(text: str) -> bool:
    try:
        envsync_hook.compose_values(text)
    except envsync_hook.DotenvSyntaxError:
        return False
    return True


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    batch=st.lists(st.tuples(tame_texts(), tame_texts()), min_size=25, max_size=25),
    hostile=st.lists(st.tuples(dotenv_texts(), dotenv_texts()), min_size=10, max_size=10),
)
def test_compose_readable_input_stays_readable_after_fix(
    compose: Callable[..., list[object]],
    new_dir: Callable[[], Path],
    batch: list[tuple[str, str]],
    hostile: list[tuple[str, str]],
) -> None:
    batch = batch + hostile
    # pairs our parser reads without error, then those the real Docker Compose reads too
    candidates = [p for p in batch if _compose_ok(p[0]) and _compose_ok(p[1])]
    candidates = [p for p in candidates if not _known_bug(*p)]
    verdicts = compose([text for pair in candidates for text in pair])
    readable = [
        pair
        for i, pair in enumerate(candidates)
        if isinstance(verdicts[2 * i], dict) and isinstance(verdicts[2 * i + 1], dict)
    ]
    fixed: list[tuple[str, str, str]] = []
    for template, env in readable:
        d = new_dir()
        _write(d / ".env.example", template)
        _write(d / ".env", env)
        run = _main(["fix", str(d / ".env.example"), "--env", str(d / ".env")])
        _check_run(run)
        if run.code != 2:  # a refusal (e.g. a template without assignments) writes nothing
            # bytes, decoded: read_text() would turn a lone CR (no line break to compose)
            # into a line break
            fixed.append((template, env, (d / ".env").read_bytes().decode("utf-8")))
    after = compose([result for _, _, result in fixed])
    broken = [(*t, v) for t, v in zip(fixed, after) if not isinstance(v, dict)]
    print(
        f"\ncompose oracle: {len(readable)} of {len(batch)} generated pairs readable by Docker "
        f"Compose, {len(fixed)} fixed, {len(fixed) - len(broken)} still readable after the fix"
    )
    assert not broken, broken[:3]
