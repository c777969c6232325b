"""Where a pair's three-way base comes from (DESIGN.md section 12).

First that applies: ``--base``/``--base-ref`` (or the configuration), the sync record, the
commit before an upgrade-hook run, the template's git history, none (two-way). ``--no-base``
forces none. :func:`choose_base` is the one function that picks; ``compare`` never knows where a
base came from.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path

from envsync_hook.compare import Side, canonical, index, like
from envsync_hook.document import BARE, parse
from envsync_hook.errors import EnvsyncError
from envsync_hook.files import atomic, reading
from envsync_hook.lean import TYPE_CHECKING, NamedTuple, lazy_pattern

if TYPE_CHECKING:
    from envsync_hook.runner import Job

#: the values of ``PairResult.base_source``
SOURCES = ("option", "record", "hook", "git-history", "none")


class BaseChoice(NamedTuple):
    """The base picked for one pair, and what the report says about it."""

    #: the base of the pair's template; None: two-way
    side: Side | None
    source: str  # one of SOURCES
    detail: str = ""  # human text: which file or commit, how many keys matched
    #: the base of each template of ``Job.also`` (same order), where one is known
    also: tuple[Side | None, ...] = ()
    notice: str = ""  # one line for stderr (a fallback, a new template), if any
    #: (key, default in comparison form) of the assignments in the template's committed
    #: versions (for ENV013: a published default stays published): a set when the git history
    #: was read to find the base, else a :class:`HistoryDefaults` that reads it only if asked
    history: Iterable[tuple[str, str]] = ()


def valid_rev(rev: str) -> str:
    """``rev``, refused (EnvsyncError) when git could read it as an option (``--output=pwn``)
    or it is no name (empty, control characters)."""
    if not rev or rev.startswith("-") or not rev.isprintable():
        raise EnvsyncError(
            f"invalid git revision {rev!r} (it must not be empty, start with '-' "
            "or hold control characters)"
        )
    return rev


def named_base(
    base: str | None, base_ref: str | None, no_base: bool
) -> tuple[object, object] | None:
    """The base the command line names, as ``(path, revision)``: ``(None, None)`` for
    ``--no-base``, ``--base``/``--base-ref`` as given; None when it names none (then the
    configuration decides, :func:`option_base`)."""
    if no_base:
        return (None, None)
    if base or base_ref:
        return (base, base_ref)
    return None


def option_base(
    named: tuple[object, object] | None,
    pair: Mapping[str, object],
    cfg: Mapping[str, object],
) -> tuple[object, object]:
    """A pair's ``(base, base_ref)`` from the options: the command line's (``named``), else the
    configured pair's own, else the configuration's top-level ones (either may be None)."""
    if named is not None:
        return named
    if pair.get("base") or pair.get("base_ref"):
        return pair.get("base"), pair.get("base_ref")
    return cfg.get("base"), cfg.get("base_ref")


def resolve_rev(directory: Path, rev: str, template: Path) -> str:
    """The commit ``rev`` names, as a full hash: ``git rev-parse --verify --end-of-options
    REV^{commit}`` (nothing in ``rev`` reaches git as an option); raises EnvsyncError naming
    ``template``."""
    valid_rev(rev)
    import subprocess  # only --base-ref needs it; importing it costs check/fix start-up time

    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--verify",
             "--end-of-options", f"{rev}^{{commit}}"],
            capture_output=True,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise EnvsyncError("--base-ref needs git, which is not installed") from None
    commit = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0 or not commit:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = reason[0] if reason else "no such commit"
        raise EnvsyncError(f"cannot read {template} at {rev}: {detail}")
    return commit


def _git(directory: Path, args: list[str], stdin: bytes | None = None) -> tuple[int, bytes, str]:
    """``git -C DIRECTORY ARGS``: exit status, output, first line of the error output."""
    import subprocess  # only git sources need it; importing it costs check/fix start-up time

    try:
        proc = subprocess.run(
            ["git", "-C", str(directory), *args], input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise EnvsyncError("git is not installed") from None
    reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return proc.returncode, proc.stdout, reason[0] if reason else f"git exited {proc.returncode}"


def _cat_file(directory: Path, names: list[str]) -> list[bytes | None]:
    """The objects ``names`` (``git cat-file --batch``, one process): None for a missing one."""
    status, out, reason = _git(
        directory, ["cat-file", "--batch"], "".join(n + "\n" for n in names).encode()
    )
    if status != 0:
        raise EnvsyncError(f"git cat-file failed in {directory}: {reason}")
    found: list[bytes | None] = []
    pos = 0
    for _ in names:
        nl = out.index(b"\n", pos)
        head = out[pos:nl].split()
        if len(head) != 3 or not head[2].isdigit():  # ``<name> missing`` / ``ambiguous``
            found.append(None)
            pos = nl + 1
            continue
        size = int(head[2])
        found.append(out[nl + 1 : nl + 1 + size])
        pos = nl + 1 + size + 1
    return found


def _decode(data: bytes, what: str) -> str:
    if b"\x00" in data:
        raise EnvsyncError(f"cannot read {what}: contains NUL bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EnvsyncError(f"cannot read {what}: invalid UTF-8 at byte {e.start}") from None


class AtRev(NamedTuple):
    """A template at a git revision: its text (None: it does not exist there) and the commit."""

    text: str | None
    commit_time: int


def template_at(template: Path, rev: str) -> AtRev:
    """The template as it was at git revision ``rev``, and the commit's time; one git process.

    An unknown revision (or no repository) is an EnvsyncError; a template that does not exist
    at ``rev`` is ``text`` None (a new template). Two git processes: ``rev-parse`` (the commit)
    and ``cat-file --batch`` (its time and the template)."""
    directory = template.parent if str(template.parent) else Path(".")
    full = resolve_rev(directory, rev, template)  # (a hash: nothing of ``rev`` reaches a path)
    try:
        commit, blob = _cat_file(directory, [full, f"{full}:./{template.name}"])
    except EnvsyncError as e:
        raise EnvsyncError(f"cannot read {template} at {rev}: {e}") from None
    if commit is None:
        raise EnvsyncError(f"cannot read {template} at {rev}: unknown revision {rev!r}")
    m = re.search(rb"^committer .* (\d+) [-+]\d{4}$", commit, re.M)
    when = int(m.group(1)) if m else 0
    if blob is None:
        return AtRev(None, when)
    return AtRev(_decode(blob, f"{template} at {rev}"), when)


def read_base_ref(template: Path, rev: str) -> str | None:
    """The template as it was at git revision ``rev`` (None: it did not exist there)."""
    return template_at(template, rev).text


def _new_template(template: Path, rev: str, source: str, detail: str) -> BaseChoice:
    """The base of a template that does not exist at ``rev``: empty, so every key is new."""
    side = index(f"{template}@{rev}", parse(""))
    notice = f"{template}: new since {rev} (not in that revision): every key is new"
    return BaseChoice(side, source, f"{detail} (the template is new: every key is new)", (), notice)


def _from_option(job: Job) -> BaseChoice | None:
    """``--base PATH`` / ``--base-ref REV`` (or the configuration's ``base``/``base_ref``)."""
    if job.base is not None:
        # (from a configuration file it must not lead out of the project folder)
        confine = os.path.abspath(job.base) not in job.explicit
        base_text = reading.read_text(job.base, "base template", confine=confine)
        side = index(str(job.base), parse(base_text))
        return BaseChoice(side, "option", f"--base {job.base}")
    if job.base_ref is not None:
        detail = f"--base-ref {job.base_ref}"
        text = read_base_ref(job.template, job.base_ref)
        if text is None:
            return _new_template(job.template, job.base_ref, "option", detail)
        side = index(f"{job.template}@{job.base_ref}", parse(text))
        also = tuple(_also_at(p, job.base_ref) for p in job.also)
        return BaseChoice(side, "option", detail, also)
    return None


def _also_at(template: Path, rev: str) -> Side | None:
    """The base of a further template of the set at ``rev`` (None where it cannot be read)."""
    try:
        text = read_base_ref(template, rev)
    except EnvsyncError:
        return None
    return None if text is None else index(f"{template}@{rev}", parse(text))


# --- the sync record -------------------------------------------------------------------------
#
# ``<backup dir>/<env name>.sync/``: a copy of each template of the set the last fix synced
# against, named by a hash of its text, and ``manifest``, which names them. The manifest is
# replaced last and atomically, so a record is always one whole set (old or new).

RECORD_SUFFIX = ".sync"
_MANIFEST = "manifest"
_HEADER = "envsync sync record 1"
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def record_dir(env: Path, backup_dir: Path) -> Path:
    """Where the sync record of ``env`` lives."""
    return backup_dir / f"{env.name}{RECORD_SUFFIX}"


#: a byte of a path that is not UTF-8 (``os.fsdecode`` gives it as a lone surrogate)
_RAW_BYTE = lazy_pattern("[\udc80-\udcff]")


def _escape(s: str) -> str:
    """``s`` on one manifest line of UTF-8 text: backslash, line feed and carriage return
    escaped, and each byte of a path that is not UTF-8 (a folder named ``dep\\xffloy``) as
    ``\\xff`` (the manifest could not be written with it as it is)."""
    s = s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if not s.isprintable():  # (the usual path has no surrogate: no regex pass)
        s = _RAW_BYTE.sub(lambda m: f"\\x{ord(m.group(0)) - 0xDC00:02x}", s)
    return s


_UNESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}


