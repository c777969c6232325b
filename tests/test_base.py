"""Issue 11: where the base comes from (DESIGN.md section 12), and that every report says so.

Option > sync record > hook ref > git history > none; ``--no-base`` forces two-way. The JSON
report carries ``base: {source, detail}`` per pair; the text report a header line per pair.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_run import run

from envsync_hook import base
from envsync_hook.compare import canonical, index
from envsync_hook.document import BARE, parse
from envsync_hook.errors import EnvsyncError
from envsync_hook.runner import Job

V1 = "A=1\nB=old\nC=keep\n"
V2 = "A=1\nB=new\nC=keep\nD=4\n"


def _json(cwd: Path, *args: str) -> dict[str, Any]:
    proc = run(cwd, *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _files(directory: Path, template: str, env: str, **others: str) -> None:
    """The template, the env file (mode 0600, as fix writes it) and further files."""
    (directory / ".env.example").write_text(template)
    (directory / ".env").write_text(env)
    (directory / ".env").chmod(0o600)
    for name, text in others.items():
        (directory / name.replace("_", ".")).write_text(text)


def _codes(pair: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["code"], f["key"]) for f in pair["findings"])


@pytest.mark.parametrize(
    ("args", "source", "codes"),
    [
        (["--base", "v1.env.example"], "option", [("ENV001", "D"), ("ENV004", "B")]),
        ([], "none", [("ENV001", "D"), ("ENV003", "B")]),
        (["--no-base"], "none", [("ENV001", "D"), ("ENV003", "B")]),
    ],
    ids=["option", "nothing", "no-base"],
)
def test_json_base_object_says_where_the_base_came_from(
    tmp_path: Path, args: list[str], source: str, codes: list[tuple[str, str]]
) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    pair = _json(tmp_path, "check", *args)["pairs"][0]
    assert pair["base"]["source"] == source
    if source == "option":
        assert "v1.env.example" in pair["base"]["detail"]
    if args == ["--no-base"]:
        assert pair["base"]["detail"] == "--no-base"
    assert _codes(pair) == codes


def test_no_base_overrides_a_configured_base(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    (tmp_path / ".envsync.toml").write_text('base = "v1.env.example"\n')
    configured = _json(tmp_path, "check")["pairs"][0]
    assert configured["base"]["source"] == "option"
    assert ("ENV004", "B") in _codes(configured)
    forced = _json(tmp_path, "check", "--no-base")["pairs"][0]
    assert forced["base"] == {"source": "none", "detail": "--no-base"}
    assert ("ENV003", "B") in _codes(forced)


def test_no_base_and_base_are_exclusive(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1)
    proc = run(tmp_path, "check", "--no-base", "--base", ".env.example")
    assert proc.returncode == 2
    assert "not allowed with" in proc.stderr


def test_text_report_names_the_base_once_per_pair(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    out = run(tmp_path, "check", "--base", "v1.env.example").stdout.splitlines()
    # (the pair's header line; the commands under ``next:`` repeat the run's own --base)
    header = [line for line in out if "base" in line and not line.startswith(("ENV", "  "))]
    assert header == [".env.example -> .env: base from option: --base v1.env.example"]


# --- the sync record -------------------------------------------------------------------------


def _findings(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((f["code"], f["key"], f["message"]) for f in data["pairs"][0]["findings"])


def test_sync_record_without_git_gives_what_base_v1_gives(tmp_path: Path) -> None:
    """fix against v1, v2 copied over it: plain check reports what ``--base v1`` reports."""
    v1 = "A=1\nB=old\nC=keep\nGONE=x\n# OPT=1\n"
    v2 = "A=1\nB=new\nC=changed\nD=4\n# OPT=1\n# NEWOPT=2\n"
    env = "A=1\nB=old\nC=mine\nGONE=x\nOWN=1\n"
    _files(tmp_path, v1, env, v1_env_example=v1)
    assert run(tmp_path, "fix").returncode in (0, 1)
    record = tmp_path / "env-backup" / ".env.sync"
    assert record.is_dir()
    (tmp_path / ".env.example").write_text(v2)
    plain = _json(tmp_path, "check")
    flagged = _json(tmp_path, "check", "--base", "v1.env.example")
    assert plain["pairs"][0]["base"]["source"] == "record"
    assert str(Path("env-backup") / ".env.sync") in plain["pairs"][0]["base"]["detail"]
    assert _findings(plain) == _findings(flagged)
    codes = {(c, k) for c, k, _ in _findings(plain)}
    assert {("ENV004", "B"), ("ENV005", "C"), ("ENV001", "D"), ("ENV010", "NEWOPT")} <= codes
    # and fix through the record takes the new default of the stale key, keeps the custom one
    assert run(tmp_path, "fix").returncode in (0, 1)
    after = (tmp_path / ".env").read_text()
    assert "B=new\n" in after and "C=mine\n" in after and "GONE" not in after


def test_restore_forgets_the_sync_record(tmp_path: Path) -> None:
    """After restore, the record names templates the restored file was never synced with: a
    stale default would read as a customisation (DB_HOST=db kept after an upgrade)."""
    _files(tmp_path, "DB_HOST=db\nLOG=info\n", "DB_HOST=db\nLOG=debug\n")
    assert run(tmp_path, "fix").returncode in (0, 1)
    (tmp_path / ".env.example").write_text("DB_HOST=db_postgres\nLOG=info\n")
    assert run(tmp_path, "fix").returncode == 1
    assert "DB_HOST=db_postgres\n" in (tmp_path / ".env").read_text()
    assert run(tmp_path, "restore").returncode == 0
    assert "DB_HOST=db\n" in (tmp_path / ".env").read_text()
    assert _json(tmp_path, "check")["pairs"][0]["base"]["source"] != "record"


@pytest.mark.parametrize("planted", ["symlink", "world-readable"])
def test_a_planted_sync_record_is_no_record(tmp_path: Path, planted: str) -> None:
    """A record that write_record did not make (a symlink to elsewhere, a 0644 copy from a
    checkout) must not decide what fix takes."""
    _files(tmp_path, "DB_HOST=newdefault\n", "DB_HOST=my-custom-host\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    record = tmp_path / "env-backup" / ".env.sync"
    record.mkdir(parents=True, mode=0o700)
    os.chmod(tmp_path / "env-backup", 0o700)
    name = "0123456789abcdef0123456789abcdef.template"
    manifest = f"envsync sync record 1\ntime 1\ntemplate {name} .env.example\n"
    for fname, text in ((name, "DB_HOST=my-custom-host\n"), ("manifest", manifest)):
        if planted == "symlink":
            (outside / fname).write_text(text)
            (record / fname).symlink_to(outside / fname)
        else:
            (record / fname).write_text(text)
            os.chmod(record / fname, 0o644)
    data = _json(tmp_path, "check")
    assert data["pairs"][0]["base"]["source"] != "record"
    assert "ENV004" not in {f["code"] for f in data["pairs"][0]["findings"]}


def test_sync_record_is_protected_and_not_a_backup(tmp_path: Path) -> None:
    _files(tmp_path, "A=1\nB=2\n", "A=1\n")
    assert run(tmp_path, "fix").returncode == 1
    backups = tmp_path / "env-backup"
    record = backups / ".env.sync"
    assert (record.stat().st_mode & 0o777, backups.stat().st_mode & 0o777) == (0o700, 0o700)
    names = sorted(p.name for p in record.iterdir())
    assert "manifest" in names and len(names) == 2
    assert {p.stat().st_mode & 0o777 for p in record.iterdir()} == {0o600}
    copy = next(p for p in record.iterdir() if p.name != "manifest")
    assert copy.read_text() == "A=1\nB=2\n"
    listed = run(tmp_path, "restore", "--list")
    assert ".sync" not in listed.stdout + listed.stderr
    assert len([n for n in listed.stdout.splitlines() if n.strip()]) == 1


@pytest.mark.parametrize("flag", ["--dry-run", "--diff"])
def test_no_sync_record_for_a_dry_run(tmp_path: Path, flag: str) -> None:
    _files(tmp_path, "A=1\nB=2\n", "A=1\n")
    assert run(tmp_path, "fix", flag).returncode == 1
    assert not (tmp_path / "env-backup").exists()


@pytest.mark.parametrize(
    ("env", "why"),
    [("A=1\nB=2\n", "in sync"), (None, "created"), ("A=1\n", "written")],
)
def test_sync_record_after_every_fix_that_syncs(tmp_path: Path, env: str | None, why: str) -> None:
    (tmp_path / ".env.example").write_text("A=1\nB=2\n")
    if env is not None:
        (tmp_path / ".env").write_text(env)
        (tmp_path / ".env").chmod(0o600)
    assert run(tmp_path, "fix").returncode in (0, 1), why
    manifest = tmp_path / "env-backup" / ".env.sync" / "manifest"
    assert manifest.is_file(), why
    before = manifest.read_bytes()
    assert run(tmp_path, "fix").returncode == 0
    assert manifest.read_bytes() == before  # the same set: the record is left as it is


def test_sync_record_of_a_set_gives_each_template_its_own_copy(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    _files(tmp_path, "A=1\n", "A=1\nS=old\n")
    (tmp_path / "envs" / "svc.env.example").write_text("S=old\n")
    assert run(tmp_path, "fix", "--also", "envs/*.env.example").returncode in (0, 1)
    manifest = (tmp_path / "env-backup" / ".env.sync" / "manifest").read_text()
    assert manifest.count("\ntemplate ") == 2 and "envs/svc.env.example" in manifest
    record = base.read_record(tmp_path / ".env", tmp_path / "env-backup")
    assert record is not None and set(record.copies) == {".env.example", "envs/svc.env.example"}


def test_a_record_of_another_env_file_is_not_used(tmp_path: Path) -> None:
    """A backup directory shared by two deployments: each record names its env file."""
    shared = tmp_path / "backups"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _files(tmp_path / name, V1, V1)
    assert run(tmp_path / "a", "fix", "--backup-dir", str(shared)).returncode == 0
    (tmp_path / "b" / ".env.example").write_text(V2)
    pair = _json(tmp_path / "b", "check", "--backup-dir", str(shared))["pairs"][0]
    assert pair["base"]["source"] == "none"


# --- git: the base from the history, the hook ref, new templates, revisions ------------------


def _git(cwd: Path, *args: str, date: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _repo(tmp_path: Path, *versions: str, date: str | None = None) -> tuple[Path, list[str]]:
    """A repository committing ``.env.example`` at each of ``versions``; the commits."""
    work = tmp_path / "repo"
    work.mkdir()
    _git(work, "init", "-q")
    commits = []
    for n, text in enumerate(versions):
        (work / ".env.example").write_text(text)
        _git(work, "add", ".env.example")
        _git(work, "commit", "-q", "-m", f"template v{n + 1}", date=date)
        commits.append(_git(work, "rev-parse", "HEAD"))
    return work, commits


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

#: three versions of a template: each changes defaults and keys
H1 = "A=1\nB=one\nC=c\nOLD=x\n"
H2 = "A=1\nB=two\nC=c\nNEW=y\n"
H3 = "A=1\nB=three\nC=c\nNEW=y\nNEWER=z\n"


@needs_git
def test_git_history_infers_the_version_the_env_file_was_copied_from(tmp_path: Path) -> None:
    work, commits = _repo(tmp_path, H1, H2, H3)
    (work / ".env").write_text("A=1\nB=two\nC=mine\nNEW=y\nOWN=1\n")  # v2, customised
    (work / ".env").chmod(0o600)
    pair = _json(work, "check")["pairs"][0]
    assert pair["base"]["source"] == "git-history"
    detail = pair["base"]["detail"]
    assert commits[1][:12] in detail and "template v2" in detail
    assert "3 of 5 values are its defaults" in detail  # (A, B, NEW of A, B, C, NEW, OWN)
    assert ("ENV004", "B") in _codes(pair) and ("ENV001", "NEWER") in _codes(pair)
    # the same findings as the base given by hand
    assert _findings(_json(work, "check", "--base-ref", commits[1])) == _findings(
        _json(work, "check")
    )


@needs_git
@pytest.mark.parametrize(
    ("env", "why"),
    [
        ("A=1\nB=three\nC=c\nNEW=y\nNEWER=z\n", "the current template explains it best"),
        ("Q=1\nR=2\n", "no version explains it"),
    ],
)
def test_git_history_falls_back_to_two_way_with_a_notice(
    tmp_path: Path, env: str, why: str
) -> None:
    work, _ = _repo(tmp_path, H1, H2, H3)
    (work / ".env").write_text(env)
    (work / ".env").chmod(0o600)
    pair = _json(work, "check")["pairs"][0]
    assert pair["base"]["source"] == "none", why
    assert "no committed version" in pair["base"]["detail"], why


@needs_git
def test_no_inference_for_an_untracked_template(tmp_path: Path) -> None:
    work, _ = _repo(tmp_path, H1)
    (work / "other.env.example").write_text(H3)
    (work / "other.env").write_text("A=1\nB=one\n")
    (work / "other.env").chmod(0o600)
    pair = _json(work, "check", "other.env.example")["pairs"][0]
    assert pair["base"] == {"source": "none", "detail": ""}


def _tags(repo: Path) -> list[str]:
    return _git(repo, "tag", "--list").split()


def _dify_env(text: str, seed: str) -> str:
    """A .env copied from ``text`` and customised: ten values changed, three keys deleted,
    two operator-only keys added (chosen by a fixed seed)."""
    rng = random.Random(seed)
    lines = text.split("\n")
    plain = [i for i, line in enumerate(lines) if re.match(r"[A-Z_][A-Z0-9_]*=[^'\"]*$", line)]
    picked = rng.sample(plain, 13)
    for n, i in enumerate(picked[:10]):
        lines[i] = lines[i].split("=", 1)[0] + f"=operator-value-{n}"
    for i in picked[10:]:
        lines[i] = ""
    return "\n".join(lines) + "\nOPERATOR_ONLY_A=1\nOPERATOR_ONLY_B='x #y'\n"


def _defaults(text: str) -> dict[str, str | None]:
    side = index("", parse(text))
    kinds, templates = side.doc.kinds, side.doc.templates
    return {k: None if kinds[i] == BARE else canonical(templates[i]) for k, i in side.last.items()}


@pytest.fixture(scope="module")
def dify_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = os.environ.get("ENVSYNC_CORPUS")
    bundle = Path(corpus or "") / "dify" / "env-history.bundle"
    if not corpus or not bundle.is_file() or shutil.which("git") is None:
        pytest.skip("needs git and ENVSYNC_CORPUS with dify/env-history.bundle")
    repo = tmp_path_factory.mktemp("dify") / "history"
    _git(repo.parent, "clone", "-q", "-b", "main", str(bundle), str(repo))
    return repo


def test_git_history_on_every_dify_release(dify_history: Path) -> None:
    """For a .env copied at any of the 69 release tags and customised, the inferred version
    has exactly that release's keys and defaults (in-process: choose_base itself)."""
    tags = _tags(dify_history)
    assert len(tags) == 69
    docker = dify_history / "docker"
    template = index(".env.example", parse((docker / ".env.example").read_text()))
    wrong = []
    for tag in tags:
        text = _git(dify_history, "show", f"{tag}:docker/.env.example") + "\n"
        env = index(".env", parse(_dify_env(text, tag)))
        job = Job(docker / ".env.example", docker / ".env")
        choice = base.choose_base(job, template, env, None)
        got = choice.side.doc.text if choice.side is not None else template.doc.text
        if _defaults(got) != _defaults(text):
            wrong.append((tag, choice.source, choice.detail))
    assert wrong == []


