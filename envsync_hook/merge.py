"""The fix merge: a pure function from documents and decisions to the new env text.

The template is the structure, byte for byte; an operator value that is kept replaces only
the value text on the template's line; keys the template does not assign go in one
trailing block. The result is verified by parsing it back: every key must read as intended.
"""

from __future__ import annotations

from envsync_hook.compare import DROP, KEEP, TRAIL, UNDER, Comparison, Side, canonical
from envsync_hook.document import _GO_SPACE_CHARS, _INLINE_SPACE, Binding, Commented, parse

MARKER_PREFIX = "# envsync:"


class MergeError(RuntimeError):
    """The merged text would not read as intended (a bug); nothing is written."""


def eol_of(text: str) -> str:
    nl = text.find("\n")
    if nl > 0 and text[nl - 1] == "\r":
        return "\r\n"
    return "\n"


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _line_end(text: str, offset: int) -> int:
    """Offset of the end of the line containing ``offset`` (before ``\\r\\n`` or ``\\n``)."""
    nl = text.find("\n", offset)
    if nl < 0:
        return len(text)
    if nl > offset and text[nl - 1] == "\r":
        return nl - 1
    return nl


def double_quote(template: str) -> str:
    """A double-quoted value that compose reads as ``template``."""
    return '"' + template.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raw(side: Side, b: Binding) -> str:
    return side.doc.text[b.value_start : b.value_end]


def _splice_value(ttext: str, tb: Binding, env: Side, eb: Binding) -> str:
    """The operator's value text as it should stand on the template's line."""
    raw = _raw(env, eb)
    if eb.quote:
        return raw  # after a closing quote the rest of the line reads as before
    # unquoted: simulate how compose reads it followed by the rest of the template line
    rest = ttext[tb.value_end : _line_end(ttext, tb.value_end)]
    probe = raw + rest
    if raw == "":
        probe = probe.lstrip(_INLINE_SPACE)
        if probe[:1] in ("'", '"'):
            return double_quote(eb.template)
    cut = probe.find(" #")
    if cut >= 0:
        probe = probe[:cut]
    if probe.rstrip(_GO_SPACE_CHARS) == raw:
        return raw
    return double_quote(eb.template)


def _statement_text(side: Side, b: Binding) -> str:
    text = side.doc.text
    return text[
        _line_start(text, b.start) : _line_end(text, b.value_end if not b.inherited else b.start)
    ]


def _comments_above(side: Side, b: Binding) -> list[str]:
    text = side.doc.text
    lines: list[str] = []
    pos = _line_start(text, b.start)
    while pos > 0:
        prev = _line_start(text, pos - 1)
        line = text[prev:pos].rstrip("\r\n")
        stripped = line.strip()
        if not stripped.startswith("#") or stripped.startswith(MARKER_PREFIX):
            break
        lines.append(line)
        pos = prev
    lines.reverse()
    return lines


def merge(
    template: Side,
    env: Side,
    comparison: Comparison,
    template_name: str,
) -> str:
    """The new env text. ``template_name`` names the template in the trailing block's marker."""
    ttext = template.doc.text
    eol = eol_of(ttext)
    decisions = comparison.decisions
    pieces: list[str] = []
    prev = 0
    inserts: dict[int, list[str]] = {}  # template offset -> statements to insert there

    for key, c in _last_commented(template).items():
        if decisions.get(key) == UNDER:
            at = ttext.find("\n", c.start)
            stmt = _statement_text(env, env.last[key])
            if at < 0:
                inserts.setdefault(len(ttext), []).append(eol + stmt)
            else:
                inserts.setdefault(at + 1, []).append(stmt + eol)

    edits: list[tuple[int, int, str]] = []
    for key, tb in template.last.items():
        if decisions.get(key) != KEEP:
            continue
        eb = env.last[key]
        if tb.inherited and eb.inherited:
            continue
        if tb.inherited or eb.inherited:
            # a bare ``KEY`` line on either side: the operator's whole statement replaces it
            s = _line_start(ttext, tb.start)
            edits.append((s, _line_end(ttext, tb.value_end), _statement_text(env, eb)))
            continue
        if canonical(eb.template) == canonical(tb.template):
            continue
        edits.append((tb.value_start, tb.value_end, _splice_value(ttext, tb, env, eb)))
    for at, stmts in inserts.items():
        edits.append((at, at, "".join(stmts)))
    edits.sort(key=lambda e: (e[0], e[1]))
    for s, e, new in edits:
        pieces.append(ttext[prev:s])
        pieces.append(new)
        prev = e
    pieces.append(ttext[prev:])

    trail = [k for k, d in decisions.items() if d == TRAIL]
    if trail:
        body = "".join(pieces)
        final_newline = body == "" or body.endswith("\n")
        block: list[str] = [""] if body else []
        block.append(
            f"{MARKER_PREFIX} kept from the previous env file; not assigned in {template_name}"
        )
        for key in env.last:
            if decisions.get(key) != TRAIL:
                continue
            eb = env.last[key]
            where = comparison.relocated.get(key)
            if where is not None:
                block.append(f"{MARKER_PREFIX} {key} is now defined in {where}")
            block.extend(_comments_above(env, eb))
            block.append(_statement_text(env, eb))
        text = (
            body + ("" if final_newline else eol) + eol.join(block) + (eol if final_newline else "")
        )
    else:
        text = "".join(pieces)
    verify(text, template, env, decisions)
    return text


def _last_commented(template: Side) -> dict[str, Commented]:
    out: dict[str, Commented] = {}
    for c in template.doc.commented:
        if c.key not in template.last:
            out.setdefault(c.key, c)
    return out


def expected_values(template: Side, env: Side, decisions: dict[str, str]) -> dict[str, str]:
    """Key -> canonical template the merged file must give (inherited keys: "")."""
    want: dict[str, str] = {}
    for key, tb in template.last.items():
        eb = env.last.get(key)
        if eb is not None and decisions.get(key) == KEEP:
            want[key] = "" if eb.inherited else canonical(eb.template)
        else:
            want[key] = "" if tb.inherited else canonical(tb.template)
    for key, eb in env.last.items():
        d = decisions.get(key)
        if key not in template.last and d in (TRAIL, UNDER, KEEP):
            want[key] = "" if eb.inherited else canonical(eb.template)
    return want


def verify(text: str, template: Side, env: Side, decisions: dict[str, str]) -> None:
    doc = parse(text)
    if doc.errors:
        raise MergeError(f"merged text has a syntax error at line {doc.errors[0].line}")
    got: dict[str, str] = {}
    for b in doc.bindings:
        got[b.key] = "" if b.inherited else canonical(b.template)
    for key, want in expected_values(template, env, decisions).items():
        if got.get(key) != want:
            raise MergeError(f"merged text would not keep the value of {key}")
    for key, d in decisions.items():
        if d == DROP and key not in template.last and key in got:
            raise MergeError(f"merged text still assigns dropped key {key}")