def _unescape(s: str) -> str:
    """The text :func:`_escape` wrote ``s`` from (a ``\\xNN`` back to its surrogate)."""
    return re.sub(
        r"\\(?:[\\nr]|x[89a-f][0-9a-f])",
        lambda m: _UNESCAPES.get(m.group(0)) or chr(0xDC00 + int(m.group(0)[2:], 16)),
        s,
    )


def _rel(path: Path, env: Path) -> str:
    """``path`` relative to the env file's folder: how the record names a template."""
    return os.path.relpath(os.path.abspath(path), os.path.abspath(env.parent or Path(".")))


class Record(NamedTuple):
    """A sync record as read: when it was written, and template (relative name) -> copy."""

    directory: Path
    time: float
    copies: dict[str, str]


def read_record(env: Path, backup_dir: Path) -> Record | None:
    """The sync record of ``env`` (None when there is none, or it belongs to another file).

    A record directory that is a symlink, or a manifest that does not read as one, is no
    record: the caller falls back to the next source of a base."""
    directory = record_dir(env, backup_dir)
    try:
        st = os.lstat(directory)
    except OSError:
        return None  # (the usual case: one stat, no further cost)
    if not stat.S_ISDIR(st.st_mode):
        return None
    text = _read_record_file(directory / _MANIFEST) if _private(st) else None
    if text is None:
        return None
    lines = text.split("\n")
    if not lines or lines[0] != _HEADER:
        return None
    when = 0.0
    copies: dict[str, str] = {}
    for line in lines[1:]:
        field, _, rest = line.partition(" ")
        if field == "env" and _unescape(rest) != os.path.abspath(env):
            return None  # a shared backup directory: the record of another env file
        if field == "time":
            try:
                when = float(rest)
            except ValueError:
                return None
        elif field == "template":
            name, _, rel = rest.partition(" ")
            if re.fullmatch(r"[0-9a-f]{32}\.template", name):
                copies[_unescape(rel)] = name
    return Record(directory, when, copies)