@pytest.mark.parametrize("tag", ["0.6.12", "1.4.0", "1.10.0"])
def test_git_history_through_the_cli_on_dify(dify_history: Path, tag: str) -> None:
    docker = dify_history / "docker"
    text = _git(dify_history, "show", f"{tag}:docker/.env.example") + "\n"
    (docker / ".env").write_text(_dify_env(text, tag))
    (docker / ".env").chmod(0o600)
    pair = _json(docker, "check")["pairs"][0]
    assert pair["base"]["source"] == "git-history"
    assert re.search(
        r"at [0-9a-f]{12} \(.*\): \d+ of \d+ values are its defaults", pair["base"]["detail"]
    )
    assert ("ENV004", "DB_HOST") in _codes(pair) or tag == "0.6.12"
    assert "operator-value" not in json.dumps(pair)  # no value in any report


@pytest.mark.parametrize(
    ("options", "key"),
    [(["--keep-stale"], "WORKERS"), ([], "DB_PASSWORD")],
    ids=["keep-stale", "stale-secret"],
)
def test_a_stale_default_fix_kept_is_still_stale_for_the_record(
    tmp_path: Path, options: list[str], key: str
) -> None:
    """A stale default that fix keeps (``--keep-stale``, or a secret in use) is recorded as
    still the previous default: the next run, with the sync record as its base, says ENV004
    again (not ENV003, as if customised), and a published secret stays ENV013."""
    old, new = f"{key}=old-default-1\nX=1\n", f"{key}=new-default-2\nX=1\nY=2\n"
    _files(tmp_path, new, old, v1_env_example=old)
    first = run(tmp_path, "fix", "--base", "v1.env.example", *options)
    assert first.returncode in (0, 1), first.stderr
    assert f"{key}=old-default-1\n" in (tmp_path / ".env").read_text()
    pair = _json(tmp_path, "check")["pairs"][0]
    assert pair["base"]["source"] == "record"
    assert ("ENV004", key) in _codes(pair) and ("ENV003", key) not in _codes(pair)
    assert (("ENV013", key) in _codes(pair)) == (key == "DB_PASSWORD")
    # a second fix keeps it (the secret; --keep-stale again) and changes nothing
    before = (tmp_path / ".env").read_bytes()
    again = run(tmp_path, "fix", *options)
    assert again.returncode in (0, 1), again.stderr
    assert (tmp_path / ".env").read_bytes() == before
    assert "in sync" in again.stdout


