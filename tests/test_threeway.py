"""Issue 4 acceptance: three-way merge with the previous template, template sets, rename hints.

(a) Dify 1.4.0 -> 1.14.0 with ``--base``: ENV004 exactly for the untouched keys whose default
changed upstream, ENV005 for the customised one, and after ``fix --base`` Docker Compose reads the
new defaults for the stale keys and the operator's values for the rest. (b) The same through a
real git repository with ``--base-ref HEAD``. (c) Dify 1.14.0 -> 1.14.1 with ``--also``: about 500
relocated keys, ENV002 only for keys in no template of the set, and zero values lost. (d) ENV010,
ENV009, keys removed upstream, ``--keep-stale``, ``--take-template``. (e) A property: with a base,
fix never changes a value the operator customised unless told to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import pytest
from cli_run import run
from compose_oracle import ComposeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsync_hook import compose_values, parse
from envsync_hook.compare import compare, index
from envsync_hook.merge import merge
from envsync_hook.secrets import is_secret_key
from envsync_hook.settings import Settings

ComposeRead = Callable[..., list[Any]]
_COMMENTED = re.compile(r"^[ \t]*#[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=", re.M)


def findings_of(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    return [f for pair in report["pairs"] for f in pair["findings"]]


def keys_by_code(findings: list[dict[str, Any]], code: str) -> set[str]:
    return {f["key"] for f in findings if f["code"] == code}


def read(
    compose: ComposeRead, texts: list[str], environ: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    results = compose(texts, dict(environ or {}))
    for r in results:
        assert not isinstance(r, ComposeError), r
    return results


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_bytes(text.encode("utf-8"))
    os.chmod(path, mode)
    return path


def customise(template: str, lines: Mapping[str, str]) -> str:
    """The template with each key's (single-line) assignment replaced by the operator's line."""
    out = template
    for key, line in lines.items():
        pattern = re.compile(rf"^{re.escape(key)}=.*$", re.M)
        assert len(pattern.findall(out)) == 1, f"{key} not assigned exactly once"
        out = pattern.sub(lambda _m, line=line: line, out, count=1)  # type: ignore[misc]
    return out


def defaults_before_interpolation(text: str) -> dict[str, str]:
    """Key -> the default as written, quotes resolved, ``${...}`` NOT expanded.

    Why not compose's reading: compose interpolates, so ``POSTGRES_PASSWORD=${DB_PASSWORD}``
    would look "changed" whenever ``DB_PASSWORD``'s default changed, although a ``.env`` holding
    the reference follows ``DB_PASSWORD`` by itself (and the operator's own ``DB_PASSWORD``, not
    the template's, is what it resolves to). DESIGN.md section 3: ``${A}`` stays a reference,
    values are compared before interpolation. So the templates are read with
    ``envsync_hook.parse`` (quotes and escapes resolved, references kept; the parser is checked
    against compose-go by the vectors), and for keys without ``$`` the answer is cross-checked
    against Docker Compose itself in the test.
    """
    out: dict[str, str] = {}
    for b in parse(text).bindings:
        if not b.inherited:
            out[b.key] = b.template
    return out


# --------------------------------------------------------------------------------------------
# (a) and (b): Dify 1.4.0 -> 1.14.0

OLD, NEW = "1.4.0", "1.14.0"
# eleven customisations of keys whose default 1.14.0 did not change...
UNCHANGED_CUSTOM = {
    "SECRET_KEY": 'SECRET_KEY="sk-planted-77 #not a comment"',
    "LOG_LEVEL": "LOG_LEVEL=WARNING",
    "CONSOLE_API_URL": "CONSOLE_API_URL='https://console.example.com'",
    "NGINX_SERVER_NAME": "NGINX_SERVER_NAME=dify.example.com",
    "DB_PASSWORD": "DB_PASSWORD='pa$$word'",
    "REDIS_PASSWORD": 'REDIS_PASSWORD="a\\$b"',
    "SMTP_SERVER": "export SMTP_SERVER=smtp.example.com",
    "WEAVIATE_API_KEY": 'WEAVIATE_API_KEY="-----BEGIN KEY-----\nMIIB\n-----END KEY-----"',
    "SQLALCHEMY_POOL_SIZE": "SQLALCHEMY_POOL_SIZE=42",
    "VECTOR_STORE": "VECTOR_STORE=qdrant",
    "STORAGE_TYPE": "STORAGE_TYPE =s3",
}
# ...and one of a key whose default changed upstream (a conflict)
CONFLICT_KEY = "DB_HOST"
CONFLICT_LINE = "DB_HOST=pg.internal"
OPERATOR_ONLY = "\n# mine\nMY_OPERATOR_ONLY=keep-me\n"


class Upgrade:
    """The 1.4.0 -> 1.14.0 scenario and what its outcome must be, computed independently."""

    def __init__(self, corpus: Path) -> None:
        self.old = (corpus / "dify" / OLD / "docker" / ".env.example").read_text(encoding="utf-8")
        self.new = (corpus / "dify" / NEW / "docker" / ".env.example").read_text(encoding="utf-8")
        old_d = defaults_before_interpolation(self.old)
        new_d = defaults_before_interpolation(self.new)
        self.old_defaults, self.new_defaults = old_d, new_d
        self.changed = {k for k in old_d if k in new_d and old_d[k] != new_d[k]}
        self.removed = sorted(k for k in old_d if k not in new_d)
        # one key removed upstream is customised too: kept; the others are dropped
        self.removed_custom = self.removed[0]
        self.custom = {
            **UNCHANGED_CUSTOM,
            CONFLICT_KEY: CONFLICT_LINE,
            self.removed_custom: f"{self.removed_custom}=customised-removed",
        }
        self.env = customise(self.old, self.custom) + OPERATOR_ONLY

    def ideal(self) -> str:
        """The new template with the operator's lines for the keys it still has."""
        kept = {k: v for k, v in self.custom.items() if k in self.new_defaults}
        return customise(self.new, kept)


@pytest.fixture(scope="module")
def upgrade(corpus: Path) -> Upgrade:
    return Upgrade(corpus)


def test_scenario_preconditions(upgrade: Upgrade, compose: ComposeRead) -> None:
    """The scenario is what it claims, and the parse-based comparison agrees with compose."""
    assert CONFLICT_KEY in upgrade.changed
    assert not set(UNCHANGED_CUSTOM) & upgrade.changed
    assert len(upgrade.changed) >= 5 and upgrade.removed
    old_c, new_c = read(compose, [upgrade.old, upgrade.new])
    for key in set(old_c) & set(new_c):
        if "$" in upgrade.old_defaults[key] + upgrade.new_defaults[key]:
            continue
        assert (old_c[key] != new_c[key]) == (key in upgrade.changed), key


def _base_dir(tmp_path: Path, upgrade: Upgrade) -> Path:
    d = tmp_path / "plain"
    d.mkdir()
    write(d / ".env.example", upgrade.new, 0o644)
    write(d / "base.env.example", upgrade.old, 0o644)
    write(d / ".env", upgrade.env)
    return d


def test_check_base_verdicts(tmp_path: Path, upgrade: Upgrade) -> None:
    d = _base_dir(tmp_path, upgrade)
    found = findings_of(run(d, "check", "--base", "base.env.example", "--format", "json"))
    customised = set(upgrade.custom)
    assert keys_by_code(found, "ENV004") == upgrade.changed - customised
    assert keys_by_code(found, "ENV005") == {CONFLICT_KEY}
    # ENV003 only for deliberate customisations (default unchanged upstream)
    assert keys_by_code(found, "ENV003") == set(UNCHANGED_CUSTOM)
    assert keys_by_code(found, "ENV002") == set(upgrade.removed) | {"MY_OPERATOR_ONLY"}
    for f in found:
        assert "planted" not in f["message"] and "pa$$word" not in f["message"]


def test_fix_base_takes_new_defaults_for_stale_keys(
    tmp_path: Path, upgrade: Upgrade, compose: ComposeRead
) -> None:
    d = _base_dir(tmp_path, upgrade)
    proc = run(d, "fix", "--base", "base.env.example")
    assert proc.returncode == 1, proc.stderr
    result = (d / ".env").read_text(encoding="utf-8")
    got, want, operator = read(compose, [result, upgrade.ideal(), upgrade.env])
    stale = upgrade.changed - set(upgrade.custom)
    # a stale secret (a password in use) is kept: it cannot change without its service
    stale_secrets = {k for k in stale if is_secret_key(k)}
    assert stale_secrets and stale - stale_secrets
    want.update({k: operator[k] for k in stale_secrets})
    # every key of the new template: the new default where stale, the operator's value elsewhere
    assert {k: got.get(k) for k in want} == want
    assert all(
        got[k] != operator[k] or "$" in upgrade.old_defaults[k] for k in stale - stale_secrets
    )
    # the summary names the kept secrets for review, and prints none of their values
    for key in stale_secrets:
        assert key in proc.stdout
        assert operator[key] not in proc.stdout + proc.stderr
    # kept: the customised removed key and the operator-only key; dropped: removed at default
    assert got[upgrade.removed_custom] == "customised-removed"
    assert got["MY_OPERATOR_ONLY"] == "keep-me"
    # removed upstream at its old default: dropped, but a secret (a compose file may read it)
    removed_secrets = {k for k in upgrade.removed if is_secret_key(k)} - {upgrade.removed_custom}
    assert all(got[k] == operator[k] for k in removed_secrets)
    assert set(got) == set(want) | {upgrade.removed_custom, "MY_OPERATOR_ONLY"} | removed_secrets
    # and it is done: a second run with the same base changes nothing
    before = (d / ".env").read_bytes()
    again = run(d, "fix", "--base", "base.env.example")
    assert again.returncode == 0, again.stderr
    assert (d / ".env").read_bytes() == before


def git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


@needs_git
@pytest.mark.parametrize("layout", ["root", "docker-subdir"])
def test_base_ref_head_gives_the_same_findings(
    tmp_path: Path, upgrade: Upgrade, layout: str
) -> None:
    plain = _base_dir(tmp_path, upgrade)
    expected = findings_of(run(plain, "check", "--base", "base.env.example", "--format", "json"))

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    work = repo if layout == "root" else repo / "docker"
    work.mkdir(exist_ok=True)
    write(work / ".env.example", upgrade.old, 0o644)
    write(repo / ".gitignore", ".env\n", 0o644)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "old template")
    write(work / ".env.example", upgrade.new, 0o644)  # the upgrade, not committed yet
    write(work / ".env", upgrade.env)

    if layout == "root":
        proc = run(repo, "check", "--base-ref", "HEAD", "--format", "json")
    else:  # from the repository root, naming the template in its folder
        proc = run(repo, "check", "docker/.env.example", "--base-ref", "HEAD", "--format", "json")
    got = findings_of(proc)

    def comparable(fs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((f["code"], f["key"], f["severity"], f["line"], f["analysis"]) for f in fs)

    assert comparable(got) == comparable(expected)
    assert keys_by_code(got, "ENV004") == upgrade.changed - set(upgrade.custom)

    # and fix through git: the same file as with --base
    fixed_plain = run(plain, "fix", "--base", "base.env.example")
    assert fixed_plain.returncode == 1, fixed_plain.stderr
    args = ["fix", "--base-ref", "HEAD"] + ([] if layout == "root" else ["docker/.env.example"])
    fixed = run(repo, *args)
    assert fixed.returncode == 1, fixed.stderr
    assert (work / ".env").read_bytes() == (plain / ".env").read_bytes()


@needs_git
# (a template absent at the revision is no error but a new template: tests/test_base.py)
@pytest.mark.parametrize("case", ["unknown revision", "not a repository"])
def test_base_ref_errors(tmp_path: Path, case: str) -> None:
    work = tmp_path / "w"
    work.mkdir()
    if case != "not a repository":
        git(work, "init", "-q")
        write(work / "README", "x\n", 0o644)
        git(work, "add", "README")
        git(work, "commit", "-q", "-m", "readme")
    write(work / ".env.example", "A=1\n", 0o644)
    write(work / ".env", "A=1\nB=planted-ref-44\n")
    rev = "no-such-branch" if case == "unknown revision" else "HEAD"
    before = sorted(p.name for p in work.iterdir())
    for command in ("check", "fix"):
        proc = run(work, command, "--base-ref", rev)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert ".env.example" in lines[0] and rev in lines[0]
        assert "planted-ref-44" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in work.iterdir()) == before
    assert (work / ".env").read_text() == "A=1\nB=planted-ref-44\n"