def _private(st: os.stat_result) -> bool:
    """Whether ``st`` is what write_record makes: no access for group or others (a record
    planted by a checkout or a copy, 0644 or a symlink to elsewhere, is no record)."""
    return not stat.S_ISLNK(st.st_mode) and not st.st_mode & 0o077


def _read_record_file(path: Path) -> str | None:
    """A file of the record, if it is a private regular file (never through a symlink)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or not _private(st):
        return None
    try:
        return reading.read_text(path, "sync record")
    except EnvsyncError:
        return None


def _record_side(record: Record, template: Path, env: Path, current: Side | None) -> Side | None:
    """The recorded copy of ``template`` (``current`` itself when the copy has its text)."""
    name = record.copies.get(_rel(template, env))
    if name is None:
        return None
    text = _read_record_file(record.directory / name)
    if text is None:
        return None
    if current is not None and text == current.doc.text:
        return current  # the same text: no second parse (what a check after a fix meets)
    shared = () if current is None else like(current)  # (its strings, shared)
    return index(f"{template} (sync record)", parse(text, shared))


def forget_record(env: Path, backup_dir: Path) -> None:
    """Drop the sync record of ``env`` (its manifest: without it there is no record), as after
    a restore, which brings back a file that was not synced with the recorded templates."""
    with suppress(FileNotFoundError, NotADirectoryError):
        os.unlink(record_dir(env, backup_dir) / _MANIFEST)  # (a symlink itself, never its target)


_TEMP = lazy_pattern(r"\..+\.[0-9a-f]{12}\.envsync-tmp")


def _remove_killed_temps(directory: Path) -> None:
    """Remove the temporary files of a record write that was killed (fix holds the env lock
    while it records, so no other writer is using them)."""
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode):
            return
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if _TEMP.fullmatch(name):
            with suppress(OSError):
                os.unlink(directory / name)


def _sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex. A small text is hashed by CPython's own built-in module:
    ``hashlib`` loads OpenSSL first, 4 ms of a fix that records; past ``_SMALL`` bytes OpenSSL's
    speed (6x the built-in's here) pays for that."""
    if len(data) < _SMALL:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]  # <= 3.11
        except ImportError:
            try:
                from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
            except ImportError:
                from hashlib import sha256
    else:
        from hashlib import sha256
    return str(sha256(data).hexdigest())


