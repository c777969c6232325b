"""Differential tests: compose_values against the real Docker Compose binary.

1. every dotenv vector, asked of the binary, gives the vector's ``compose_go`` (proves the harness);
2. every template in the corpus ($ENVSYNC_CORPUS) reads the same through compose_values;
3. the probe inputs (tests/data/compose-probe-inputs.json: quoting, escapes, CR/CRLF, keys,
   ``${...}`` edge cases, error lines) read the same under three environments;
4. hypothesis: generated dotenv-like texts read the same, or both error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import pytest
from compose_oracle import ComposeError, Result
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_vectors import VECTORS

import envsync_hook

ComposeRead = Callable[..., "list[Result]"]


# --- 1. the vectors, asked of the binary ------------------------------------------------------


@pytest.fixture(scope="module")
def binary_vector_answers(compose: ComposeRead) -> dict[str, Result]:
    """All vectors in one compose call per distinct environment."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for v in VECTORS:
        groups.setdefault(json.dumps(v.get("env") or {}, sort_keys=True), []).append(v)
    answers: dict[str, Result] = {}
    for env_json, vectors in groups.items():
        results = compose([v["input"] for v in vectors], json.loads(env_json))
        answers.update((v["id"], r) for v, r in zip(vectors, results))
    return answers


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_binary_agrees_with_vector(
    vector: dict[str, Any], binary_vector_answers: dict[str, Result]
) -> None:
    got = binary_vector_answers[vector["id"]]
    assert (got.vector if isinstance(got, ComposeError) else got) == vector["compose_go"]


# --- shared comparison --------------------------------------------------------------------------


def ours(text: str, environ: Mapping[str, str] | None) -> Any:
    """compose_values' answer in the oracle's shape: a dict, or a DotenvSyntaxError."""
    try:
        return envsync_hook.compose_values(text, environ=environ)
    except envsync_hook.DotenvSyntaxError as e:
        return e


def disagreement(theirs: Result, mine: Any) -> str | None:
    """None when compose_values matches compose, else a description of the difference."""
    if isinstance(theirs, ComposeError):
        if not isinstance(mine, envsync_hook.DotenvSyntaxError):
            return f"compose errors ({theirs.message!r}); compose_values returned {mine!r}"
        if theirs.line is not None and getattr(mine, "line", None) != theirs.line:
            return (
                f"compose errors at line {theirs.line} ({theirs.message!r}); "
                f"DotenvSyntaxError.line == {getattr(mine, 'line', None)} ({mine})"
            )
        return None
    if isinstance(mine, envsync_hook.DotenvSyntaxError):
        return f"compose reads {theirs!r}; compose_values raised DotenvSyntaxError({mine})"
    if mine != theirs:
        diff = {
            k: (theirs.get(k, "<absent>"), mine.get(k, "<absent>"))
            for k in sorted(set(theirs) | set(mine))
            if theirs.get(k) != mine.get(k)
        }
        return f"compose reads {theirs!r}; compose_values returned {mine!r}; differing: {diff}"
    return None


def check_all(
    compose: ComposeRead, texts: list[str], environ: Mapping[str, str] | None = None
) -> list[str]:
    answers = compose(texts, environ)
    failures = []
    for text, theirs in zip(texts, answers):
        problem = disagreement(theirs, ours(text, environ))
        if problem:
            failures.append(f"input {text!r} env {dict(environ or {})!r}: {problem}")
    return failures


# --- 2. the corpus ------------------------------------------------------------------------------

CORPUS_PATTERNS = ("**/*.env.example", "**/.env", "**/*.env")


def corpus_files(root: Path) -> list[Path]:
    return sorted({p for pattern in CORPUS_PATTERNS for p in root.glob(pattern) if p.is_file()})


def test_corpus_reads_like_compose(compose: ComposeRead, corpus: Path) -> None:
    files = corpus_files(corpus)
    assert files, f"no templates under {corpus}"
    texts = [p.read_bytes().decode("utf-8") for p in files]
    answers = compose(texts)
    failures = []
    for path, text, theirs in zip(files, texts, answers):
        assert not isinstance(theirs, ComposeError), f"compose rejects {path}: {theirs.message}"
        problem = disagreement(theirs, ours(text, None))
        if problem:
            failures.append(f"{path.relative_to(corpus)}: {problem}")
    assert not failures, f"{len(failures)}/{len(files)} templates differ:\n" + "\n".join(failures)


# --- 3. the probe inputs -----------------------------------------------------------------------