def test_what_a_kept_secret_reads_is_kept_too(tmp_path: Path, compose: Any) -> None:
    """Red-team (2nd pass) finding 2: a stale default that a kept secret references
    (``DB_PASSWORD=${INIT_VALUE}``) is kept as well, so that Docker Compose reads every secret
    as before; an unrelated stale default is still updated."""
    old = "INIT_VALUE=abc123\nDB_PASSWORD=${INIT_VALUE}\nREDIS_PASSWORD=${INIT_VALUE}\nOTHER=1\n"
    new = "INIT_VALUE=xyz789\nDB_PASSWORD=${INIT_VALUE}\nREDIS_PASSWORD=\nOTHER=2\n"
    _files(tmp_path, new, old, v1_env_example=old)
    proc = run(tmp_path, "fix", "--base", "v1.env.example")
    assert proc.returncode in (0, 1), proc.stderr
    before, after = compose([old, (tmp_path / ".env").read_text()], {})
    assert {k: after[k] for k in ("INIT_VALUE", "DB_PASSWORD", "REDIS_PASSWORD")} == {
        k: before[k] for k in ("INIT_VALUE", "DB_PASSWORD", "REDIS_PASSWORD")
    }
    assert after["OTHER"] == "2"
    pair = _json(tmp_path, "check")["pairs"][0]  # (the record as base: still stale, kept)
    assert ("ENV004", "INIT_VALUE") in _codes(pair) and ("ENV004", "OTHER") not in _codes(pair)
    again = run(tmp_path, "fix")
    assert again.returncode in (0, 1) and "in sync" in again.stdout