# --------------------------------------------------------------------------------------------
# (c) Dify 1.14.0 -> 1.14.1: the template split into envs/**/*.env.example

ALSO = "envs/**/*.env.example"
SPLIT_CUSTOM = {
    # keys that stay in docker/.env.example
    "SECRET_KEY": 'SECRET_KEY="sk-planted-88 #x"',
    "DB_HOST": "DB_HOST=pg.internal",
    "LOG_LEVEL": "LOG_LEVEL=",
    # keys that moved to envs/**
    "WEAVIATE_API_KEY": "WEAVIATE_API_KEY='wv$$key'",
    "S3_SECRET_KEY": 'S3_SECRET_KEY="s3\\$ecret"',
    "ORACLE_DSN": "ORACLE_DSN=oracle:1521/FREEPDB1 # my oracle",
    "OPENSEARCH_PASSWORD": 'OPENSEARCH_PASSWORD="-----BEGIN-----\nline two\n-----END-----"',
    "SENTRY_DSN": "export SENTRY_DSN=https://k@sentry.example.com/1",
    "SQLALCHEMY_POOL_SIZE": "SQLALCHEMY_POOL_SIZE =77",
}


def defined_keys(text: str, compose_keys: set[str]) -> set[str]:
    """Keys a template defines: assigned (as compose reads them) or as ``# KEY=`` lines."""
    return compose_keys | set(_COMMENTED.findall(text))


