"""Which templates belong together, found rather than configured.

Two things live here (DESIGN.md section 12):

- **Template sets from compose files.** The compose files in the primary template's folder
  (``docker-compose.yaml``, ``compose.yaml``, ``docker-compose.middleware.yaml``, ...) name the
  env files the application reads (``env_file``); each ``X.env`` whose template (``X.env.example``
  or another template name of it) exists in that folder or below is a template of the set, as if
  given with ``--also``. Nothing outside the folder is ever taken: paths are resolved (``../`` and
  symlinks included) and must stay inside it.
- **Upgrade-hook runs** (``--upgrade-hook``, the ``envsync-upgrade`` hooks on ``post-checkout`` and
  ``post-merge``): the commits before and after, whether a template changed between them, and
  the tracked templates whose env file exists.

Compose files are YAML, but PyYAML is not a dependency: a small scanner reads the ``env_file``
entries only (a string, a block or flow list of strings, or of ``{path: ..., required: ...}``
mappings). It never evaluates anything, and an entry it cannot read is skipped (the set is then
smaller, never wrong: a file is a member only if its template exists).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from envsync_hook.errors import EnvsyncError
from envsync_hook.lean import NamedTuple, lazy_pattern

#: compose file names Docker Compose reads by default, and their variants in the same folder
#: (``docker-compose.middleware.yaml``, ``compose.override.yml``)
_COMPOSE_PREFIXES = ("compose.", "docker-compose.")
_COMPOSE_SUFFIXES = (".yaml", ".yml")
#: template suffixes tried after an env file's name (pairing.env_for decides which count)
_TEMPLATE_SUFFIXES = (".example", ".sample", ".template", ".dist")
#: a compose file larger than this is not scanned (no real one comes near it)
_MAX_COMPOSE_BYTES = 8 * 1024 * 1024
#: subfolders not looked into for the "use --also" hint
_SKIP_DIRS = frozenset({"node_modules", "vendor", "venv", "env-backup", "__pycache__"})
#: how deep, and how many folders at most, the hint looks (it must stay cheap)
_HINT_DEPTH = 2
_HINT_MAX_DIRS = 64
#: git's name of "no commit" (post-checkout after a clone passes it as the previous HEAD)
NULL_REF = "0" * 40


class TemplateSet(NamedTuple):
    """The rest of a primary template's set, and the compose files that named it."""

    templates: tuple[Path, ...]
    compose_files: tuple[str, ...]

    def notice(self, primary: Path) -> str:
        """One line: how many templates, from which compose files, and how to switch it off."""
        names = ", ".join(self.compose_files)
        return (
            f"{primary}: template set of {len(self.templates) + 1} found from the env_file "
            f"entries of {names} (--also overrides, --no-discover switches it off)"
        )


# --- compose files --------------------------------------------------------------------------


def compose_files(folder: Path) -> list[Path]:
    """The compose files in ``folder``, sorted by name (none: an empty list, one listdir)."""
    try:
        names = os.listdir(folder if str(folder) else ".")
    except OSError:
        return []
    return [folder / n for n in sorted(names) if _is_compose_name(n)]


def _is_compose_name(name: str) -> bool:
    """``compose.yaml``, ``docker-compose.yml``, ``docker-compose.middleware.yaml``, ..."""
    if not name.startswith(_COMPOSE_PREFIXES) or not name.endswith(_COMPOSE_SUFFIXES):
        return False
    stem = name.rsplit(".", 1)[0]
    return stem in ("compose", "docker-compose") or stem.startswith(_COMPOSE_PREFIXES)


class _Lazy:
    """A regular expression compiled on first use: a plain run whose template folder holds no
    compose file never pays for compiling the scanner's patterns."""

    __slots__ = ("_compiled", "_pattern")

    def __init__(self, pattern: str) -> None:
        self._pattern = pattern
        self._compiled: re.Pattern[str] | None = None

    def get(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern)
        return self._compiled