@pytest.mark.parametrize(
    ("old", "new", "others"),
    [
        ("A=1\nAPP_SECRET=pub1\n", "A=1\n", {}),  # removed upstream
        ("A=1\nAPP_SECRET=pub1\n", "A=1\n# APP_SECRET=pub2\n", {}),  # now an opt-in
        (  # moved to another template of the set
            "A=1\nAPP_SECRET=pub1\n",
            "A=1\n",
            {"envs/app.env.example": "APP_SECRET=pub2\n"},
        ),
    ],
    ids=["removed", "opt-in", "relocated"],
)
def test_a_secret_at_a_previous_default_is_kept_and_stays_flagged(
    tmp_path: Path, old: str, new: str, others: dict[str, str]
) -> None:
    """Red-team (2nd pass) findings 3, 4, 7: fix keeps a secret that still holds a previous
    published default, whether the template removed it, made it an opt-in or moved it (a compose
    file may read it still), and every later run (sync record as base, ``fix --no-base``
    included) still flags it ENV013."""
    _files(tmp_path, new, old, v1_env_example=old)
    also: list[str] = []
    for name, text in others.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        also = ["--also", "envs/*.env.example"]
    proc = run(tmp_path, "fix", "--base", "v1.env.example", *also)
    assert proc.returncode in (0, 1), proc.stderr
    assert "APP_SECRET=pub1\n" in (tmp_path / ".env").read_text()
    for step in (["fix"], ["fix", "--no-base"], ["fix"]):
        ran = run(tmp_path, *step, *also)
        assert ran.returncode in (0, 1), ran.stderr
        assert "APP_SECRET=pub1\n" in (tmp_path / ".env").read_text()
        pair = _json(tmp_path, "check", *also)["pairs"][0]
        assert pair["base"]["source"] == "record"
        assert ("ENV013", "APP_SECRET") in _codes(pair), (step, _codes(pair))