@pytest.fixture
def split(tmp_path: Path, corpus: Path) -> Path:
    docker = tmp_path / "docker"
    shutil.copytree(corpus / "dify" / "1.14.1" / "docker", docker)
    old = (corpus / "dify" / "1.14.0" / "docker" / ".env.example").read_text(encoding="utf-8")
    write(docker / ".env", customise(old, SPLIT_CUSTOM) + OPERATOR_ONLY)
    return docker


def test_split_check(split: Path, compose: ComposeRead) -> None:
    primary = (split / ".env.example").read_text(encoding="utf-8")
    also_paths = sorted(split.glob(ALSO))
    assert len(also_paths) > 20
    also_texts = [p.read_text(encoding="utf-8") for p in also_paths]
    env_text = (split / ".env").read_text(encoding="utf-8")
    readings = read(compose, [env_text, primary, *also_texts])
    operator, primary_keys, also_keys = readings[0], readings[1], readings[2:]
    in_primary = defined_keys(primary, set(primary_keys))
    in_also: set[str] = set()
    for text, keys in zip(also_texts, also_keys):
        in_also |= defined_keys(text, set(keys))
    relocated = (set(operator) - in_primary) & in_also
    nowhere = set(operator) - in_primary - in_also

    found = findings_of(run(split, "check", "--also", ALSO, "--format", "json"))
    assert keys_by_code(found, "ENV008") == relocated
    assert 450 <= len(relocated) <= 550
    assert keys_by_code(found, "ENV002") == nowhere
    assert "MY_OPERATOR_ONLY" in nowhere
    assert {"OPENSEARCH_PASSWORD", "S3_SECRET_KEY", "ORACLE_DSN", "SENTRY_DSN"} <= relocated
    assert "WEAVIATE_API_KEY" in primary_keys  # kept in docker/.env.example too
    # an ENV008 points at the template that now defines the key
    for f in found:
        if f["code"] == "ENV008":
            where = Path(f["file"])
            text = (
                (split / where).read_text(encoding="utf-8")
                if not where.is_absolute()
                else where.read_text(encoding="utf-8")
            )
            assert re.search(rf"^[ \t#]*{re.escape(f['key'])}=", text, re.M), f