_ENV_FILE_KEY = _Lazy(
    r"""\A(?P<indent>[ \t]*)(?P<dash>-[ \t]+)?(?P<q>["']?)env_file(?P=q)"""
    r"""[ \t]*:(?:[ \t]+(?P<rest>.*))?\Z"""
)
_BLOCK_SCALAR = _Lazy(r"(?:\A|[:\-][ \t]+)[|>][-+0-9]*\Z")
_PATH_KEY = _Lazy(r"""\A(?P<q>["']?)path(?P=q)[ \t]*:(?:[ \t]+(?P<rest>.*))?\Z""")
_OTHER_KEY = _Lazy(r"""\A(?:"[^"]*"|'[^']*'|[^\s'"{\[#][^:#]*?)[ \t]*:(?:[ \t]|\Z)""")


def _logical_lines(text: str) -> list[str]:
    """The lines of ``text`` without YAML comments, each quoted scalar that goes on over
    several lines joined (with spaces) into the line it starts on.

    The quote state carries from one line to the next: a line inside a quoted scalar is text
    (never a key, its ``#`` never a comment), and the scalar's closing quote on a later line is
    not taken for an opening one. The lines of a block scalar (``|``/``>``) are kept as they are
    (``env_file_entries`` skips them), so a quote in them opens nothing.
    """
    out: list[str] = []
    block_indent = -1  # inside a block scalar: lines deeper than this are its text
    joined = ""
    quote = ""
    for raw in text.splitlines():
        if quote:  # the quoted scalar of the line before goes on
            line, quote = _uncomment(raw.strip(), quote)
            joined += " " + line
            if quote:
                continue
            line = joined
        else:
            if block_indent >= 0:
                if not raw.strip() or _indent(raw) > block_indent:
                    out.append(raw)
                    continue
                block_indent = -1
            line, quote = _uncomment(raw, "")
            if quote:
                joined = line
                continue
        out.append(line.rstrip())
        if _BLOCK_SCALAR.get().search(out[-1]):
            block_indent = _indent(out[-1])
    if quote:
        out.append(joined.rstrip())
    return out


def _uncomment(line: str, quote: str) -> tuple[str, str]:
    """``line`` up to its comment (a ``#`` at the start or after a space, outside quotes), and
    the quote still open at its end; ``quote`` is the one open when the line starts."""
    if not quote and "#" not in line and "'" not in line and '"' not in line:
        return line, ""  # most lines: nothing to scan
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1  # an escaped character (``\"`` does not close)
            elif ch == quote:
                if quote == "'" and line[i + 1 : i + 2] == "'":
                    i += 1  # ``''`` is a quote inside single quotes
                else:
                    quote = ""
        elif ch in "\"'" and _scalar_starts(line, i):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i], quote
        i += 1
    return line, quote


def _scalar_starts(line: str, i: int) -> bool:
    """Whether a scalar may start at ``line[i]``: at the start of the line, or after ``[``,
    ``{``, ``,``, or a ``:``/``-``/``?`` and a space (inside a plain scalar a quote is text)."""
    before = line[:i].rstrip(" \t")
    if not before or before[-1] in "[{,":
        return True
    return before[-1] in ":-?" and len(before) < i


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _scalar(text: str) -> str | None:
    """A YAML scalar's string value, or None when it is not a plain string we can read."""
    text = text.strip()
    if text.startswith(("&", "!")):  # an anchor or tag before the value
        _, _, text = text.partition(" ")
        text = text.strip()
    if not text or text.startswith(("*", "[", "{", "|", ">")):
        return None
    if text[0] == '"':
        if len(text) < 2 or not text.endswith('"'):
            return None
        inner = text[1:-1]
        if "\\" in inner:
            inner = re.sub(r"\\(.)", r"\1", inner)
        return inner
    if text[0] == "'":
        if len(text) < 2 or not text.endswith("'"):
            return None
        return text[1:-1].replace("''", "'")
    return text


