"""Differential test of two versions of envsync-hook on generated inputs.

``python bench/differential.py --before /work/wt/pre16 [--after PATH] [--cases N] [--seed S]
[--mode parse|cli|all]``

A refactor must not change behaviour. This runs the same inputs through two checkouts of the
package and compares everything they return. Both are the package ``envsync_hook``, so each
version runs in a worker subprocess of its own (this script with ``--worker``, ``PYTHONPATH``
set to that checkout), fed a JSON list of cases on stdin and answering with a JSON list of
results on stdout. The two workers run side by side.

``parse``: seeded random dotenv texts covering the dialect (comments, ``export``, blank lines,
single, double and unquoted values, multi-line values, escapes, ``${X}``/``${X:-d}``/``$X``
references, inline comments, LF/CRLF/CR endings, odd characters such as U+2028, duplicates,
unclosed quotes and other errors), small mutations of the real templates, the vectors of
``dotenv-vectors.jsonl`` and the templates of the corpus: every column of the parsed document,
its errors, commented-out assignments, template errors, unclosed-quote diagnosis, the values
Compose reads, interpolation of every value, and the escaping helpers on keys and lines.

``cli``: seeded template / env / base triples (with a second template of the same set, for
``--also``) in temporary folders, run through the command line in-process (``cli.main``):
``check --format json --show-values``, ``check``, ``fix --dry-run --diff``, ``fix`` (then the
env file's bytes and the backup folder's listing), ``fix`` again (idempotence) and ``check`` after
it, with or without ``--base``. Exit codes, stdout, stderr and files are compared after
replacing what legitimately differs (the temporary folder, backup time stamps, sync times).

Prints the number of cases and differences (the first few in full); exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
DEFAULT_AFTER = HERE.parent
SHARED = Path(os.environ.get("ENVSYNC_SHARED", "/work/shared"))
VECTORS = SHARED / "dotenv-vectors.jsonl"
CORPUS = Path(os.environ.get("ENVSYNC_CORPUS", str(SHARED / "corpus")))

Case = dict[str, Any]

# --------------------------------------------------------------------------------------------
# generation: parse mode
# --------------------------------------------------------------------------------------------

_KEY_POOL = [
    "A",
    "B",
    "FOO",
    "BAR",
    "DB_HOST",
    "DB_PASSWORD",
    "API_URL",
    "SECRET_KEY",
    "_UNDER",
    "x1",
    "lower_case",
]
_ODD_KEYS = [
    "KEY.WITH.DOTS",
    "KEY-DASH",
    "arr[0]",
    "ÉTÉ",
    "ключ",
    "K\u00a0X",
    "KEY SPACE",
    "1DIGIT",
    "K$Y",
    "K{Y",
    "",
    "export",
    "exportX",
    "K\u2028",
]
_ODD_CHARS = ["\u2028", "\u2029", "\x85", "\xa0", "\t", "\x0b", "\x0c", "\r", "\ufeff", "\x00", "é"]
_REF_NAMES = ["A", "B", "FOO", "DB_HOST", "MISSING", "EMPTY", "x1"]


def _ref(rng: random.Random, depth: int = 0) -> str:
    """A reference in one of the forms compose interpolates, or a malformed one."""
    name = rng.choice(_REF_NAMES)
    r = rng.random()
    if r < 0.2:
        return "$" + name
    if r < 0.4:
        return "${" + name + "}"
    if r < 0.75:
        op = rng.choice([":-", "-", ":+", "+", ":?", "?"])
        word = rng.choice(["d", "", "default value", "x}y", "a b"])
        if depth < 2 and rng.random() < 0.3:
            word = _ref(rng, depth + 1) + rng.choice(["", "/x"])
        return "${" + name + op + word + "}"
    return rng.choice(["$$", "${", "${1}", "${A", "${A:}", "$", "${A:-${B}", "${}", "$}", "${A-}}"])


def _plain_value(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(0, 4)):
        r = rng.random()
        if r < 0.45:
            parts.append(
                rng.choice(["v", "value", "1", "true", "http://h:80/p", "a=b", "x'y", 'q"'])
            )
        elif r < 0.6:
            parts.append(_ref(rng))
        elif r < 0.72:
            parts.append(rng.choice([" ", "  ", "\t"]))
        elif r < 0.82:
            parts.append(rng.choice([" # comment", "#not", " #", "\\n", "\\", "\\\\"]))
        else:
            parts.append(rng.choice(_ODD_CHARS))
    return "".join(parts)


def _quoted_value(rng: random.Random, quote: str, nl: str) -> str:
    parts = []
    for _ in range(rng.randint(0, 5)):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(["v", "two words", "#hash", " # c", "=", "x"]))
        elif r < 0.5:
            parts.append(_ref(rng))
        elif r < 0.7:
            parts.append(
                rng.choice(
                    [
                        "\\n",
                        "\\t",
                        "\\\\",
                        "\\" + quote,
                        "\\$",
                        "\\0101",
                        "\\08",
                        "\\0",
                        "\\a",
                        "\\x",
                    ]
                )
            )
        elif r < 0.82:
            parts.append(nl + rng.choice(["line", "", "K=v", "# c", "export Z=1"]))
        else:
            parts.append(rng.choice(_ODD_CHARS))
    body = "".join(parts)
    close = quote if rng.random() > 0.04 else ""  # sometimes left open
    tail = rng.choice(["", "", "", " ", " # comment", "#c", " x", "\t"])
    return quote + body + close + tail


def _statement(rng: random.Random, keys: list[str], nl: str) -> str:
    r = rng.random()
    if r < 0.12:
        return rng.choice(["", " ", "\t", "  \t"])
    if r < 0.25:
        body = rng.choice(["comment", "", " KEY=v", "KEY=v", " export K='x'", "#", ' A="q"'])
        return rng.choice(["", " ", "\ufeff"]) + "#" + body
    key = rng.choice(keys) if keys and rng.random() < 0.15 else None  # a duplicate
    if key is None:
        key = rng.choice(_KEY_POOL) if rng.random() < 0.93 else rng.choice(_ODD_KEYS)
        keys.append(key)
    prefix = rng.choice(["", "", "", "", "export ", "export\t", "export  ", " ", "\t"])
    if rng.random() < 0.06:
        return prefix + key + rng.choice(["", " ", "\t"])  # a bare KEY: inherited
    sep = rng.choice(["=", "=", "=", "=", " = ", " =", "= ", ":", "=\t", " "])
    q = rng.random()
    if q < 0.55:
        value = _plain_value(rng)
    elif q < 0.8:
        value = _quoted_value(rng, '"', nl)
    else:
        value = _quoted_value(rng, "'", nl)
    return prefix + key + sep + value


def gen_text(rng: random.Random) -> str:
    """One dotenv text of a few statements, with one kind of line ending (sometimes mixed)."""
    nl = rng.choice(["\n", "\n", "\n", "\r\n", "\r"])
    mixed = rng.random() < 0.1
    keys: list[str] = []
    out = []
    for _ in range(rng.randint(0, 14)):
        out.append(_statement(rng, keys, nl))
        out.append(rng.choice(["\n", "\r\n", "\r"]) if mixed else nl)
    text = "".join(out)
    if text and rng.random() < 0.3:
        text = text[: -len(nl)] if text.endswith(nl) else text  # no final newline
    if rng.random() < 0.05:
        text = "\ufeff" + text
    if rng.random() < 0.05:  # what may end the input without a newline
        text += rng.choice(["export", "export ", "export \t", "K", "K ", "=v", "'", '"', "K=", "#"])
    return text


def mutate(rng: random.Random, text: str) -> str:
    """A few random edits of a real text: insert, delete or replace a character."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        r = rng.random()
        piece = rng.choice(['"', "'", "\n", "=", "#", " ", "$", "{", "}", "\\", "\r", *_ODD_CHARS])
        if r < 0.5 or not chars:
            chars.insert(at, piece)
        elif r < 0.75:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = piece
    return "".join(chars)