#: the size under which the built-in SHA-256 beats loading OpenSSL's (0.7 MB here)
_SMALL = 256 * 1024


def _text_sha256(text: str) -> str:
    """:func:`_sha256` of the UTF-8 form of ``text`` (a lone surrogate escaped), a large text
    encoded a megabyte at a time: its whole encoding is not held (100,000 keys: 10 MB)."""
    if len(text) < _SMALL:
        return _sha256(text.encode("utf-8", "surrogateescape"))
    from hashlib import sha256

    digest = sha256()
    for part in atomic.encoded_parts(text, "surrogateescape"):
        digest.update(part)
    return str(digest.hexdigest())


def write_record(env: Path, backup_dir: Path, templates: list[tuple[Path, str]]) -> bool:
    """Record ``templates`` (path, text) as the set ``env`` is now in sync with.

    Called after the env file is replaced (or found in sync). The directory is ``0700``, the
    files ``0600``; each copy is written atomically under a name that is a hash of its text,
    then the manifest, which names them, replaces the old one atomically. A record that already
    names these texts is left as it is (False: nothing written)."""
    import time

    wanted: dict[str, tuple[str, str]] = {}
    for path, text in templates:
        digest = _text_sha256(text)[:32]
        wanted[_rel(path, env)] = (f"{digest}.template", text)
    directory = record_dir(env, backup_dir)
    _remove_killed_temps(directory)
    old = read_record(env, backup_dir)
    if old is not None and old.copies == {rel: name for rel, (name, _) in wanted.items()}:
        return False
    # (the backup directory may be a symlink that fix accepted; the record directory may not)
    for d, stat_of in ((backup_dir, os.stat), (directory, os.lstat)):
        try:
            os.mkdir(d, _DIR_MODE)
            os.chmod(d, _DIR_MODE)  # exactly 0700 whatever the umask
        except FileExistsError:
            if not stat.S_ISDIR(stat_of(d).st_mode):
                raise EnvsyncError(
                    f"cannot write the sync record in {d}: not a directory"
                ) from None
        except OSError as e:
            raise EnvsyncError(f"cannot write the sync record in {d}: {e.strerror or e}") from None
    for name, text in wanted.values():
        if not os.path.isfile(directory / name):
            atomic.atomic_write(directory / name, text, mode=_FILE_MODE)
    lines = [_HEADER, f"env {_escape(os.path.abspath(env))}", f"time {time.time():.6f}"]
    lines += [f"template {name} {_escape(rel)}" for rel, (name, _) in wanted.items()]
    manifest = directory / _MANIFEST
    atomic.atomic_write(manifest, "\n".join(lines) + "\n", mode=_FILE_MODE)
    keep = {name for name, _ in wanted.values()} | {_MANIFEST}
    for entry in os.listdir(directory):
        if entry.endswith(".template") and entry not in keep:
            with suppress(OSError):
                os.unlink(directory / entry)  # a copy no record names any longer
    return True