def test_plain_fix_keeps_a_stale_published_secret(dify_history: Path) -> None:
    """Red-team finding 2: Dify 1.14.1 emptied the published ``SECRET_KEY`` default. An operator
    who still runs 1.14.0's value (sessions and stored credentials are signed with it) upgrades
    with the plain command: fix infers the base from git history, takes the other stale
    defaults, keeps the secret, names it for review and says ENV013, and prints no value."""
    docker = dify_history / "docker"
    old = _git(dify_history, "show", "1.14.0:docker/.env.example") + "\n"
    new = (docker / ".env.example").read_text()
    old_d, new_d = _defaults(old), _defaults(new)
    assert old_d["SECRET_KEY"] and new_d["SECRET_KEY"] == ""  # the scenario holds
    (docker / ".env").write_text(old)
    (docker / ".env").chmod(0o600)
    proc = run(docker, "fix")
    assert proc.returncode in (0, 1), proc.stderr
    after = _defaults((docker / ".env").read_text())
    assert after["SECRET_KEY"] == old_d["SECRET_KEY"]
    review = re.search(r"review \d+ keys? \(your value kept.*SECRET_KEY", proc.stdout, re.S)
    assert review, proc.stdout
    out = proc.stdout + proc.stderr
    assert str(old_d["SECRET_KEY"]) not in out
    check = _json(docker, "check")["pairs"][0]
    assert ("ENV013", "SECRET_KEY") in _codes(check)
    # a second fix keeps it still (idempotent) and says the stale secret remains
    assert ("ENV004", "SECRET_KEY") in _codes(check)
    run(docker, "fix")
    assert _defaults((docker / ".env").read_text())["SECRET_KEY"] == old_d["SECRET_KEY"]


