"""The parser on unusual shapes of input, in-process: ``envsync_hook.parse`` timed on texts of
100,000 lines that the fast path cannot take, or that stress it (long comment runs, ``export``
lines, spaces around ``=``, one long multi-line value, one long line), beside the generated
100k case. Reported, never asserted: a shape much slower per line than the others is a
regression to look at (a search that rescans, a quadratic loop).
"""

from __future__ import annotations

import json
import subprocess

import interp

#: name -> Python expression building the text (in the child, so that nothing large is passed)
SHAPES = {
    "100,000 comment lines": '"A=1\\n" + ("# " + "c" * 98 + "\\n") * 100000',
    "100,000 comment lines, then export": (
        '"A=1\\n" + ("# " + "c" * 98 + "\\n") * 100000 + "export X=1\\n"'
    ),
    "100,000 blank lines": '"A=1\\n" + "\\n" * 100000 + "B=2\\n"',
    "100,000 export lines": '"A=1\\n" + "export X=1\\n" * 100000',
    "100,000 KEY = value lines": '"A=1\\n" + "X = 1\\n" * 100000',
    "comment and KEY = value, 50,000 each": '"A=1\\n" + "# c\\nX = 1\\n" * 50000',
    "one value of 100,000 lines": '"A=\\"" + "line\\n" * 100000 + "\\"\\nB=2\\n"',
    "one line of 10 MB": '"A=" + "x" * 10_000_000 + "\\n"',
}

_CHILD = """
import json, sys, time
from envsync_hook import parse
out = {}
for name, expr in json.loads(sys.argv[1]).items():
    text = eval(expr)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        parse(text)
        times.append(time.perf_counter() - t)
    out[name] = min(times)
print(json.dumps(out))
"""


def measure(it: interp.Interpreter, env: dict[str, str], extra: dict[str, str]) -> list[str]:
    """Report lines: best of 3 parse times per shape (``extra``: name -> path of a file)."""
    shapes = dict(SHAPES)
    for name, path in extra.items():
        shapes[name] = f"open({path!r}, encoding='utf-8', newline='').read()"
    proc = subprocess.run(
        [it.python, "-c", _CHILD, json.dumps(shapes)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    times: dict[str, float] = json.loads(proc.stdout)
    width = max(len(n) for n in times)
    return [f"  {name:<{width}}  {secs * 1000:8.1f} ms" for name, secs in times.items()]