def _from_record(job: Job, template: Side, record: Record) -> BaseChoice | None:
    side = _record_side(record, job.template, job.env, template)
    if side is None:
        return None
    also = tuple(_record_side(record, p, job.env, None) for p in job.also)
    import time

    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.time))
    n = len(record.copies)
    detail = f"{record.directory} (last fix, {when}; {n} template{'s' if n != 1 else ''})"
    return BaseChoice(side, "record", detail, also)


# --- the commit before an upgrade-hook run ---------------------------------------------------


def _from_hook(job: Job, record: Record | None) -> BaseChoice | None:
    """The template at ``Job.hook_ref``, unless the sync record is newer than that commit."""
    if job.hook_ref is None:
        return None
    at = template_at(job.template, job.hook_ref)
    if record is not None and record.time > at.commit_time:
        return None  # the record is newer (the last fix ran after that commit)
    detail = f"{job.template} at {job.hook_ref[:12]}"
    if at.text is None:
        return _new_template(job.template, job.hook_ref, "hook", detail)
    side = index(f"{job.template}@{job.hook_ref}", parse(at.text))
    also = tuple(_also_at(p, job.hook_ref) for p in job.also)
    return BaseChoice(side, "hook", detail, also)


# --- git history -----------------------------------------------------------------------------

#: committed versions looked at, newest first (bounds the time a long history can take)
MAX_VERSIONS = 2000


def _in_git_work_tree(path: Path) -> bool:
    """Whether ``path`` lies in a git work tree: a ``.git`` in it or a parent (a few stats and
    no process, so the no-git path stays as fast as before)."""
    if os.environ.get("GIT_DIR"):
        return True
    d = os.path.abspath(path)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return True
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent


class Version(NamedTuple):
    """One committed version of the template."""

    commit: str
    label: str  # ``tag 1.10.0`` or the commit's subject
    blob: str


def _history(template: Path) -> list[Version]:
    """The template's committed versions from ``HEAD`` (following renames), newest first, one
    per distinct text (its newest commit). One git process."""
    directory = template.parent if str(template.parent) else Path(".")
    fmt = "--format=%x01%H%x02%D%x02%s"
    args = ["log", "--follow", "--no-abbrev", "--raw", fmt, f"--max-count={MAX_VERSIONS}"]
    status, out, _ = _git(directory, [*args, "--end-of-options", "HEAD", "--", template.name])
    if status != 0:
        return []  # no commit yet, not a repository after all, ...
    versions: list[Version] = []
    seen: set[str] = set()
    for chunk in out.decode("utf-8", "replace").split("\x01")[1:]:
        head, _, raw = chunk.partition("\n")
        commit, refs, subject = (head.split("\x02") + ["", ""])[:3]
        tags = [r[5:] for r in refs.split(", ") if r.startswith("tag: ")]
        for blob, _path in _new_blobs(raw, seen):
            label = f"tag {tags[0]}" if tags else subject
            versions.append(Version(commit, label, blob))
    return versions