@needs_git
@pytest.mark.parametrize("option", ["--base-ref", "hook"])
def test_a_template_new_at_the_base_revision_is_new_not_an_error(
    tmp_path: Path, option: str
) -> None:
    work, commits = _repo(tmp_path, H1)
    (work / "svc.env.example").write_text("S=1\nT=2\n# OPT=3\n")
    (work / "svc.env").write_text("S=1\nT=mine\n")
    (work / "svc.env").chmod(0o600)
    if option == "--base-ref":
        proc = run(work, "check", "svc.env.example", "--base-ref", "HEAD", "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
        pair = json.loads(proc.stdout)["pairs"][0]
        assert "new since HEAD" in proc.stderr
        assert pair["base"]["source"] == "option"
        assert "every key is new" in pair["base"]["detail"]
    else:
        job = Job(work / "svc.env.example", work / "svc.env", hook_ref=commits[0])
        template = index("svc.env.example", parse((work / "svc.env.example").read_text()))
        choice = base.choose_base(job, template, None, None)
        assert choice.source == "hook" and choice.side is not None and not choice.side.last
        assert "new since" in choice.notice


@needs_git
@pytest.mark.parametrize("rev", ["--output=planted", "-p", "--end-of-options"])
def test_a_revision_that_reads_as_an_option_is_refused(tmp_path: Path, rev: str) -> None:
    work, _ = _repo(tmp_path, H1)
    (work / ".env").write_text(H1)
    (work / ".env").chmod(0o600)
    before = sorted(p.name for p in work.iterdir())
    proc = run(work, "check", f"--base-ref={rev}")
    assert proc.returncode == 2 and "invalid git revision" in proc.stderr
    assert sorted(p.name for p in work.iterdir()) == before
    with pytest.raises(EnvsyncError):
        base.template_at(work / ".env.example", rev)


# --- the order of the sources ----------------------------------------------------------------

PAST, FUTURE = "2001-01-01T00:00:00+0000", "2099-01-01T00:00:00+0000"


@needs_git
@pytest.mark.parametrize(
    ("given", "commit_date", "expected"),
    [
        ({"option", "record", "hook", "history"}, PAST, "option"),
        ({"record", "hook", "history"}, PAST, "record"),  # the record is newer than the commit
        ({"record", "hook", "history"}, FUTURE, "hook"),  # the commit is newer than the record
        ({"record", "history"}, PAST, "record"),
        ({"hook", "history"}, PAST, "hook"),
        ({"history"}, PAST, "git-history"),
        (set(), PAST, "none"),
        ({"no-base", "option", "record", "hook", "history"}, PAST, "none"),
    ],
)
def test_order_of_the_sources(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: set[str],
    commit_date: str,
    expected: str,
) -> None:
    """option > record > hook ref (unless the record is newer) > git history > none."""
    work, commits = _repo(tmp_path, H1, H2, date=commit_date)
    monkeypatch.chdir(work)  # (the project folder, as when the operator runs envsync there)
    if "history" not in given:
        shutil.rmtree(work / ".git")  # (no repository: no history, and no hook ref either)
    (work / ".env.example").write_text(H3)
    env_text = "A=1\nB=one\nC=c\nOLD=x\n"  # a copy of v1: the history explains it
    (work / ".env").write_text(env_text)
    (work / "given.env.example").write_text(H2)
    backups = work / "env-backup"
    if "record" in given:
        base.write_record(work / ".env", backups, [(work / ".env.example", H1)])
    job = Job(
        work / ".env.example",
        work / ".env",
        base=work / "given.env.example" if "option" in given else None,
        hook_ref=commits[0] if "hook" in given else None,
        no_base="no-base" in given,
    )
    template = index(".env.example", parse(H3))
    env = index(".env", parse(env_text))
    choice = base.choose_base(job, template, env, backups)
    assert choice.source == expected
    assert (choice.side is None) == (expected == "none")


# --- templates that are not errors -----------------------------------------------------------

#: a template that offers every setting commented out (like a well-known password manager's)
COMMENT_ONLY = (
    "# Domain\n# DOMAIN=https://vault.example.com\n\n"
    "# Signups\n# SIGNUPS_ALLOWED=true\n# INVITATIONS_ALLOWED=true\n\n"
    "## Admin token\n# ADMIN_TOKEN=\n\n# SMTP_HOST=smtp.example.com\n# SMTP_PORT=587\n"
)
OPERATOR_ENABLED = (
    "DOMAIN=https://vault.mine.example\n"
    "ADMIN_TOKEN='$argon2id$v=19$m=65540,t=3,p=4$abc #not-a-comment'\n"
    'SMTP_PORT="465"\n'
    "MY_OWN=1\n"
)


def test_comment_only_template(tmp_path: Path, compose: Any) -> None:
    """check exits by its findings (never 2), fix puts each enabled key under its ``# KEY=``
    line, and Docker Compose reads every value unchanged."""
    _files(tmp_path, COMMENT_ONLY, OPERATOR_ENABLED)
    proc = run(tmp_path, "check", "--format", "json")
    assert proc.returncode == 0, proc.stderr  # (one warning: MY_OWN is extra)
    pair = json.loads(proc.stdout)["pairs"][0]
    assert _codes(pair) == [("ENV002", "MY_OWN")]
    assert run(tmp_path, "fix").returncode == 1
    result = (tmp_path / ".env").read_text()
    lines = result.splitlines()
    for key in ("DOMAIN", "ADMIN_TOKEN", "SMTP_PORT"):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}="))
        assert lines[at - 1].startswith(f"# {key}="), (key, lines[at - 1])
    before, after = compose([OPERATOR_ENABLED, result])
    assert after == before
    again = run(tmp_path, "check")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("template", ["", "# only a comment\n", "\n\n"])
