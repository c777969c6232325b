"""Unified diffs of env files with values masked (``--diff``)."""

from __future__ import annotations

import difflib
import re

from envsync_hook.compare import display
from envsync_hook.document import Document, parse
from envsync_hook.secrets import display_value

MASK = "***"
#: a commented-out assignment (``# KEY=value``): its value is masked like a live one
_COMMENTED = re.compile(r"(\s*#+\s*(?:export\s+)?)([^\s=#'\"]+)(\s*=\s*)(.*?)(\s*)")


def masked_lines(doc: Document, show_values: bool, patterns: tuple[str, ...]) -> list[str]:
    """Each line of ``doc`` as it may be shown: value text replaced, comments kept."""
    text = doc.text
    lines = text.splitlines()
    out = list(lines)
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def line_index(offset: int) -> int:
        lo, hi = 0, len(lines) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    covered: set[int] = set()  # lines holding a value (a '#' there is not a comment)
    for b in doc.bindings:
        if b.inherited or b.value_end == b.value_start:
            continue
        first = line_index(b.value_start)
        last = line_index(max(b.value_start, b.value_end - 1))
        covered.update(range(first, last + 1))
        value = display(b.template)
        shown = display_value(b.key, value, patterns) if show_values else MASK
        head = text[starts[first] : b.value_start]
        tail_start = b.value_end
        tail = text[tail_start : starts[last] + len(lines[last])] if last < len(lines) else ""
        if b.quote:
            shown = b.quote + shown + b.quote
        out[first] = head + shown + (tail if first == last else "")
        for i in range(first + 1, last + 1):
            out[i] = MASK + " (continued)" if i < last else MASK + " (continued)" + tail
    for i, line in enumerate(lines):
        m = _COMMENTED.fullmatch(line)
        if m is not None and m.group(4) and i not in covered:
            value = m.group(4)
            shown = display_value(m.group(2), value, patterns) if show_values else MASK
            out[i] = m.group(1) + m.group(2) + m.group(3) + shown + m.group(5)
    for issue in doc.errors:
        i = issue.line - 1
        if 0 <= i < len(out):
            out[i] = "<line with a syntax error, not shown>"
    return out


def masked_diff(
    old: str,
    new: str,
    old_name: str,
    new_name: str,
    show_values: bool,
    patterns: tuple[str, ...],
) -> str:
    """A unified diff of ``old`` -> ``new`` whose lines show no value unless ``show_values``."""
    a_real, b_real = old.splitlines(), new.splitlines()
    a_show = masked_lines(parse(old), show_values, patterns)
    b_show = masked_lines(parse(new), show_values, patterns)
    out = [f"--- {old_name}", f"+++ {new_name}"]
    matcher = difflib.SequenceMatcher(None, a_real, b_real, autojunk=False)
    for group in matcher.get_grouped_opcodes(3):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(" " + line for line in a_show[a1:a2])
                continue
            if tag in ("replace", "delete"):
                out.extend("-" + line for line in a_show[a1:a2])
            if tag in ("replace", "insert"):
                out.extend("+" + line for line in b_show[b1:b2])
    if len(out) == 2:
        return ""
    return "\n".join(out) + "\n"