def corpus_texts() -> list[str]:
    """The real templates and env files of the corpus (none when it is absent)."""
    if not CORPUS.is_dir():
        return []
    out = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and ("env" in path.name) and path.suffix != ".bundle":
            out.append(path.read_text(encoding="utf-8", errors="surrogateescape"))
    return out


def vector_texts() -> list[str]:
    if not VECTORS.is_file():
        return []
    return [json.loads(line)["input"] for line in VECTORS.read_text().splitlines() if line.strip()]


def parse_cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    real = corpus_texts()
    texts = vector_texts() + real
    for _ in range(n):
        if real and rng.random() < 0.04:
            texts.append(mutate(rng, rng.choice(real)))
        else:
            texts.append(gen_text(rng))
    return [{"text": t} for t in texts]


# --------------------------------------------------------------------------------------------
# generation: cli mode
# --------------------------------------------------------------------------------------------

_SECRETISH = ["DB_PASSWORD", "SECRET_KEY", "API_TOKEN", "REDIS_PASSWORD", "JWT_SECRET"]
_WORDS = ["app", "db", "cache", "mail", "log", "queue", "web", "api", "auth", "store"]
_ATTRS = ["HOST", "PORT", "URL", "ENABLED", "LEVEL", "NAME", "TIMEOUT", "USER", "PATH", "MODE"]