def test_a_template_with_no_keys_is_valid(tmp_path: Path, template: str) -> None:
    _files(tmp_path, template, "A=1\n")
    check = run(tmp_path, "check")
    assert check.returncode == 0 and "ENV002 extra-key A" in check.stdout, check.stderr
    fix = run(tmp_path, "fix")  # (the template's text first, then the kept key)
    assert fix.returncode in (0, 1), fix.stderr
    assert (tmp_path / ".env").read_text().endswith("\nA=1\n")
    assert run(tmp_path, "fix").returncode == 0


@pytest.mark.parametrize(
    "folder",
    [
        b"dep\xffloy",  # a byte that is not UTF-8
        b"dep\\xffloy",  # the four characters the manifest writes for it: no confusion
        b"d\xc3(e\\p\xfe\xff",  # a broken sequence, a backslash, two bytes
        "déploy".encode(),  # valid UTF-8
    ],
    ids=["xff", "backslash-x", "mixed", "utf8"],
)
def test_sync_record_in_a_folder_whose_name_is_not_utf8(tmp_path: Path, folder: bytes) -> None:
    """The record is written (and read back: the next check takes its base from it) in a
    folder whose name is not valid UTF-8: the manifest writes such a byte as ``\\xNN``."""
    directory = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), folder)))
    directory.mkdir()
    _files(directory, V1, V1)
    fixed = run(directory, "fix")
    assert fixed.returncode == 0, fixed.stderr
    assert "not written" not in fixed.stdout + fixed.stderr
    manifest = directory / "env-backup" / ".env.sync" / "manifest"
    manifest.read_bytes().decode("utf-8")  # the manifest is UTF-8 text
    (directory / ".env.example").write_text(V2)
    data = _json(directory, "check")
    (pair,) = data["pairs"]
    assert pair["base"]["source"] == "record", pair["base"]
    assert _codes(pair) == [("ENV001", "D"), ("ENV004", "B")]