def test_split_fix_loses_nothing(split: Path, compose: ComposeRead) -> None:
    env_text = (split / ".env").read_text(encoding="utf-8")
    proc = run(split, "fix", "--also", ALSO)
    assert proc.returncode == 1, proc.stderr
    for secret in ("sk-planted-88", "wv$$key", "line two"):
        assert secret not in proc.stdout + proc.stderr
    result = (split / ".env").read_text(encoding="utf-8")
    primary = (split / ".env.example").read_text(encoding="utf-8")
    operator, got, defaults = read(compose, [env_text, result, primary])
    lost = {k for k in operator if got.get(k) != operator[k]}
    assert not lost, f"values lost or changed: {sorted(lost)}"
    new_keys = set(defaults) - set(operator)
    assert {k: got.get(k) for k in new_keys} == {k: defaults[k] for k in new_keys}

    # a relocated key stands under a comment naming the template that now defines it
    lines = result.splitlines()
    for key in ("OPENSEARCH_PASSWORD", "ORACLE_DSN", "SENTRY_DSN"):
        at = next(i for i, line in enumerate(lines) if re.match(rf"^(export )?{key}=", line))
        above: list[str] = []
        i = at - 1
        while i >= 0 and lines[i].lstrip().startswith("#"):
            above.append(lines[i])
            i -= 1
        defining = [
            str(p.relative_to(split))
            for p in split.glob(ALSO)
            if re.search(rf"^[ \t#]*{key}=", p.read_text(encoding="utf-8"), re.M)
        ]
        assert defining and any(d in line for d in defining for line in above), (key, above)

    before = (split / ".env").read_bytes()
    again = run(split, "fix", "--also", ALSO)
    assert again.returncode == 0, again.stderr
    assert (split / ".env").read_bytes() == before