def _value(rng: random.Random, names: list[str]) -> str:
    r = rng.random()
    if r < 0.25:
        return str(rng.randint(0, 9999))
    if r < 0.4:
        return rng.choice(["true", "false", ""])
    if r < 0.55 and names:
        ref = rng.choice(names)
        form = rng.choice(["${NAME}", "${NAME:-fallback}", "http://${NAME}:80", "$NAME"])
        return form.replace("NAME", ref)
    if r < 0.65:
        return f"http://h{rng.randint(0, 9)}.example:{rng.randint(1, 9999)}/p"
    return rng.choice(_WORDS) + str(rng.randint(0, 99))


def _render(rng: random.Random, key: str, value: str, env_side: bool) -> str:
    r = rng.random()
    if "$" in value or r < 0.7:
        if " " in value or "#" in value:
            return f'{key}="{value}"'
        return f"{key}={value}"
    if r < 0.82:
        return f'{key}="{value}"'
    if r < 0.9 and "'" not in value:
        return f"{key}='{value}'"
    if env_side and r < 0.95:
        return f"export {key}={value}"
    return f"{key}={value} # note"


def _template_text(rng: random.Random, entries: list[tuple[str, str, str]]) -> str:
    """Lines of a template: (kind, key, value) with kind ``set``, ``optin`` or ``comment``."""
    out = []
    for kind, key, value in entries:
        if kind == "comment":
            out.append(f"# {key}")
        elif kind == "blank":
            out.append("")
        elif kind == "optin":
            out.append(f"# {key}={value}")
        else:
            out.append(_render(rng, key, value, env_side=False))
    return "\n".join(out) + "\n"