def _outside_quotes(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, character, bracket depth after it) of each character outside quotes."""
    depth = 0
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        else:
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            yield i, ch, depth


def _split_flow(text: str) -> list[str]:
    """The top-level comma-separated items of a flow collection's inside."""
    items: list[str] = []
    start = 0
    for i, ch, depth in _outside_quotes(text):
        if ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return [i for i in items if i]


def _flow_map_path(text: str) -> str | None:
    """``path`` of a flow mapping ``{path: x, required: false}``."""
    inner = text.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return None
    for item in _split_flow(inner[1:-1]):
        m = _PATH_KEY.get().match(item)
        if m:
            return _scalar(m.group("rest") or "")
    return None


def _flow_item(text: str) -> str | None:
    return _flow_map_path(text) if text.startswith("{") else _scalar(text)


def _balanced(text: str) -> bool:
    """Whether a flow collection that starts in ``text`` is closed in it."""
    depth = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth <= 0


_VALUE_START = _Lazy(
    r"""\A[ \t]*(?:-[ \t]+)*(?:(?:"[^"]*"|'[^']*'|[^\s'"{\[#][^:#]*?)[ \t]*:[ \t]+)?[\[{]"""
)
_FLOW_KEY = _Lazy(r"""[{,][ \t]*(["']?)env_file\1[ \t]*:[ \t]*""")


def _opens_flow(line: str) -> bool:
    """Whether the value on ``line`` (after ``key:`` or ``-``) starts a flow collection."""
    return ("{" in line or "[" in line) and _VALUE_START.get().match(line) is not None


def _flow_env_files(text: str) -> list[str]:
    """The ``env_file`` values inside flow mappings of ``text`` (one logical line)."""
    out: list[str] = []
    for m in _FLOW_KEY.get().finditer(text):
        rest = text[m.end() :]
        if rest.startswith("["):
            end = _closing(rest)
            if end > 0:
                out.extend(p for p in map(_flow_item, _split_flow(rest[1:end])) if p)
        else:
            items = _split_flow(rest.split("}", 1)[0] if "{" not in rest else rest)
            path = _scalar(items[0].rstrip("}").strip()) if items else None
            if path:
                out.append(path)
    return out


def _closing(text: str) -> int:
    """Index of the bracket closing the one ``text`` starts with (-1: not closed)."""
    for i, ch, depth in _outside_quotes(text):
        if ch in "]}" and depth == 0:
            return i
    return -1


def env_file_entries(text: str) -> list[str]:
    """The paths the ``env_file`` keys of a compose file name, in file order.

    Reads ``env_file: a.env``, ``env_file: [a.env, b.env]`` and block lists of strings or of
    ``path:``/``required:`` mappings (block or flow), anywhere in the file (services, ``x-``
    extension fields used as anchors). Paths with ``${...}`` interpolation are skipped.
    """
    lines = _logical_lines(text)
    out: list[str] = []
    block_indent = -1  # inside a block scalar (``|``/``>``): lines deeper than this are text
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        ind = _indent(line)
        if block_indent >= 0:
            if ind > block_indent:
                continue
            block_indent = -1
        if _BLOCK_SCALAR.get().search(line):
            block_indent = ind
            continue
        if _opens_flow(line):
            # a flow collection (``{image: x, env_file: a.env}``) may go on over several lines
            while not _balanced(line) and i < len(lines):
                line += " " + lines[i].strip()
                i += 1
        m = _ENV_FILE_KEY.get().match(line)
        if m is None:
            if "env_file" in line:
                out.extend(_flow_env_files(line))
            continue
        rest = (m.group("rest") or "").strip()
        keycol = len(m.group("indent")) + len(m.group("dash") or "")
        if rest:
            if rest.startswith(("&", "!")) and " " in rest:
                rest = rest.partition(" ")[2].strip()
            if rest.startswith("["):
                while not _balanced(rest) and i < len(lines):
                    rest += " " + lines[i].strip()
                    i += 1
                if rest.endswith("]"):
                    out.extend(p for p in map(_flow_item, _split_flow(rest[1:-1])) if p)
            else:
                path = _scalar(rest)
                if path:
                    out.append(path)
            continue
        i = _block_list(lines, i, keycol, out)
    return [p for p in out if "$" not in p]


