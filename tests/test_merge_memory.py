"""The memory-lean ways of the merge give what the plain ways give: the comment lines of a
text read a part at a time (``merge._comment_chunks``) are the text's comment lines, and the
operator's own comment lines (``merge.own_comment_lines``: a dict of the template's lines,
the env file's looked up part by part, the others streamed) are those whose text no template
has, as a plain set difference finds them.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsync_hook import merge
from envsync_hook.merge import MARKER_PREFIX
from envsync_hook.references import comment_text

LEAN = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: lines a comment-heavy env file and its templates are made of: comments as the template
#: writes them, and with other indentation, trailing blanks or CR (the same text as compared),
#: the operator's own, marker lines, statements, blank lines, a quoted value over lines
LINES = [
    "# a comment",
    "  # a comment",
    "# a comment \t",
    "# a comment\r",
    "\ufeff# a comment",
    "#",
    "# other",
    "#other",
    "\t# mine",
    "# mine",
    f"{MARKER_PREFIX} kept from the previous env file",
    "A=1",
    "B=2 # tail",
    "",
    " ",
    'C="x',
    '# inside"',
]

texts = st.lists(st.sampled_from(LINES), max_size=25).map("\n".join)


def plain_comment_lines(text: str) -> list[str]:
    """Every whole line of ``text`` that is a comment line (as ``_COMMENT_LINE`` takes it)."""
    return [line for line in text.split("\n") if re.match(r"[\ufeff \t]*#", line)]


@LEAN
@given(text=texts, chunk=st.integers(min_value=1, max_value=40))
def test_comment_chunks_are_the_comment_lines(text: str, chunk: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merge, "_CHUNK", chunk)
        parts = list(merge._comment_chunks(text))
    assert [line for part in parts for line in part] == plain_comment_lines(text)
    if chunk == 1 and text.count("\n") >= 2:
        assert len(parts) > 1  # (read a part at a time indeed)


@LEAN
@given(
    env=texts,
    template=texts,
    others=st.lists(texts, max_size=2),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_own_comment_lines_by_a_plain_set_difference(
    env: str, template: str, others: list[str], chunk: int
) -> None:
    theirs = {comment_text(c) for text in (template, *others) for c in plain_comment_lines(text)}
    expected = [
        c
        for c in plain_comment_lines(env)
        if comment_text(c) not in theirs and not comment_text(c).startswith(MARKER_PREFIX)
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merge, "_CHUNK", chunk)
        assert merge.own_comment_lines(env, template, others) == expected


def test_a_large_text_is_read_in_parts() -> None:
    """At the real part size: a 3 MB text gives its lines in several parts, none lost at the
    seams."""
    lines = [f"# comment {i}" if i % 3 else f"KEY_{i}=v" for i in range(300_000)]
    text = "\n".join(lines)
    parts = list(merge._comment_chunks(text))
    assert len(parts) > 2
    assert [line for part in parts for line in part] == [x for x in lines if x[0] == "#"]