def _new_blobs(raw: str, seen: set[str]) -> Iterator[tuple[str, str]]:
    """(blob, path) of each version in a commit's ``git log --raw`` lines not in ``seen``
    (added to it); a deletion (all-zero blob) is none. The path is the new one of a rename
    (``old<TAB>new``)."""
    for line in raw.splitlines():
        meta, _, names = line.partition("\t")
        fields = meta.split()
        if not line.startswith(":") or len(fields) < 5:
            continue
        blob = fields[3]
        if blob.strip("0") and blob not in seen:
            seen.add(blob)
            yield blob, names.split("\t")[-1]


#: a line's part in a version: (key, default) of an assignment (default None: a bare ``KEY``),
#: (key,) of a commented-out assignment, () of any other line; ``_COMPLEX`` for a line that
#: does not stand alone (it opens a quoted value that goes on over the next lines)
_COMPLEX: tuple[object, ...] = ("",)


def _line_info(line: str) -> tuple[object, ...]:
    """What one line contributes, parsed on its own."""
    doc = parse(line)
    if doc.errors or len(doc.keys) > 1:
        return _COMPLEX
    if doc.keys:
        kind = doc.kinds[0]
        return (doc.keys[0], None if kind == BARE else canonical(doc.templates[0]))
    commented = doc.commented
    if commented:
        return (commented[0].key,)
    return ()


class _Env(NamedTuple):
    """What scoring needs of the env file."""

    values: dict[str, str]  # assigned key -> canonical value (the binding compose uses)
    present: set[str]  # every key the env file assigns or names
    commented: set[str]  # keys of its commented-out assignments


def _env_facts(env: Side) -> _Env:
    kinds, templates = env.doc.kinds, env.doc.templates
    values = {k: canonical(templates[i]) for k, i in env.last.items() if kinds[i] != BARE}
    return _Env(values, set(env.last), {c.key for c in env.doc.commented})


def _evidence(env: _Env, info: tuple[object, ...]) -> tuple[int, int]:
    """(score, matched) of one line of a version: how well it explains the env file.

    For: an env value that reads as the line's default (matched); a key the line assigns, or
    offers commented out, that the env file has; an opt-in commented out in both. Against: a
    key the line assigns that the env file lacks. Keys that every version has weigh alike for
    all, so the keys and defaults that only some versions have decide."""
    if len(info) == 2:
        key, value = info
        matched = 1 if value is not None and env.values.get(key) == value else 0  # type: ignore[call-overload]
        return matched + (1 if key in env.present else -1), matched
    if info and info is not _COMPLEX:
        key = info[0]
        return (key in env.present) + (key in env.commented), 0
    return 0, 0


class _Scorer:
    """Scores versions of a template against one env file, line by line.

    Versions share most of their lines: each distinct line is parsed and weighed once, and a
    version's score is a sum over its lines (C-level ``map``/``sum`` instead of a parse per
    version: 240 Dify versions in tens of milliseconds rather than seconds)."""

    def __init__(self, env: Side) -> None:
        self.env = _env_facts(env)
        self.info: dict[str, tuple[object, ...]] = {}
        self.score_of: dict[str, int] = {}
        self.complex: set[str] = set()

    def score(self, text: str) -> int:
        """How well the version ``text`` explains the env file (the sum of :func:`_evidence`)."""
        lines = text.split("\n")
        for line in set(lines).difference(self.score_of):
            info = self.info[line] = _line_info(line)
            if info is _COMPLEX:
                self.complex.add(line)
            self.score_of[line] = _evidence(self.env, info)[0]
        if self.complex and not self.complex.isdisjoint(lines):
            return self._parsed(text)[0]
        return sum(map(self.score_of.__getitem__, lines))

    def matched(self, text: str) -> int:
        """How many env values read as the defaults of the version ``text``."""
        lines = text.split("\n")
        if self.complex and not self.complex.isdisjoint(lines):
            return self._parsed(text)[1]
        return sum(_evidence(self.env, self.info[line])[1] for line in lines)

    def _parsed(self, text: str) -> tuple[int, int]:
        """Score and matched over a whole parse (a version with a value over several lines)."""
        doc = parse(text)
        score = matched = 0
        for key, kind, template in zip(doc.keys, doc.kinds, doc.templates):
            s, m = _evidence(self.env, (key, None if kind == BARE else canonical(template)))
            score, matched = score + s, matched + m
        for c in doc.commented:
            score += _evidence(self.env, (c.key,))[0]
        return score, matched