def _block_list(lines: list[str], i: int, keycol: int, out: list[str]) -> int:
    """Read the block list below an ``env_file:`` at column ``keycol``; returns the next line."""
    item_col = -1
    pending = False  # inside a ``- required: ...`` mapping item whose ``path`` is still to come
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        ind = _indent(line)
        body = line.strip()
        if ind < keycol or (ind == keycol and not body.startswith("-")):
            break
        if item_col < 0:
            if not body.startswith("-"):
                break  # not a list (a mapping, an alias on the next line): nothing to read
            item_col = ind
        if ind == item_col and (body == "-" or body.startswith(("- ", "-\t"))):
            pending = False
            item = body[1:].strip()
            if not item:
                pending = True  # ``-`` alone: a mapping follows on the next lines
            elif item.startswith("{"):
                while not _balanced(item) and i + 1 < len(lines):
                    i += 1
                    item += " " + lines[i].strip()
                path = _flow_map_path(item)
                if path:
                    out.append(path)
            else:
                pm = _PATH_KEY.get().match(item)
                if pm:
                    path = _scalar(pm.group("rest") or "")
                    if path:
                        out.append(path)
                elif _OTHER_KEY.get().match(item):
                    pending = True
                else:
                    path = _scalar(item)
                    if path:
                        out.append(path)
        elif ind > item_col and pending:
            pm = _PATH_KEY.get().match(body)
            if pm:
                path = _scalar(pm.group("rest") or "")
                if path:
                    out.append(path)
                pending = False
        elif ind <= item_col:
            break
        i += 1
    return i


# --- template sets --------------------------------------------------------------------------


def _inside(path: str, root_real: str) -> bool:
    """Whether ``path`` (resolved: symlinks, ``..``) lies in the folder ``root_real`` or below."""
    real = os.path.realpath(path)
    return real.startswith(root_real.rstrip(os.sep) + os.sep)


def template_for_env(env: str) -> str | None:
    """The template of env file ``env`` that the pairing rules map back to it, if one exists."""
    from envsync_hook.pairing import env_for

    for suffix in _TEMPLATE_SUFFIXES:
        candidate = env + suffix
        if not os.path.isfile(candidate):
            continue
        try:
            paired = env_for(Path(candidate))
        except EnvsyncError:
            continue
        if os.path.normpath(str(paired)) == os.path.normpath(env):
            return candidate
    return None


def template_set(primary: Path, exclude: Iterable[Path] = ()) -> TemplateSet | None:
    """The templates the compose files beside ``primary`` list (through their env files).

    None when the folder holds no compose file; otherwise the members, sorted, never the primary
    itself, its own env file's template or a path in ``exclude`` (a ``--base`` file).
    """
    folder = primary.parent
    found = compose_files(folder)
    if not found:
        return None
    root = str(folder) if str(folder) else "."
    root_real = os.path.realpath(root)
    skip = {os.path.realpath(primary), *(os.path.realpath(p) for p in exclude)}
    members: dict[str, Path] = {}
    used: list[str] = []
    for compose in found:
        try:
            if os.path.getsize(compose) > _MAX_COMPOSE_BYTES:
                continue
            text = compose.read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        named = False
        for entry in env_file_entries(text):
            if os.path.isabs(entry) or entry.startswith("~"):
                continue  # an absolute path is outside the folder by definition
            env = os.path.normpath(os.path.join(root, entry))
            if os.path.normpath(env).startswith(".." + os.sep) or env == "..":
                continue
            if not _inside(env, root_real):
                continue
            template = template_for_env(env)
            if template is None or not _inside(template, root_real):
                continue
            real = os.path.realpath(template)
            if real in skip:
                continue
            named = True
            members.setdefault(real, Path(template))
        if named:
            used.append(compose.name)
    if not members:
        return TemplateSet((), tuple(used))
    return TemplateSet(tuple(sorted(members.values())), tuple(used))