# --- which base the options name -------------------------------------------------------------

PAIR = {"base": "pair.env.example", "base_ref": None}
TOP = {"base": None, "base_ref": "v1"}


@pytest.mark.parametrize(
    ("command_line", "pair", "cfg", "expected"),
    [
        # --no-base wins over everything: two-way
        ((None, None, True), PAIR, TOP, (None, None)),
        # --base / --base-ref over the pair's and the configuration's
        (("cli.env.example", None, False), PAIR, TOP, ("cli.env.example", None)),
        ((None, "HEAD~1", False), PAIR, TOP, (None, "HEAD~1")),
        # nothing on the command line: the configured pair's own base
        ((None, None, False), PAIR, TOP, ("pair.env.example", None)),
        # a pair without one: the configuration's top-level base
        ((None, None, False), {}, TOP, (None, "v1")),
        ((None, None, False), {}, {}, (None, None)),
    ],
    ids=["no-base", "base", "base-ref", "pair", "top-level", "none"],
)
def test_which_base_the_options_name(
    command_line: tuple[str | None, str | None, bool],
    pair: dict[str, object],
    cfg: dict[str, object],
    expected: tuple[object, object],
) -> None:
    named = base.named_base(*command_line)
    assert base.option_base(named, pair, cfg) == expected
