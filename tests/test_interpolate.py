"""Interpolation: the explicit-stack ``envsync_hook.interpolate`` gives exactly what the direct
port of compose-go's recursive code (``tests/interp_reference.py``) gives, value or error, and
neither recursion depth nor long lines of references break it or make it slow."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsync_hook import compose_values
from envsync_hook.interpolate import TemplateError, check_template, substitute
from tests import interp_reference as reference

ENV = {"A": "a", "EMPTY": "", "B_1": "b1", "k": "kelvin"}


def _lookup(name: str) -> str | None:
    return ENV.get(name)


def _run(fn: object, template: str) -> tuple[str, str]:
    try:
        return ("ok", fn(template, _lookup))  # type: ignore[operator]
    except (TemplateError, reference.TemplateError) as e:
        return ("error", str(e))


_PIECES = st.sampled_from(
    ["$", "{", "}", ":", "-", "+", "?", "A", "B_1", "EMPTY", "NOPE", "x", " ", "\n", "$$",
     "${", "${A", "${A:-", "${A-", "${A:+", "${NOPE:?", "${NOPE?m", "}}", "{{", "\u212a", "k"]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_same_as_the_reference(template: str) -> None:
    assert _run(substitute, template) == _run(reference.substitute, template)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="${}:-+?AB_x \n", max_size=40))
def test_same_as_the_reference_on_any_text(template: str) -> None:
    assert _run(substitute, template) == _run(reference.substitute, template)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${A:-x}", "a"),
        ("${NOPE:-x}", "x"),
        ("${EMPTY:-x}", "x"),
        ("${EMPTY-x}", ""),
        ("${A:+y}", "y"),
        ("${NOPE:+y}", ""),
        ("${NOPE:-${A}}", "a"),
        ("${NOPE:-${NOPE:-deep}}", "deep"),
        ("$A$$B", "a$B"),
        ("pre ${A} post", "pre a post"),
        ("${A:-x}y${NOPE:-z}", "ayz"),
    ],
)
def test_values(template: str, expected: str) -> None:
    assert substitute(template, _lookup) == expected


@pytest.mark.parametrize("depth", [200, 300, 5000])
def test_deep_nesting_has_no_recursion_limit(depth: int) -> None:
    """200 nested defaults raised RecursionError; compose accepts 300."""
    template = "${A:-" * depth + "x" + "}" * depth
    assert substitute(template, _lookup) == "a"
    assert substitute("${N:-" * depth + "x" + "}" * depth, _lookup) == "x"
    values = compose_values(f"V={template}\n")
    assert values == {"V": "x"}
    assert check_template(template) is None


def _seconds(template: str) -> float:
    started = time.perf_counter()
    with contextlib.suppress(TemplateError):
        substitute(template, _lookup)
    return time.perf_counter() - started


@pytest.mark.parametrize(
    "unit",
    ["${A:-xxxxxxxxxx", "${A:-x}", "${A:-x}}", "${A:-{x", "$$${", "${A:-${A:-x}y}z"],
)
def test_long_lines_of_references_are_linear(unit: str) -> None:
    """150 KB of an unclosed ``${A:-xxxxxxxxxx`` took 21 s (quadratic, 100 s at 300 KB): now
    twice the input takes about twice the time (the bound leaves room for a loaded machine)."""
    small = unit * (150_000 // len(unit))
    big = small * 2
    t_small = min(_seconds(small) for _ in range(3))
    t_big = min(_seconds(big) for _ in range(3))
    assert t_big < 10.0
    assert t_big < 3 * t_small + 0.05  # linear (a quadratic cost would be x4 and more)