def subfolder_templates(folder: Path) -> int:
    """How many template-named files lie in subfolders of ``folder`` (a bounded look: two
    levels, 64 folders at most; hidden and dependency folders skipped). Feeds the hint that
    ``--also`` can add them when no compose file says which belong together."""
    count = 0
    start = str(folder) if str(folder) else "."
    todo: list[tuple[str, int]] = [(start, 0)]
    visited = 0
    while todo and visited < _HINT_MAX_DIRS:
        path, depth = todo.pop()
        visited += 1
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if (
                        depth < _HINT_DEPTH
                        and not e.name.startswith(".")
                        and (e.name not in _SKIP_DIRS)
                    ):
                        todo.append((e.path, depth + 1))
                elif depth > 0 and "env" in e.name and _is_template_name(e.name):
                    count += 1
            except OSError:
                continue
    return count


# --- the set of a pair -----------------------------------------------------------------------


def set_of(
    template: Path,
    patterns: Sequence[str],
    *,
    globs_beside_template: bool,
    discover: bool,
    exclude: Iterable[Path],
    hint: bool,
    note: Callable[[str], None],
    warn: Callable[[str], None],
) -> list[Path]:
    """The other templates of ``template``'s set.

    ``patterns`` (``--also`` or the configuration's ``also``) decide when given: globs relative
    to the template's folder when ``globs_beside_template`` (given on the command line; a glob
    that matches nothing there is tried from the current directory, as before 0.2), else as
    written (the configuration's are already relative to its own folder); a glob that matches
    nothing is a warning. Without patterns the set is found from the compose files beside the
    template (:func:`template_set`), unless ``discover`` is off; ``exclude``: files that are
    never members (the base). ``note`` gets the notice saying what was found, or, with
    ``hint``, that template-named files in subfolders are not part of the set.
    """
    from envsync_hook.pairing import expand_also

    if patterns:
        root = template.parent if globs_beside_template else None
        found: list[Path] = []
        for pat in patterns:
            matched = expand_also([pat], root)
            if not matched and root is not None and not os.path.isabs(pat):
                # a glob written relative to the current directory, as before 0.2
                matched = expand_also([pat])
            if not matched:
                warn(f"--also {pat!r} matches no file")
            found.extend(p for p in matched if p not in found)
        return found
    if not discover:
        return []
    tset = template_set(template, exclude)
    if tset is None:
        # (only worth the look when the notice will be shown)
        count = subfolder_templates(template.parent) if hint else 0
        if count:
            note(
                f"{template}: no compose file beside it names its template set; {count} "
                f"template(s) in subfolders are not part of it (add them with --also GLOB)"
            )
        return []
    if tset.templates:
        note(tset.notice(template))
    return list(tset.templates)


def member_pairs(set_paths: Sequence[Path], done: Collection[str]) -> Iterator[tuple[Path, Path]]:
    """``(template, env file)`` of each template of a set that is its own pair too: not yet a
    pair (its absolute path not in ``done``), with a template name and an existing env file."""
    from envsync_hook.pairing import env_for

    for template in set_paths:
        if os.path.abspath(template) in done:
            continue
        try:
            env = env_for(template)
        except EnvsyncError:
            continue
        if env.exists():
            yield template, env


# --- upgrade-hook runs ----------------------------------------------------------------------


class HookRefs(NamedTuple):
    """The commits an upgrade-hook run goes between; None where not known."""

    #: the commit before the checkout or merge (the base of a three-way merge)
    before: str | None
    #: the commit after (None: compare with the working tree, as after a squash merge)
    after: str | None
    #: post-checkout / post-merge / "" (not run by pre-commit as one of these)
    stage: str