def _from_history(job: Job, template: Side, env: Side) -> BaseChoice | None:
    """The committed version of the template whose defaults the env file matches best, when it
    explains the env file better than the current template; else a none with the reason."""
    if not _in_git_work_tree(job.template.parent):
        return None
    versions = _history(job.template)
    if not versions:
        return None  # untracked, or no commit yet
    directory = job.template.parent if str(job.template.parent) else Path(".")
    blobs = _cat_file(directory, [v.blob for v in versions])
    scorer = _Scorer(env)
    current = scorer.score(template.doc.text)
    best: tuple[int, int, str] | None = None  # score, index, text
    for i, data in enumerate(blobs):
        if data is None:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        score = scorer.score(text)
        if best is None or score > best[0]:  # (strictly: a tie goes to the newer version)
            best = (score, i, text)
    total = len(scorer.env.values)
    current_matched = scorer.matched(template.doc.text)
    # (every distinct line of every version is parsed once already: its defaults cost a pass
    # over those lines, no further git process)
    history = frozenset(
        (str(info[0]), str(info[1])) for info in scorer.info.values() if len(info) == 2 and info[1]
    )
    # used only when it explains the env file better than the current template does, and more
    # of its values (fewer keys alone, say, explains no value)
    if (
        best is None
        or best[0] <= current
        or scorer.matched(best[2]) <= current_matched
        or best[2] == template.doc.text
    ):
        return BaseChoice(
            None,
            "none",
            f"git history: no committed version of {job.template} matches the env file better "
            f"than the current template ({current_matched} of {total} values are its defaults)",
            history=history,
        )
    _, i, text = best
    version, matched = versions[i], scorer.matched(text)
    side = index(f"{job.template}@{version.commit[:12]}", parse(text, like(template)))
    detail = (
        f"{job.template} at {version.commit[:12]} ({version.label}): {matched} of {total} "
        f"values are its defaults (the current template's: {current_matched})"
    )
    return BaseChoice(side, "git-history", detail, history=history)


# --- the defaults the history published, read only when ENV013 asks ----------------------------


#: up to this many keys, the history is searched for their names; past it, for every line
_FEW_KEYS = 8