PROBE_INPUTS = json.loads(
    (Path(__file__).parent / "data" / "compose-probe-inputs.json").read_text(encoding="utf-8")
)["inputs"]
ENVIRONS = {
    "empty": {},
    "set": {
        "A": "av",
        "a": "lower",
        "B": "bv",
        "A1": "a1",
        "_": "und",
        "X": "xv",
        "V": "vv",
        "junk": "J",
    },
    "blank": {"A": "", "B": "bv", "X": ""},
}


@pytest.mark.parametrize("env_name", sorted(ENVIRONS))
def test_probe_inputs_read_like_compose(compose: ComposeRead, env_name: str) -> None:
    failures = check_all(compose, PROBE_INPUTS, ENVIRONS[env_name])
    assert not failures, f"{len(failures)} of {len(PROBE_INPUTS)} differ:\n" + "\n".join(failures)


# --- 4. hypothesis ------------------------------------------------------------------------------

NAMES = ["A", "B", "a", "_X", "A1", "AB"]
env_values = st.text(alphabet=" ab$#'\"\\{}=\t", max_size=4)
environs = st.dictionaries(st.sampled_from(NAMES), env_values, max_size=4)

keys = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(
        ["A.B", "A-B", "x[0]", "Ä", "1A", "export", "exportA", "A B", "", "A;B", "A\tB", "A$"]
    ),
)
separators = st.sampled_from(["=", "=", "=", ":", " = ", "\t=", "==", "= "])
spaces = st.sampled_from(["", "", " ", "  ", "\t", " \t"])
refs = st.sampled_from(
    [
        "$A",
        "${A}",
        "${B}",
        "$a",
        "${AB}",
        "$A1",
        "$_X",
        "${A:-x}",
        "${A-x}",
        "${A:+y}",
        "${A+y}",
        "${A:?m}",
        "${A?}",
        "${A:-${B}}",
        "${B:-${A:-z}}w}",
        "${A:-}",
        "${A:-{x}}",
        "$",
        "$$",
        "$$A",
        "$1",
        "$-",
        "${",
        "${}",
        "${A",
        "${ A}",
        "${A.B}",
        "}",
        "{",
    ]
)
plain_bits = st.sampled_from(
    [
        "x",
        "value",
        "a b",
        " ",
        "  ",
        "\t",
        "#",
        " #",
        " # c",
        "\t#",
        "=",
        ":",
        "é",
        "😀",
        "\\",
        "\\n",
        "\\t",
        "\\$",
        '\\"',
        "\\'",
        "\\\\",
        "\\0123",
        "\\0",
        "\\x41",
        "\\z",
        "'",
        '"',
        "\r",
        "\ufeff",
    ]
)
quoted_bits = st.one_of(plain_bits, refs, st.sampled_from(["\n", "\r\n", "\\\n", "#x"]))


@st.composite
def values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "double", "double", "single", "empty"]))
    if kind == "empty":
        return ""
    if kind == "plain":
        return "".join(draw(st.lists(st.one_of(plain_bits, refs), max_size=5)))
    q = '"' if kind == "double" else "'"
    body = "".join(draw(st.lists(quoted_bits, max_size=5)))
    body = body.replace(q, "\\" + q) if draw(st.booleans()) else body
    closing = q if draw(st.integers(0, 19)) else ""  # 1 in 20 left open
    after = draw(st.sampled_from(["", "", " ", " # c", "# c", "\t#c", " B=1", "junk"]))
    return q + body + closing + after


@st.composite
def statements(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["assign"] * 6 + ["bare", "comment", "blank", "export"]))
    lead = draw(spaces)
    if kind == "blank":
        return lead
    if kind == "comment":
        return lead + "#" + draw(st.sampled_from(["", " c", " A=1", "#", ' "x']))
    if kind == "bare":
        return lead + draw(keys) + draw(spaces)
    prefix = draw(st.sampled_from(["export ", "export\t", "export  "])) if kind == "export" else ""
    return lead + prefix + draw(keys) + draw(separators) + draw(values()) + draw(spaces)


@st.composite
def env_texts(draw: st.DrawFn) -> str:
    lines = draw(st.lists(statements(), min_size=1, max_size=6))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = newline.join(lines)
    if draw(st.booleans()):
        text += newline
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    return text


@settings(
    max_examples=20,
    deadline=None,
    # no shrinking: a 30-text example takes minutes to shrink, and the failure message already
    # lists each differing text on its own
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(texts=st.lists(env_texts(), min_size=30, max_size=30), environ=environs)
def test_generated_texts_read_like_compose(
    compose: ComposeRead, texts: list[str], environ: dict[str, str]
) -> None:
    failures = check_all(compose, texts, environ)
    assert not failures, f"{len(failures)} of {len(texts)} differ:\n" + "\n".join(failures)