def hook_refs(environ: Mapping[str, str]) -> HookRefs:
    """The commits before and after, from the variables pre-commit sets for the hook stage.

    post-checkout: ``PRE_COMMIT_FROM_REF``/``PRE_COMMIT_TO_REF`` with ``PRE_COMMIT_CHECKOUT_TYPE``
    1 (a branch checkout; 0 is a file checkout, where both are HEAD). post-merge:
    ``PRE_COMMIT_IS_SQUASH_MERGE`` is set, and the commit before is ``ORIG_HEAD``.
    """
    checkout = environ.get("PRE_COMMIT_CHECKOUT_TYPE")
    if checkout is not None:
        before = _commit_id(environ, "PRE_COMMIT_FROM_REF")
        after = _commit_id(environ, "PRE_COMMIT_TO_REF")
        if checkout != "1":
            # a file checkout does not move HEAD: the same commit on both sides, nothing to do
            return HookRefs(after, after, "post-checkout")
        if before == NULL_REF:
            before = None  # the checkout that ends a clone: there is no commit before
        return HookRefs(before, after, "post-checkout")
    squash = environ.get("PRE_COMMIT_IS_SQUASH_MERGE")
    if squash is not None:
        before = _rev_parse("ORIG_HEAD")
        return HookRefs(before, None if squash == "1" else "HEAD", "post-merge")
    return HookRefs(None, None, "")


_COMMIT_ID = lazy_pattern(r"[0-9a-fA-F]{4,64}")


def _commit_id(environ: Mapping[str, str], name: str) -> str | None:
    """The commit id in variable ``name``; anything else is refused, because the id goes on
    git's command line (``--output=FILE`` there would write FILE)."""
    value = environ.get(name) or None
    if value is not None and not _COMMIT_ID.fullmatch(value):
        raise EnvsyncError(f"--upgrade-hook: {name} is not a commit id")
    return value


def _git(*args: str) -> tuple[int, bytes]:
    import subprocess  # only upgrade-hook runs need it

    try:
        proc = subprocess.run(["git", *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise EnvsyncError("--upgrade-hook needs git, which is not installed") from None
    return proc.returncode, proc.stdout


def _rev_parse(name: str) -> str | None:
    rc, out = _git("rev-parse", "-q", "--verify", f"{name}^{{commit}}")
    return out.decode("ascii", "replace").strip() or None if rc == 0 else None


def _is_template_name(name: str) -> bool:
    from envsync_hook.pairing import env_for

    try:
        env_for(Path(name))
    except EnvsyncError:
        return False
    return True


def changed_files(refs: HookRefs) -> list[str] | None:
    """Paths (relative to the current directory) that differ between the two commits; None when
    that cannot be told (no commit before, or git failed)."""
    if refs.before is None:
        return None
    if refs.after is not None and refs.after == refs.before:
        return []
    args = ["diff", "--name-only", "-z", "--no-renames", "--relative", refs.before]
    if refs.after is not None:
        args.append(refs.after)
    rc, out = _git(*args)
    if rc != 0:
        return None
    return [os.fsdecode(n) for n in out.split(b"\0") if n]


def any_changed(changed: Sequence[str], paths: Iterable[Path]) -> bool:
    """Whether one of ``paths`` (the templates of the run's pairs) is among the files a
    checkout ``changed``."""
    ours = {os.path.normpath(str(p)) for p in paths}
    return any(os.path.normpath(c) in ours for c in changed)


def templates_changed(changed: Sequence[str]) -> bool:
    """Whether any changed path is template-named (by the pairing rules)."""
    return any(_is_template_name(c) for c in changed)


def tracked_templates() -> list[Path]:
    """Templates git tracks (under the current directory) whose env file exists.

    Sorted shallowest first, so a set's primary comes before its members.
    """
    from envsync_hook.pairing import env_for

    rc, out = _git("ls-files", "-z")
    if rc != 0:
        raise EnvsyncError("--upgrade-hook: git ls-files failed (not in a git repository?)")
    found: list[Path] = []
    for raw in out.split(b"\0"):
        if not raw:
            continue
        path = Path(os.fsdecode(raw))
        try:
            env = env_for(path)
        except EnvsyncError:
            continue
        if os.path.lexists(env):
            found.append(path)
    return sorted(found, key=lambda p: (len(p.parts), str(p)))
