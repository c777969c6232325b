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


# --- hostile input, whole processes -----------------------------------------------------------


def _unclosed(size: int) -> tuple[str, str]:
    unit = "${A:-xxxxxxxxxx"
    return "A=1\n", "A=1\nV=" + unit * (size // len(unit)) + "\n"


def _long_value(size: int) -> tuple[str, str]:
    return "V=x\n", "V=" + "a" * size + "://u:pw@h\n"


def _reordered(keys: int) -> tuple[str, str]:
    import random

    names = [f"KEY_{i}" for i in range(keys)]
    template = "".join(f"# comment\n{k}=v{i}\n" for i, k in enumerate(names))
    random.Random(keys).shuffle(names)
    env = "".join(f"# comment\n{k}=custom{i}\n" for i, k in enumerate(names))
    return template, env


def _nested(depth: int) -> tuple[str, str]:
    return "A=1\n", "A=1\nV=" + "${B:-" * depth + "x" + "}" * depth + "\n"


def _long_names(keys: int) -> tuple[str, str]:
    """``keys`` names of 150-200 short words, each renamed by its last word (815 KB at 2,000)."""
    import random

    rng = random.Random(keys)
    words = [f"W{i}" for i in range(30)]
    names = ["_".join(rng.choices(words, k=rng.randint(150, 200))) for _ in range(keys)]
    template = "".join(f"{k}_NEW=v\n" for k in names)
    return template, "".join(f"{k}_OLD=v{i}\n" for i, k in enumerate(names))


def _forward(keys: int) -> tuple[str, str]:
    """Each key references the next, defined below it; the template has the reverse order, so
    fix must move every line."""
    template = "".join(f"K{i}=v\n" for i in reversed(range(keys)))
    return template, "".join(f"K{i}=${{K{i + 1}}}x\n" for i in range(keys))


def _own_comments(lines: int) -> tuple[str, str]:
    """The operator's own comment lines, one run of ``lines`` above a template key."""
    own = "".join(f"# my note {i}\n" for i in range(lines))
    return "A=1\nB=2\n", f"A=1\n{own}B=3\n"


#: name -> (files for a size, the two sizes, what a size counts, the command's arguments)
HOSTILE = {
    "unclosed ${A:-xxxxxxxxxx repeated (check)": (_unclosed, (75_000, 150_000), "B", ["check"]),
    "one long value (check --show-values)": (
        _long_value,
        (40_000, 80_000),
        "B",
        ["check", "--show-values"],
    ),
    "keys under equal comments, reordered (fix --diff)": (
        _reordered,
        (4_000, 8_000),
        " keys",
        ["fix", "--diff"],
    ),
    "nested ${B:-...} defaults (check)": (_nested, (150, 300), " deep", ["check"]),
    "rename hints on 150-200-word names (check)": (_long_names, (1_000, 2_000), " keys", ["check"]),
    "own comment lines in one run (fix --no-base --dry-run)": (
        _own_comments,
        (10_000, 20_000),
        " lines",
        ["fix", "--no-base", "--dry-run"],
    ),
    "forward references, template reversed (fix --dry-run)": (
        _forward,
        (10_000, 20_000),
        " keys",
        ["fix", "--dry-run"],
    ),
}


def _run_seconds(argv: list[str], cwd: str, env: dict[str, str], runs: int = 3) -> float:
    """Best of ``runs`` wall times of ``argv`` in ``cwd`` (the CLI's exit code is not checked:
    findings make it 1)."""
    import time

    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False, timeout=600)
        best = min(best, time.perf_counter() - started)
    return best


def measure_hostile(it: interp.Interpreter, env: dict[str, str]) -> list[str]:
    """Report lines: each hostile input of issue 14 at two sizes, as a whole ``envsync``
    process (best of 3), and the growth from the smaller to the larger. The times include
    start-up; linear cost shows as a growth of at most about 2 (quadratic: 4)."""
    import os
    import tempfile

    lines = []
    width = max(len(n) for n in HOSTILE)
    for name, (build, sizes, unit, args) in HOSTILE.items():
        times = []
        for size in sizes:
            template, envtext = build(size)
            with tempfile.TemporaryDirectory() as tmp:
                with open(os.path.join(tmp, ".env.example"), "w", encoding="utf-8") as f:
                    f.write(template)
                path = os.path.join(tmp, ".env")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(envtext)
                os.chmod(path, 0o600)
                times.append(_run_seconds([*it.envsync, *args], tmp, env))
        a, b = sizes
        lines.append(
            f"  {name:<{width}}  {a:>7,}{unit}: {times[0] * 1000:7.0f} ms"
            f"  {b:>7,}{unit}: {times[1] * 1000:7.0f} ms  growth x{times[1] / times[0]:.2f}"
        )
    return lines