def test_split_checks_each_env_of_the_set(split: Path) -> None:
    """An ``X.env.example`` of the set whose ``X.env`` exists is its own pair in the same run."""
    example = split / "envs" / "security.env.example"
    text = example.read_text(encoding="utf-8")
    doc = parse(text)
    dropped = doc.bindings[0].key
    kept = re.sub(rf"^{re.escape(dropped)}=.*\n?", "", text, flags=re.M)
    write(split / "envs" / "security.env", kept)
    report = json.loads(run(split, "check", "--also", ALSO, "--format", "json").stdout)
    pairs = {Path(p["env"]).as_posix(): p for p in report["pairs"]}
    assert "envs/security.env" in pairs, list(pairs)
    missing = {f["key"] for f in pairs["envs/security.env"]["findings"] if f["code"] == "ENV001"}
    assert missing == {dropped}


# --------------------------------------------------------------------------------------------
# (d) small cases through the CLI: (base, template, env, extra check args, {(code, key)})

CASES: list[tuple[str, str | None, str, str, set[tuple[str, str]]]] = [
    (
        "ENV010: the template gained a # KEY=",
        "A=1\n",
        "A=1\n# OPT=x\n",
        "A=1\n",
        {("ENV010", "OPT")},
    ),
    ("ENV010: not new", "A=1\n# OPT=x\n", "A=1\n# OPT=x\n", "A=1\n", set()),
    ("ENV010: the env sets it", "A=1\n", "A=1\n# OPT=x\n", "A=1\nOPT=y\n", set()),
    # DESIGN.md section 4: ENV010 is a three-way finding ("with base: the template gained ...")
    ("ENV010 needs a base", None, "A=1\n# OPT=x\n", "A=1\n", set()),
    (
        "ENV009: similar name",
        "_APP_FUNCTIONS_TIMEOUT=900\n",
        "_APP_COMPUTE_TIMEOUT=900\n",
        "_APP_FUNCTIONS_TIMEOUT=1200\n",
        {
            ("ENV001", "_APP_COMPUTE_TIMEOUT"),
            ("ENV002", "_APP_FUNCTIONS_TIMEOUT"),
            ("ENV009", "_APP_FUNCTIONS_TIMEOUT"),
        },
    ),
    (
        "ENV009: same value",
        "OLD_STORAGE_DIR=/srv/dify/old\n",
        "UPLOAD_ROOT=/srv/dify/storage\n",
        "OLD_STORAGE_DIR=/srv/dify/storage\n",
        {("ENV001", "UPLOAD_ROOT"), ("ENV002", "OLD_STORAGE_DIR"), ("ENV009", "OLD_STORAGE_DIR")},
    ),
    (
        "ENV009 without a base",
        None,
        "_APP_COMPUTE_TIMEOUT=900\n",
        "_APP_FUNCTIONS_TIMEOUT=1200\n",
        {
            ("ENV001", "_APP_COMPUTE_TIMEOUT"),
            ("ENV002", "_APP_FUNCTIONS_TIMEOUT"),
            ("ENV009", "_APP_FUNCTIONS_TIMEOUT"),
        },
    ),
    (
        "removed upstream: at default and customised",
        "A=1\nGONE=old\nGONE2=old2\n",
        "A=1\n",
        "A=1\nGONE=old\nGONE2=custom\n",
        {("ENV002", "GONE"), ("ENV002", "GONE2")},
    ),
    ("stale default", "A=1\nB=1\n", "A=2\nB=1\n", "A=1\nB=1\n", {("ENV004", "A")}),
    ("stale default written with quotes", "A=1\n", "A=2\n", "A='1'\n", {("ENV004", "A")}),
    ("conflict", "A=1\n", "A=2\n", "A=5\n", {("ENV005", "A")}),
    ("deliberate customisation", "A=1\n", "A=1\n", "A=5\n", {("ENV003", "A")}),
    ("quote-only change upstream", "A=1\n", 'A="1"\n', "A=1\n", set()),
    ("single vs double quotes, same value", "A='a$b'\n", "A=a$$b\n", "A='a$b'\n", set()),
    (
        "a reference is compared before interpolation",
        "B=1\nA=${B}\n",
        "B=2\nA=${B}\n",
        "B=1\nA=${B}\n",
        {("ENV004", "B")},
    ),
    (
        "the env already has the new default",
        "A=1\n",
        "A=2\n",
        "A=2\n",
        set(),
    ),
]


