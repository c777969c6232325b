"""``parse(text, like)``: a parse that reuses the string objects of documents it resembles (an
env file's template, the env file and template of a merged text) gives exactly the columns of
the plain parse, and holds their strings wherever they are equal.

The texts are built from the lines of generated documents (``test_document.documents``),
shuffled, dropped, repeated and edited, so that most keys and values are shared, some keys
are assigned twice (the index points at the last assignment, the parse's cursor may meet an
earlier one), and some values differ from every ``like`` document's.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_document import documents

from envsync_hook.compare import index
from envsync_hook.document import Document, parse

SHARED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def columns(doc: Document) -> tuple[object, ...]:
    """Everything a parse writes, compared by value."""
    return (
        doc.text,
        doc.keys,
        doc.templates,
        list(doc.lines),
        list(doc.starts),
        bytes(doc.kinds),
        doc._spans_of,
        doc.spans,
        doc.tails,
        doc.exports,
        doc.errors,
        [doc.value_span(i) for i in range(len(doc))],
    )


@st.composite
def resembling(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Two or three texts: the first is parsed with the others as ``like``; it is made of the
    others' lines (and a few of its own), in their order or another, some repeated, some
    edited (a key renamed, a value changed, a comment or a line added)."""
    others = [draw(documents()).text for _ in range(draw(st.integers(1, 2)))]
    lines = [line for text in others for line in text.splitlines(keepends=True)]
    picked = draw(st.lists(st.sampled_from(lines), max_size=30)) if lines else []
    edits = st.sampled_from(["", "", "", "x", "=1", " # note", "\n", "A=1\n", "'", "key"])
    out = []
    if draw(st.booleans()):
        picked = lines + picked  # the others' lines in their order first
    for line in picked:
        edit = draw(edits)
        if edit == "key":  # another key, like the one it replaces (a longer one)
            out.append(line.replace("=", "Z=", 1))
        else:
            out.append(line.rstrip("\r\n") + edit + "\n" if edit else line)
    return "".join(out), others


@SHARED
@given(case=resembling())
def test_shared_parse_gives_the_plain_parse(case: tuple[str, list[str]]) -> None:
    text, others = case
    sides = [index("like", parse(other)) for other in others]
    like = [(side.last, side.doc) for side in sides]
    plain, shared = parse(text), parse(text, like)
    assert columns(shared) == columns(plain)
    # every key a like document has, and every value a like document's binding of the key
    # has, is one of their objects (the first document may be met at an earlier assignment of
    # a key than its index's: an object of the same text)
    their_keys = {id(k) for side in sides for k in side.doc.keys}
    their_values = {id(t) for side in sides for t in side.doc.templates}
    for key, template in zip(shared.keys, shared.templates):
        holders = [side for side in sides if key in side.last]
        if holders:
            assert id(key) in their_keys
        if any(side.doc.templates[side.last[key]] == template for side in holders):
            assert id(template) in their_values


def test_env_file_shares_the_templates_strings() -> None:
    """The usual case, as fix and check parse an env file: every key and every value equal
    to the template's is the template's object, the others are the env file's own."""
    template = index("t", parse("A=1\nB=two\n# note\nC='x'\nD=\"q\"\n"))
    env = parse("B=two\nA=changed\nC='x'\nE=own\nD=\"q\" # mine\n", [(template.last, template.doc)])
    tdoc = template.doc
    by_key = dict(zip(tdoc.keys, tdoc.templates))
    for key, value in zip(env.keys, env.templates):
        if key in template.last:
            assert key is tdoc.keys[template.last[key]]
            assert (value is by_key[key]) == (value == by_key[key])
    assert env.keys == ["B", "A", "C", "E", "D"]
    assert env.templates == ["two", "changed", "x", "own", "q"]
    assert env.tails == [(4, " # mine")]


def test_a_key_assigned_twice_shares_the_last_assignments_value() -> None:
    """The fast run tries the like document's next binding first; when that is an earlier
    assignment of the key with another value, the key's last assignment is still looked at
    (a seed of the property above found the miss)."""
    text = "A=one\nA=two\n"
    side = index("like", parse(text))
    shared = parse(text, [(side.last, side.doc)])
    assert shared.templates == ["one", "two"]
    assert shared.templates[1] is side.doc.templates[side.last["A"]]