class HistoryDefaults:
    """(key, default) pairs of the assignments (and commented-out offers) that the template's
    committed versions published, read lazily: ENV013 asks (:meth:`select`) only for the
    secret-looking keys whose value no current template, base or record publishes, so a check
    with none of those starts no git process. Then two processes, whatever the history's length:
    ``git log --raw`` (one commit per distinct version) and one ``git grep`` over those commits
    for the lines naming the keys (Dify's 244 versions: about 0.05 s; a ``git log -p`` spends
    twice that on diffs, and scanning every version's text in Python, four times)."""

    def __init__(self, template: Path) -> None:
        self.template = template
        self.directory = template.parent if str(template.parent) else Path(".")
        self._versions: tuple[list[str], set[str]] | None = None

    def _commits(self) -> tuple[list[str], set[str]]:
        """One commit per distinct committed version of the template (newest first, following
        renames) and the paths (from the repository's top) it had; read once."""
        if self._versions is None:
            fmt = "--format=%x01%H"
            args = ["log", "--follow", "--no-abbrev", "--raw", fmt, f"--max-count={MAX_VERSIONS}"]
            try:
                status, out, _ = _git(
                    self.directory, [*args, "--end-of-options", "HEAD", "--", self.template.name]
                )
            except EnvsyncError:
                status, out = 1, b""  # (no git: no history, as with no repository)
            commits: list[str] = []
            paths: set[str] = set()
            seen: set[str] = set()
            for chunk in (
                out.decode("utf-8", "surrogateescape").split("\x01")[1:] if not status else ()
            ):
                commit, _, raw = chunk.partition("\n")
                for _blob, path in _new_blobs(raw, seen):
                    commits.append(commit.strip())
                    paths.add(path)
            self._versions = commits, paths
        return self._versions

    def select(self, keys: Collection[str] | None) -> Iterator[tuple[str, str]]:
        """The published (key, non-empty default in comparison form) pairs of ``keys`` (None:
        of every key)."""
        if keys is not None and not keys:
            return
        commits, paths = self._commits()
        if not commits:
            return
        # (git grep matches fixed patterns one by one: a pattern a key is cheapest for a few
        # keys, and quadratic for many (200 keys x 200 versions: 30 s); past a few, every
        # assignment line is read and the keys picked here, linear in the history)
        patterns = "=\n:\n"
        if keys is not None and len(keys) <= _FEW_KEYS:
            patterns = "".join(k + "\n" for k in keys if "\n" not in k)
        args = ["-c", "grep.lineNumber=false", "-c", "grep.column=false", "grep", "-h",
                "--no-color", "--no-textconv", "-I", "-F", "-f", "-", *commits, "--",
                *(f":(top,literal){p}" for p in sorted(paths))]  # fmt: skip
        try:
            status, out, _ = _git(self.directory, args, patterns.encode("utf-8", "surrogateescape"))
        except EnvsyncError:
            return
        if status != 0:  # (1: no line names a key)
            return
        for line in set(out.decode("utf-8", "replace").split("\n")):  # (``-h``: lines only)
            doc = parse(line)
            if doc.errors:
                continue  # (a line of a value over several lines: no default on its own)
            for key, kind, template in zip(doc.keys, doc.kinds, doc.templates):
                if (keys is None or key in keys) and kind != BARE and template:
                    yield key, canonical(template)
            for c in doc.commented:
                if (keys is None or c.key in keys) and c.template:
                    yield c.key, canonical(c.template)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Every published pair (slower than :meth:`select`, which ENV013 uses)."""
        return self.select(None)


def _with_history(choice: BaseChoice, job: Job) -> BaseChoice:
    """``choice`` with the template's git history as a lazy source of published defaults
    (ENV013), whatever the base's source, when the template lies in a git work tree."""
    if choice.history or not _in_git_work_tree(job.template.parent):
        return choice
    return choice._replace(history=HistoryDefaults(job.template))


# --- the one function that picks -------------------------------------------------------------


def choose_base(
    job: Job, template: Side, env: Side | None = None, backup_dir: Path | None = None
) -> BaseChoice:
    """The base of ``job``'s template, from the first source that applies: ``--base`` /
    ``--base-ref`` (or the configuration) > the sync record (in ``backup_dir``) > the commit
    before an upgrade-hook run, unless the record is newer > the committed version ``env``
    matches best > none. ``--no-base``: none (and no history). Every other choice carries the
    template's git history, for ENV013."""
    if job.no_base:
        return BaseChoice(None, "none", "--no-base")
    return _with_history(_choose(job, template, env, backup_dir), job)


def _choose(job: Job, template: Side, env: Side | None, backup_dir: Path | None) -> BaseChoice:
    """The first base source that applies (see :func:`choose_base`)."""
    chosen = _from_option(job)
    if chosen is not None:
        return chosen
    record = None
    if backup_dir is not None and job.env_text is None:
        record = read_record(job.env, backup_dir)
    chosen = _from_hook(job, record)
    if chosen is not None:
        return chosen
    if record is not None:
        chosen = _from_record(job, template, record)
        if chosen is not None:
            return chosen
    if env is not None:
        chosen = _from_history(job, template, env)
        if chosen is not None:
            return chosen
    return BaseChoice(None, "none")