def cli_case(rng: random.Random) -> Case:
    """A base (previous template), a template (this release), an env file made from the base
    by an operator, and sometimes a second template of the same set (``--also``)."""
    n = rng.randint(2, 14)
    names: list[str] = []
    for i in range(n):
        if rng.random() < 0.12:
            name = rng.choice(_SECRETISH)
        else:
            name = f"{rng.choice(_WORDS).upper()}_{rng.choice(_ATTRS)}"
        if name not in names:
            names.append(name)
        if rng.random() < 0.08:
            names.append(f"K{i}")  # a short name, so renames have something to find
    base: dict[str, str] = {}
    for name in names:
        base[name] = _value(rng, [k for k in base if k != name])
    # the new template: changed defaults, removed keys, renames, new keys, opt-ins
    tmpl: list[tuple[str, str, str]] = [("comment", "header", "")]
    renamed: dict[str, str] = {}
    moved: list[str] = []
    for name, value in base.items():
        r = rng.random()
        if r < 0.08:
            continue  # removed
        if r < 0.15:
            new = name + "_NEW" if rng.random() < 0.5 else "NEW_" + name
            renamed[name] = new
            tmpl.append(("set", new, value))
            continue
        if r < 0.2:
            moved.append(name)  # relocated to the other template of the set
            continue
        if r < 0.32:
            value = _value(rng, list(base))
        if rng.random() < 0.1:
            tmpl.append(("optin", name, value))
        else:
            tmpl.append(("set", name, value))
        if rng.random() < 0.15:
            tmpl.append(("blank" if rng.random() < 0.5 else "comment", "section", ""))
    for i in range(rng.randint(0, 3)):
        tmpl.append(("set", f"ADDED_{i}", _value(rng, list(base))))
    if rng.random() < 0.2:
        tmpl.append(("optin", "OPTIONAL_FEATURE", "on"))
    if rng.random() < 0.1 and len(tmpl) > 2:
        tmpl.append(tmpl[1] if tmpl[1][0] == "set" else ("set", "DUP", "1"))  # a duplicate
    if rng.random() < 0.2:
        tail = tmpl[1:]
        rng.shuffle(tail)
        tmpl[1:] = tail
    # the operator's env file, made from the base
    env_lines: list[str] = []
    for name, value in base.items():
        r = rng.random()
        if r < 0.1:
            continue  # missing
        if r < 0.4 or name in _SECRETISH:
            value = _value(rng, list(base)) if rng.random() < 0.8 else value + "x"
        env_lines.append(_render(rng, name, value, env_side=True))
    for i in range(rng.randint(0, 2)):
        env_lines.append(f"OPERATOR_ONLY_{i}={_value(rng, list(base))}")
    if rng.random() < 0.15 and env_lines:
        env_lines.append(rng.choice(env_lines))  # a duplicate
    if rng.random() < 0.25:
        rng.shuffle(env_lines)
    if rng.random() < 0.05:
        env_lines.append('BROKEN="unclosed')
    if rng.random() < 0.1:
        env_lines.append("# OPTIONAL_FEATURE=on")
    case: Case = {
        "template": _template_text(rng, tmpl),
        "env": "\n".join(env_lines) + ("\n" if rng.random() < 0.9 else ""),
        "base": None,
        "also": None,
        "crlf": rng.random() < 0.05,
    }
    if rng.random() < 0.6:
        case["base"] = _template_text(rng, [("set", k, v) for k, v in base.items()])
    if moved or rng.random() < 0.15:
        other = [("set", k, base[k]) for k in moved] + [("set", "OTHER_KEY", "1")]
        case["also"] = {
            "template": _template_text(rng, other),
            "env": "".join(f"{k}={base[k]}\n" for k in moved[:1]),
        }
    if case["crlf"]:
        for k in ("template", "env", "base"):
            if case[k] is not None:
                case[k] = case[k].replace("\n", "\r\n")
    return case