@pytest.mark.parametrize(
    ("base", "template", "env", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_three_way_findings(
    tmp_path: Path, base: str | None, template: str, env: str, expected: set[tuple[str, str]]
) -> None:
    write(tmp_path / ".env.example", template, 0o644)
    write(tmp_path / ".env", env)
    args = ["check", "--format", "json"]
    if base is not None:
        write(tmp_path / "base.env.example", base, 0o644)
        args += ["--base", "base.env.example"]
    found = findings_of(run(tmp_path, *args))
    assert {(f["code"], f["key"]) for f in found} == expected
    for f in found:
        if f["code"] == "ENV009":
            assert any(new in f["message"] for new in ("_APP_COMPUTE_TIMEOUT", "UPLOAD_ROOT"))


# (base, template, env, fix options, values compose must read afterwards)
FIXES: list[tuple[str, str | None, str, str, list[str], dict[str, str]]] = [
    ("stale: new default", "A=1\n", "A=2\n", "A=1\n", [], {"A": "2"}),
    ("--keep-stale", "A=1\n", "A=2\n", "A=1\n", ["--keep-stale"], {"A": "1"}),
    # a secret in use cannot change on its own (Dify 1.14.1 emptied SECRET_KEY's default)
    (
        "stale secret: kept",
        "DB_PASSWORD=a1\n",
        "DB_PASSWORD=b2\n",
        "DB_PASSWORD=a1\n",
        [],
        {"DB_PASSWORD": "a1"},
    ),
    (
        "stale secret, new default empty: kept",
        "SECRET_KEY=a1\n",
        "SECRET_KEY=\n",
        "SECRET_KEY=a1\n",
        [],
        {"SECRET_KEY": "a1"},
    ),
    (
        "stale secret, --take-template",
        "DB_PASSWORD=a1\n",
        "DB_PASSWORD=b2\n",
        "DB_PASSWORD=a1\n",
        ["--take-template", "DB_*"],
        {"DB_PASSWORD": "b2"},
    ),
    ("conflict: operator's", "A=1\n", "A=2\n", "A=5\n", [], {"A": "5"}),
    ("conflict, --take-template", "A=1\n", "A=2\n", "A=5\n", ["--take-template", "A"], {"A": "2"}),
    (
        "--take-template pattern",
        "A1=1\nA2=1\nB=1\n",
        "A1=1\nA2=1\nB=1\n",
        "A1=5\nA2=6\nB=7\n",
        ["--take-template", "A*"],
        {"A1": "1", "A2": "1", "B": "7"},
    ),
    (
        "no base, --take-template",
        None,
        "A=2\nB=3\n",
        "A=5\nB=6\n",
        ["--take-template", "A"],
        {"A": "2", "B": "6"},
    ),
    (
        "removed upstream: dropped at default, kept when customised",
        "A=1\nGONE=old\nGONE2=old2\n",
        "A=1\n",
        "A=1\nGONE=old\nGONE2=custom\n",
        [],
        {"A": "1", "GONE2": "custom"},
    ),
    (
        "removed upstream, --prune",
        "A=1\nGONE=old\nGONE2=old2\n",
        "A=1\n",
        "A=1\nGONE=old\nGONE2=custom\nMINE=1\n",
        ["--prune"],
        {"A": "1"},
    ),
    (
        "removed upstream without a base: all kept",
        None,
        "A=1\n",
        "A=1\nGONE=old\nGONE2=custom\n",
        [],
        {"A": "1", "GONE": "old", "GONE2": "custom"},
    ),
    (
        "rename hint: fix moves nothing",
        "_APP_FUNCTIONS_TIMEOUT=900\n",
        "_APP_COMPUTE_TIMEOUT=900\n",
        "_APP_FUNCTIONS_TIMEOUT=1200\n",
        [],
        {"_APP_COMPUTE_TIMEOUT": "900", "_APP_FUNCTIONS_TIMEOUT": "1200"},
    ),
    (
        "new optional key: fix adds nothing",
        "A=1\n",
        "A=1\n# OPT=x\n",
        "A=1\n",
        [],
        {"A": "1"},
    ),
    (
        "stale reference takes the new one",
        "B=1\nA=${B}\n",
        "B=1\nA=${B}/x\n",
        "B=7\nA=${B}\n",
        [],
        {"B": "7", "A": "7/x"},
    ),
]


@pytest.mark.parametrize(
    ("base", "template", "env", "options", "expected"),
    [c[1:] for c in FIXES],
    ids=[c[0] for c in FIXES],
)
def test_three_way_fix(
    tmp_path: Path,
    base: str | None,
    template: str,
    env: str,
    options: list[str],
    expected: dict[str, str],
) -> None:
    write(tmp_path / ".env.example", template, 0o644)
    write(tmp_path / ".env", env)
    args = ["fix", *options]
    if base is not None:
        write(tmp_path / "base.env.example", base, 0o644)
        args += ["--base", "base.env.example"]
    proc = run(tmp_path, *args)
    assert proc.returncode in (0, 1), proc.stderr
    result = (tmp_path / ".env").read_text()
    assert compose_values(result, {}) == expected
    assert proc.returncode == (0 if result == env else 1)
    again = run(tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / ".env").read_text() == result


# --------------------------------------------------------------------------------------------
# (e) with a base, fix never changes a value the operator customised unless told to

PKEYS = ("A", "B", "C", "DB_PASSWORD")  # one secret-looking name
RAW = st.sampled_from(["1", "2", "x", "'1'", '"2"', "", "'x y'", '"a b" # c'])
entries = st.lists(st.tuples(st.sampled_from(PKEYS), RAW), max_size=5, unique_by=lambda e: e[0])


def render(pairs: list[tuple[str, str]], commented: tuple[str, ...] = ()) -> str:
    return "".join(f"{k}={v}\n" for k, v in pairs) + "".join(f"# {k}=1\n" for k in commented)


def merged(base: str, template: str, env: str, **options: Any) -> str:
    t, e, b = (
        index(n, parse(x)) for n, x in ((".env.example", template), (".env", env), ("b", base))
    )
    return merge(t, e, compare(t, e, Settings(**options), b), ".env.example")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=entries,
    template=entries,
    commented=st.lists(st.sampled_from(PKEYS), max_size=2, unique=True),
    env=entries,
    keep_stale=st.booleans(),
    take=st.lists(st.sampled_from(PKEYS), max_size=1),
)
def test_customised_values_survive_a_three_way_fix(
    base: list[tuple[str, str]],
    template: list[tuple[str, str]],
    commented: list[str],
    env: list[tuple[str, str]],
    keep_stale: bool,
    take: list[str],
) -> None:
    assigned = {k for k, _ in template}
    t_text = render(template, tuple(k for k in commented if k not in assigned))
    b_text, e_text = render(base), render(env)
    options = {"keep_stale": keep_stale, "take_template": tuple(take)}
    result = merged(b_text, t_text, e_text, **options)
    assert merged(b_text, t_text, result, **options) == result  # idempotent with a base too

    B, T, E = (compose_values(x, {}) for x in (b_text, t_text, e_text))
    got = compose_values(result, {})
    for key, value in E.items():
        customised = key not in B or B[key] != value
        if key in take and key in T:
            assert got[key] == T[key]
        elif customised:
            assert got.get(key) == value, (key, "customised value changed")
        elif key in T:  # the old default: the new one unless --keep-stale or a secret
            assert got[key] == (value if keep_stale or is_secret_key(key) else T[key])
        elif key in _COMMENTED.findall(t_text):
            assert got.get(key) == value  # kept under the template's # KEY= line
        elif is_secret_key(key):  # removed upstream at its old default, but a secret: kept
            assert got.get(key) == value
        else:  # removed upstream, at its old default: safe to drop
            assert key not in got
    for key, value in T.items():
        if key not in E:
            assert got[key] == value


def test_fix_notice_says_stale_defaults_were_updated_and_only_conflicts_wait(
    tmp_path: Path,
) -> None:
    """The last line of a fix: stale defaults are done (updated), conflicts need a decision."""
    (tmp_path / "old.env.example").write_text("A=1\nB=1\nC=1\n")
    (tmp_path / ".env.example").write_text("A=2\nB=2\nC=1\n")
    (tmp_path / ".env").write_text("A=1\nB=mine\nC=1\n")
    proc = run(tmp_path, "fix", "--base", "old.env.example")
    assert proc.returncode == 1, proc.stderr  # (fix changed the file)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith("1 stale default(s) updated, 1 conflict(s) need a decision"), last
    assert (tmp_path / ".env").read_text().startswith("A=2\nB=mine\n")