def cli_cases(n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    return [cli_case(rng) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# workers (run with PYTHONPATH set to one checkout)
# --------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """JSON-ready form of what the parser returns (tuples -> lists, arrays -> lists)."""
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return [[_plain(k), _plain(v)] for k, v in sorted(x.items(), key=lambda kv: repr(kv[0]))]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if isinstance(x, (bytes, bytearray)):
        return list(x)
    if hasattr(x, "tolist"):
        return x.tolist()
    return repr(x)


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return _plain(fn())
    except Exception as e:  # noqa: BLE001 - an exception is part of the behaviour
        return ["raised", type(e).__name__, str(e)]


_ENVIRON = {"A": "from-env", "EMPTY": "", "x1": "${B}"}


def _lookup(name: str) -> str | None:
    return _ENVIRON.get(name)


def parse_result(text: str) -> dict[str, Any]:
    """Everything the parser (and interpolation, and escaping) says about one text."""
    from envsync_hook import document, escaping, interpolate

    doc = document.parse(text)
    n = len(doc.keys)
    r: dict[str, Any] = {
        "identity": str(doc) == text and doc.render() == text,
        "len": len(doc),
        "keys": list(doc.keys),
        "templates": list(doc.templates),
        "lines": list(doc.lines),
        "starts": list(doc.starts),
        "kinds": list(doc.kinds),
        "value_spans": [list(doc.value_span(i)) for i in range(n)],
        "bindings": _plain(doc.bindings),
        "spans_of": _plain(getattr(doc, "_spans_of", None)),
        "errors": _plain(doc.errors),
        "spans": _plain(doc.spans),
        "tails": _plain(doc.tails),
        "exports": list(doc.exports),
        "values": _plain(doc.values()),
        "commented": _plain(doc.commented),
        "template_errors": _guard(lambda: document.template_errors(doc)),
        "unclosed": _guard(lambda: document.unclosed_quote(doc)),
        "compose": _guard(lambda: document.compose_values(text)),
        "compose_env": _guard(lambda: document.compose_values(text, _ENVIRON)),
        "substitute": [_guard(partial(interpolate.substitute, t, _lookup)) for t in doc.templates],
        "check_template": [interpolate.check_template(t) for t in doc.templates],
        "escape": [escaping.escape(k) for k in doc.keys] + [escaping.escape_lines(text)],
        "plausible": [escaping.plausible_key(k) for k in doc.keys],
        "line_of": [doc.line_of(s) for s in doc.starts],
    }
    uq = document.unclosed_quote(doc)
    if uq is not None:
        r["without_quote"] = document.without_quote(text, uq)
    return r


def parse_worker(cases: list[Case]) -> list[Any]:
    return [parse_result(case["text"]) for case in cases]


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def cli_worker(cases: list[Case], root: str) -> list[Any]:
    from envsync_hook import cli

    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GIT_")) or name in ("CI", "FORCE_COLOR", "CLICOLOR_FORCE"):
            del os.environ[name]
    os.environ["NO_COLOR"] = "1"
    os.environ["COLUMNS"] = "100"
    home = os.getcwd()
    results = []

    def run(argv: list[str]) -> list[Any]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: Any = cli.main(argv)
            except SystemExit as e:
                code = e.code
        return [code, out.getvalue(), err.getvalue()]

    for i, case in enumerate(cases):
        folder = Path(root) / f"case{i}"
        folder.mkdir()
        _write(folder / ".env.example", case["template"])
        _write(folder / ".env", case["env"])
        also: list[str] = []
        if case["also"] is not None:
            _write(folder / "extra.env.example", case["also"]["template"])
            _write(folder / "extra.env", case["also"]["env"])
            also = ["--also", "extra.env.example"]
        base: list[str] = []
        if case["base"] is not None:
            _write(folder / "base.env.example", case["base"])
            base = ["--base", "base.env.example"]
        os.chdir(folder)
        steps: list[Any] = []
        try:
            if base:
                steps.append(run(["check", "--format", "json", "--show-values", *also]))
            steps.append(run(["check", "--format", "json", "--show-values", *base, *also]))
            steps.append(run(["check", *base, *also]))
            steps.append(run(["check", "-v", *base]))
            steps.append(run(["fix", "--dry-run", "--diff", *base, *also]))
            steps.append(run(["fix", *base, *also]))
            steps.append(_listing(folder))
            steps.append((folder / ".env").read_bytes().decode("utf-8", "surrogateescape"))
            if also:
                steps.append((folder / "extra.env").read_bytes().decode("utf-8", "replace"))
            steps.append(run(["fix", *base, *also]))
            steps.append((folder / ".env").read_bytes().decode("utf-8", "surrogateescape"))
            steps.append(run(["check", "--format", "json", *also]))
        finally:
            os.chdir(home)
        results.append(steps)
        shutil.rmtree(folder, ignore_errors=True)
    return results


def worker(mode: str) -> None:
    job = json.load(sys.stdin)
    stdout = sys.stdout
    if mode == "parse":
        results = parse_worker(job["cases"])
    else:
        results = cli_worker(job["cases"], job["root"])
    json.dump(results, stdout)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------

_STAMP = re.compile(r"\d{8}_\d{6}(?:_\d+)?")  # (``_2``: a second backup in the same second)
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def normalise(x: Any, roots: list[str]) -> Any:
    """Replace what legitimately differs between two runs: the temporary folder, backup time
    stamps and sync times."""
    if isinstance(x, str):
        for root in roots:
            x = x.replace(root, "<TMP>")
        return _WHEN.sub("<WHEN>", _STAMP.sub("<STAMP>", x))
    if isinstance(x, list):
        return [normalise(v, roots) for v in x]
    if isinstance(x, dict):
        return {k: normalise(v, roots) for k, v in x.items()}
    return x


def start_worker(checkout: Path, mode: str, cases: list[Case], root: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(checkout)
    env.pop("PYTHONSTARTUP", None)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
        encoding="utf-8",
        errors="surrogateescape",
    )
    return proc


def run_pair(
    before: Path, after: Path, mode: str, cases: list[Case]
) -> tuple[list[Any], list[Any], list[str]]:
    """Run both workers side by side on the cases; their normalised results."""
    roots = [tempfile.mkdtemp(prefix=f"envsync-diff-{side}-") for side in ("a", "b")]
    try:
        procs = []
        for checkout, root in zip((before, after), roots):
            proc = start_worker(checkout, mode, cases, root)
            procs.append(proc)
        outs = []
        payloads = [json.dumps({"cases": cases, "root": root}) for root in roots]
        # feed and read both at once (threads: either may block on a full pipe)
        import threading

        answers: list[tuple[str, str]] = [("", ""), ("", "")]

        def talk(k: int) -> None:
            answers[k] = procs[k].communicate(payloads[k])

        threads = [threading.Thread(target=talk, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k, (proc, checkout) in enumerate(zip(procs, (before, after))):
            out, err = answers[k]
            if proc.returncode != 0:
                raise SystemExit(f"differential: the worker for {checkout} failed:\n{err}")
            outs.append(json.loads(out))
        real = [os.path.realpath(r) for r in roots]
        return (
            normalise(outs[0], [real[0], roots[0]]),
            normalise(outs[1], [real[1], roots[1]]),
            roots,
        )
    finally:
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def first_difference(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """Where ``a`` and ``b`` differ: a path and the two values (a diff for long strings)."""
    if type(a) is not type(b):
        yield f"{path}: {a!r} != {b!r}"
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                yield from first_difference(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list):
        if len(a) != len(b):
            yield f"{path}: length {len(a)} != {len(b)}: {a!r:.300} != {b!r:.300}"
            return
        for k, (x, y) in enumerate(zip(a, b)):
            if x != y:
                yield from first_difference(x, y, f"{path}[{k}]")
    elif isinstance(a, str) and ("\n" in a or len(a) > 120):
        diff = difflib.unified_diff(
            a.splitlines(keepends=True), b.splitlines(keepends=True), "before", "after", n=1
        )
        yield f"{path}:\n" + "".join(diff)
    else:
        yield f"{path}: {a!r} != {b!r}"


def compare(mode: str, cases: list[Case], a: list[Any], b: list[Any], show: int) -> int:
    differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    print(f"{mode}: {len(cases)} cases, {len(differing)} differences")
    for i in differing[:show]:
        print(f"--- {mode} case {i}: input {json.dumps(cases[i], ensure_ascii=False)[:2000]}")
        for line in list(first_difference(a[i], b[i]))[:5]:
            print("   ", line[:3000])
    return len(differing)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--before", type=Path, help="checkout of the code before the change")
    p.add_argument("--after", type=Path, default=DEFAULT_AFTER, help="default: this checkout")
    p.add_argument(
        "--cases", type=int, default=None, help="generated cases (parse: 3000, cli: 400)"
    )
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--mode", choices=("parse", "cli", "all"), default="all")
    p.add_argument("--show", type=int, default=3, help="differences printed in full")
    p.add_argument("--worker", choices=("parse", "cli"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.before is None:
        p.error("--before is required")
    for checkout in (args.before, args.after):
        if not (checkout / "envsync_hook" / "__init__.py").is_file():
            p.error(f"{checkout} holds no envsync_hook package")
    print(f"before: {args.before.resolve()}\nafter:  {args.after.resolve()}\nseed {args.seed}")
    total = 0
    for mode in ("parse", "cli") if args.mode == "all" else (args.mode,):
        started = time.perf_counter()
        if mode == "parse":
            cases = parse_cases(args.cases or 3000, args.seed)
        else:
            cases = cli_cases(args.cases or 400, args.seed)
        a, b, _ = run_pair(args.before, args.after, mode, cases)
        total += compare(mode, cases, a, b, args.show)
        print(f"  ({time.perf_counter() - started:.1f} s)")
    print("differences:", total)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
