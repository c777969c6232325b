"""Red-team findings left from the previous session, each through the CLI as an operator runs
it (real subprocesses in a temporary folder): ``--prune`` and relocated keys, the report of a
first-time setup, ``--take-template`` with ``--generate-secrets``, notices of several lines,
the operator's comments above template keys, and what ``next:`` suggests after an upgrade.

No expected output holds a value: the values the tests plant are compared in the files only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from envsync_hook import compose_values
from envsync_hook.compare import compare, index
from envsync_hook.document import parse
from envsync_hook.merge import MergeError, merged, own_comments
from envsync_hook.settings import Settings
from tests.cli_run import run


def write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def values(path: Path) -> dict[str, str]:
    """What Docker Compose reads from ``path`` (an empty environment)."""
    return compose_values(path.read_text(encoding="utf-8"), environ={})


# --- 1. --prune keeps keys that another template of the set defines ---------------------------


class PruneCase(NamedTuple):
    id: str
    base: str | None  # the previous primary template (None: two-way)
    env: str
    args: tuple[str, ...]
    #: what Compose reads from the .env after fix
    after: dict[str, str]
    #: key -> words of its finding in ``check`` (which has no ``--prune``)
    words: dict[str, str]


#: the primary template keeps A; MOVED_* moved to envs/api.env.example; GONE left the set
PRUNE_TEMPLATE = "A=1\n"
PRUNE_API = "MOVED_URL=http://api:5001\nMOVED_WORKERS=4\nMOVED_SECRET_KEY=\n"
PRUNE_BASE = (
    "A=1\nMOVED_URL=http://old:5001\nMOVED_WORKERS=1\nMOVED_SECRET_KEY=sk-old-default\nGONE=g\n"
)
PRUNE_ENV = (
    "A=1\nMOVED_URL=http://mine:8080\nMOVED_WORKERS=1\nMOVED_SECRET_KEY=sk-old-default\n"
    "GONE=g\nMINE=x\n"
)

PRUNE_CASES = [
    PruneCase(
        "two-way --prune: moved keys kept, own key dropped",
        None,
        PRUNE_ENV,
        ("--prune",),
        {
            "A": "1",
            "MOVED_URL": "http://mine:8080",
            "MOVED_WORKERS": "1",
            "MOVED_SECRET_KEY": "sk-old-default",
        },
        {"MOVED_URL": "the env file's value still applies and fix keeps it"},
    ),
    PruneCase(
        "three-way --prune: customised moved key kept, old defaults dropped, secret kept",
        PRUNE_BASE,
        PRUNE_ENV,
        ("--prune",),
        {"A": "1", "MOVED_URL": "http://mine:8080", "MOVED_SECRET_KEY": "sk-old-default"},
        {
            "MOVED_URL": "customised; the env file's value still applies and fix keeps it",
            "MOVED_WORKERS": "so fix drops it",
            "MOVED_SECRET_KEY": "keeps it at the end of the file",
            "GONE": "so fix drops it",
        },
    ),
    PruneCase(
        "three-way without --prune: the same for moved keys, own key kept",
        PRUNE_BASE,
        PRUNE_ENV,
        (),
        {
            "A": "1",
            "MOVED_URL": "http://mine:8080",
            "MOVED_SECRET_KEY": "sk-old-default",
            "MINE": "x",
        },
        {"MOVED_URL": "fix keeps it", "MOVED_WORKERS": "so fix drops it", "MINE": "keeps it"},
    ),
]


@pytest.mark.parametrize("case", PRUNE_CASES, ids=[c.id for c in PRUNE_CASES])
def test_prune_drops_only_keys_no_template_of_the_set_defines(
    tmp_path: Path, case: PruneCase
) -> None:
    """Red-team: ``fix --prune`` dropped relocated keys (ENV008), customised ones too, although
    a template of the set defines them and their new env file (``envs/api.env``) does not
    exist yet: the customised value vanished from the container."""
    write(tmp_path / ".env.example", PRUNE_TEMPLATE)
    write(tmp_path / "envs" / "api.env.example", PRUNE_API)
    write(tmp_path / ".env", case.env)
    args = ["--also", "envs/*.env.example", *case.args]
    if case.base is not None:
        write(tmp_path / "old.env.example", case.base)
        args += ["--base", "old.env.example"]
    else:
        args.append("--no-base")
    check = run(tmp_path, "check", "--format", "json", *[a for a in args if a != "--prune"])
    messages = {
        f["key"]: f["message"]
        for p in json.loads(check.stdout)["pairs"]
        for f in p["findings"]
        if f["key"]
    }
    for key, words in case.words.items():
        assert words in messages[key], (key, messages[key])
    fix = run(tmp_path, "fix", *args)
    assert fix.returncode == 1, fix.stderr
    assert values(tmp_path / ".env") == case.after
    again = run(tmp_path, "fix", *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" in again.stdout


# --- 2. the report of a first-time setup says what remains, as check does right after ----------


def findings_of(stdout: str) -> list[tuple[str, str, str, int, str]]:
    """(code, key, file, line, severity) of every finding of a JSON report."""
    report = json.loads(stdout)
    return sorted(
        (f["code"], f["key"], f["file"], f["line"], f["severity"])
        for p in report["pairs"]
        for f in p["findings"]
    )


#: a template publishing two secrets, with an opt-in and a loose backup directory's worth of
#: nothing: what check says right after setup is ENV013 (and ENV003 for a fresh secret)
SETUP_TEMPLATE = (
    "APP_URL=http://localhost\nSECRET_KEY=sk-published-0123456789abcdef\n"
    "DB_PASSWORD=difyai123456\n# OPT_IN=1\n"
)

SETUP_CASES: list[tuple[str, tuple[str, ...], set[str]]] = [
    ("plain fix", (), {"ENV013"}),
    ("a fresh secret for one of them", ("--generate-secrets", "SECRET_KEY"), {"ENV013", "ENV003"}),
    ("two-way", ("--no-base",), {"ENV013"}),
]


@pytest.mark.parametrize(
    ("args", "codes"), [c[1:] for c in SETUP_CASES], ids=[c[0] for c in SETUP_CASES]
)
def test_first_time_setup_reports_what_check_finds_right_after(
    tmp_path: Path, args: tuple[str, ...], codes: set[str]
) -> None:
    """Red-team: fix creating a missing .env reported ENV012 (resolved by the creation) and
    none of the findings a check gives right after (ENV013 for the published secrets)."""
    write(tmp_path / ".env.example", SETUP_TEMPLATE)
    fix = run(tmp_path, "fix", "--format", "json", *args)
    assert fix.returncode == 1, fix.stderr
    assert (tmp_path / ".env").exists()
    check_args = [a for a in args if a != "--generate-secrets" and a != "SECRET_KEY"]
    check = run(tmp_path, "check", "--format", "json", *check_args)
    after = findings_of(fix.stdout)
    assert after == findings_of(check.stdout)
    assert {f[0] for f in after} == codes
    text = run(tmp_path, "check", *check_args).stdout
    assert "ENV012" not in text
    # the text report of the setup itself: no ENV012, the published secret named
    write(tmp_path / "again" / ".env.example", SETUP_TEMPLATE)
    setup = run(tmp_path / "again", "fix", *args)
    assert "ENV012" not in setup.stdout
    assert "ENV013 default-secret DB_PASSWORD" in setup.stdout
    assert "difyai123456" not in setup.stdout + setup.stderr


# --- 3. --take-template K --generate-secrets K: the report says what was written -------------


class FreshCase(NamedTuple):
    id: str
    base: str | None
    env: str
    args: tuple[str, ...]
    #: words of the account lines that must not name SECRET_KEY (they say another value was
    #: written)
    not_under: tuple[str, ...]


FRESH_TEMPLATE = "A=1\nSECRET_KEY=sk-new-published-0123456789\n"
FRESH_CASES = [
    FreshCase(
        "--take-template and --generate-secrets name the key",
        None,
        "A=1\nSECRET_KEY=mycustomsecretvalue12345\n",
        ("--take-template", "SECRET_KEY", "--generate-secrets", "SECRET_KEY", "--no-base"),
        ("took the template default", "kept 1 value"),
    ),
    FreshCase(
        "wildcards for both",
        None,
        "A=2\nSECRET_KEY=mycustomsecretvalue12345\n",
        ("--take-template", "*", "--generate-secrets", "*", "--no-base"),
        ("took the template default", "kept 1 value"),
    ),
    FreshCase(
        "a missing key added, then given a fresh value",
        None,
        "A=1\n",
        ("--generate-secrets", "SECRET_KEY", "--no-base"),
        ("added 1 missing key",),
    ),
    FreshCase(
        "a stale secret (kept, to review) given a fresh value",
        "A=1\nSECRET_KEY=sk-old-published-0123456789\n",
        "A=1\nSECRET_KEY=sk-old-published-0123456789\n",
        ("--generate-secrets", "SECRET_KEY"),
        ("review 1 key",),
    ),
]


@pytest.mark.parametrize("case", FRESH_CASES, ids=[c.id for c in FRESH_CASES])
def test_fresh_secret_reported_as_written(tmp_path: Path, case: FreshCase) -> None:
    """Red-team: ``--take-template K --generate-secrets K`` wrote a fresh random value and
    reported "took the template default". ``--generate-secrets`` runs on the merged text, so
    its value is the one written: the account names the key under it, and nowhere else."""
    write(tmp_path / ".env.example", FRESH_TEMPLATE)
    write(tmp_path / ".env", case.env)
    args = list(case.args)
    if case.base is not None:
        write(tmp_path / "old.env.example", case.base)
        args += ["--base", "old.env.example"]
    before = values(tmp_path / ".env").get("SECRET_KEY")
    fix = run(tmp_path, "fix", *args)
    assert fix.returncode == 1, fix.stderr
    lines = fix.stdout.splitlines()
    fresh = [line for line in lines if "a fresh random value (--generate-secrets)" in line]
    assert len(fresh) == 1 and fresh[0].endswith(": SECRET_KEY"), fix.stdout
    for words in case.not_under:
        assert not [line for line in lines if words in line and "SECRET_KEY" in line], fix.stdout
    written = values(tmp_path / ".env")["SECRET_KEY"]
    assert written not in (before, "sk-new-published-0123456789")
    assert written not in fix.stdout + fix.stderr
    if before:
        assert before not in fix.stdout + fix.stderr


# --- 4. a notice of several lines: each line printed, and escaped, on its own -----------------


def test_notice_lines_are_separate_and_a_path_cannot_forge_one(tmp_path: Path) -> None:
    """Red-team: fix with a base and a ``--generate-secrets`` pattern that matches nothing
    printed its two notices as one line with a literal ``\\n`` between them (the whole message
    was escaped, so that a newline in a path could not forge a line). Each line is printed and
    escaped on its own now: the folder's newline stays ``\\n`` inside its line."""
    folder = tmp_path / "app\nenvsync: error: forged"
    write(folder / ".env.example", "A=1\nB=2\n")
    write(folder / "old.env.example", "A=1\nB=1\n")
    write(folder / ".env", "A=1\nB=1\n")
    options = [
        str(folder / ".env.example"),
        "--env",
        str(folder / ".env"),
        "--base",
        str(folder / "old.env.example"),
        "--generate-secrets",
        "NO_SUCH_KEY",
    ]
    fix = run(tmp_path, "fix", *options)
    assert fix.returncode == 1, fix.stderr
    lines = fix.stderr.splitlines()
    assert not [line for line in lines if line.startswith("envsync: error: forged")]
    updated = [line for line in lines if ": updated from " in line]
    warned = [line for line in lines if line.startswith("envsync: warning: ")]
    assert len(updated) == 1 and len(warned) == 1, fix.stderr
    assert "app\\nenvsync: error: forged" in updated[0]
    assert "--generate-secrets 'NO_SUCH_KEY'" in warned[0]
    assert "\\nenvsync: warning" not in fix.stderr
    # under --quiet the warning still shows, on its own line
    write(folder / ".env", "A=1\nB=1\n")
    quiet = run(tmp_path, "fix", "-q", *options)
    assert [line for line in quiet.stderr.splitlines() if line] == warned, quiet.stderr


# --- 5. the operator's own comment lines above template keys ----------------------------------


class CommentCase(NamedTuple):
    id: str
    base: str | None  # the previous template (None: --no-base)
    template: str
    env: str
    after: str  # the env file after fix
    #: the line numbers the notice names as not kept (empty: no notice)
    lost: tuple[int, ...]


COMMENT_CASES = [
    CommentCase(
        "above a key moved up so that its reference reads as before: moves with it",
        "A=1\nB=${A}\n",
        "A=1\nB=${A}\nC=3\n",
        "# note B\nB=${A}x\nA=2\n",
        "# note B\nB=${{A}}x\nA=2\nC=3\n",
        (),
    ),
    CommentCase(
        "moved up below a template comment: the own line moves, the template's stays",
        "A=1\n# about B\nB=${A}\n",
        "A=1\n# about B\nB=${A}\nC=3\n",
        "# about B\n# note B\nB=${A}x\nA=2\n",
        "# note B\nB=${{A}}x\nA=2\n# about B\nC=3\n",
        (),
    ),
    CommentCase(
        "above a kept value, a stale default and the end block's key",
        "# the app\nA=1\nB=old\n",
        "# the app\nA=1\n# about B\nB=new\n",
        "# the app\n# ticket 42: raised\nA=5\n# mine on B\nB=old\n# my own\nMINE=1\n",
        "# the app\n# ticket 42: raised\nA=5\n# about B\n# mine on B\nB=new\n\n{marker}\n"
        "# my own\nMINE=1\n",
        (),
    ),
    CommentCase(
        "above an opt-in the operator sets",
        "A=1\n# OPT=1\n",
        "A=1\n# OPT=1\nC=3\n",
        "A=1\n# why we turned it on\nOPT=2\n",
        "A=1\n# OPT=1\n# why we turned it on\nOPT=2\nC=3\n",
        (),
    ),
    CommentCase(
        "the base's own comment is the template's, reworded: not kept twice",
        "# the old words\nA=1\n",
        "# the new words\nA=1\n",
        "# the old words\nA=2\n",
        "# the new words\nA=2\n",
        (),
    ),
    CommentCase(
        "the template's comment, indented otherwise and with trailing blanks: not kept twice",
        "A=1\n",
        "    # about A\nA=1\n",
        "# about A  \t\nA=2\n",
        "    # about A\nA=2\n",
        (),
    ),
    CommentCase(
        "above a key fix drops, and above a blank line: named in the notice",
        "A=1\nGONE=g\n",
        "A=1\n",
        "A=1\n# about gone\nGONE=g\n# a stray note\n\n",
        "A=1\n",
        (2, 4),
    ),
    CommentCase(
        "above the earlier assignment of a duplicate: named in the notice",
        "A=1\n",
        "A=1\n",
        "# first try\nA=2\n# second try\nA=3\n",
        "# second try\nA=3\n",
        (1,),
    ),
    CommentCase(
        "a CRLF template: the kept line ends as the template's lines",
        "A=1\r\n",
        "# about A\r\nA=1\r\n",
        "# mine\nA=2\n",
        "# about A\r\n# mine\r\nA=2\r\n",
        (),
    ),
    CommentCase(
        "no base: nothing kept (an earlier release's comment would pass for yours)",
        None,
        "# the new words\nA=1\n",
        "# the old words\nA=2\n",
        "# the new words\nA=2\n",
        (1,),
    ),
]


@pytest.mark.parametrize("case", COMMENT_CASES, ids=[c.id for c in COMMENT_CASES])
def test_own_comment_lines_above_template_keys(tmp_path: Path, case: CommentCase) -> None:
    """Red-team: an operator's comment line right above a template key in .env was dropped by
    fix without a word (only the backup had it). With a base, fix keeps it right above the
    key (after the template's own comments there); what it cannot keep, and every such line
    without a base, the notice names by line number (never its text)."""
    write(tmp_path / ".env.example", case.template)
    write(tmp_path / ".env", case.env)
    args = ["--no-base"]
    if case.base is not None:
        write(tmp_path / "old.env.example", case.base)
        args = ["--base", "old.env.example"]
    fix = run(tmp_path, "fix", *args)
    assert fix.returncode == 1, fix.stderr
    after = (tmp_path / ".env").read_bytes().decode("utf-8")
    marker = next((line for line in after.splitlines() if line.startswith("# envsync:")), "")
    assert after == case.after.format(marker=marker)
    notices = [line for line in fix.stderr.splitlines() if "comment line" in line]
    if case.lost:
        shown = ", ".join(map(str, case.lost))
        assert (
            len(notices) == 1
            and f"(line{'s' if len(case.lost) > 1 else ''} {shown}" in (notices[0])
        ), fix.stderr
        assert ("of yours" in notices[0]) == (case.base is not None)
        for line in case.env.splitlines():
            if line.startswith("#"):
                assert line[2:] not in fix.stderr  # (line numbers, never the text)
    else:
        assert not notices, fix.stderr
    again = run(tmp_path, "fix", *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / ".env").read_bytes().decode("utf-8") == after


_KEYS = ("A", "B", "C", "OPT")
_VALUES = ("1", "2", "", "'q'", '"x y"', "${A}", "${B:-d}", "v # note")
_COMMENTS = ("# t1", "# t2", "# b1", "# mine", "  # mine indented", "# mine 2 ", "# A=9", "#")
_stmt = st.builds(lambda k, v: f"{k}={v}", st.sampled_from(_KEYS), st.sampled_from(_VALUES))
_commented_stmt = st.builds(lambda c, s: f"{c}\n{s}", st.sampled_from(_COMMENTS), _stmt)
_line = st.one_of(
    _stmt, _commented_stmt, _commented_stmt, st.sampled_from(_COMMENTS), st.just("# OPT=1")
)
_template_line = st.one_of(_stmt, _stmt, st.sampled_from(("# t1", "# t2", "# OPT=1", "", "# A=9")))
_base_line = st.one_of(_stmt, st.sampled_from(("# b1", "# t1", "")))


def _texts(line: st.SearchStrategy[str], most: int = 8) -> st.SearchStrategy[str]:
    return st.lists(line, max_size=most).map(lambda ls: "".join(x + "\n" for x in ls))


def _read_all(text: str) -> list[dict[str, str]]:
    """What Compose reads from ``text`` in an empty environment and in one that sets the
    names the lines reference."""
    return [compose_values(text, environ=e) for e in ({}, {"A": "env-a", "B": "env-b"})]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=_texts(_template_line), env=_texts(_line), base=_texts(_base_line))
def test_kept_comments_change_nothing_compose_reads_and_fix_stays_idempotent(
    tmp_path_factory: pytest.TempPathFactory, template: str, env: str, base: str
) -> None:
    """Property: the merge that keeps the operator's own comment lines reads, for Compose,
    exactly as the merge without them (in two environments), succeeds whenever that one does,
    and fix through the CLI is idempotent (a second run changes nothing, no new backup)."""
    assume(not any(parse(x).errors for x in (template, env, base)))
    t, e, b = (index(n, parse(x)) for n, x in (("t", template), (".env", env), ("b", base)))
    c = compare(t, e, Settings(), b)
    try:
        plain = merged(t, e, c, ".env.example")[0]
    except MergeError:
        return
    own = own_comments(t, e, c.decisions, (b,))
    kept = merged(t, e, c, ".env.example", own)[0]  # (raises if the comments broke it)
    assert _read_all(kept) == _read_all(plain)
    d = tmp_path_factory.mktemp("comments")
    write(d / ".env.example", template)
    write(d / "old.env.example", base)
    write(d / ".env", env)
    first = run(d, "fix", "--base", "old.env.example")
    assert first.returncode in (0, 1), first.stderr
    assert (d / ".env").read_text(encoding="utf-8") == kept
    snapshot = sorted(p.name for p in (d / "env-backup").iterdir()) if first.returncode else []
    second = run(d, "fix", "--base", "old.env.example")
    assert second.returncode == 0, second.stdout + second.stderr
    assert (d / ".env").read_text(encoding="utf-8") == kept
    if snapshot:
        assert sorted(p.name for p in (d / "env-backup").iterdir()) == snapshot


# --- 6. next: after an upgrade suggests --generate-secrets for this .env's own keys -----------

NEXT_TEMPLATE = (
    "A=1\nSECRET_KEY=sk-new-published-0123456789\nAPI_TOKEN=tok-published-abcdef012345\n"
)
NEXT_API = "MOVED_SECRET=moved-published-0123456789\n"
NEXT_BASE = (
    "A=1\nSECRET_KEY=sk-old-published-0123456789\nAPI_TOKEN=tok-published-abcdef012345\n"
    "MOVED_SECRET=moved-published-0123456789\nGONE_PASSWORD=gone-published-0123456789\n"
)

#: (id, the .env, the suggestion's words after the first fix; None: no --generate-secrets)
NEXT_CASES: list[tuple[str, str, str | None]] = [
    (
        "template keys and keys kept at the end: only the template's counted",
        NEXT_BASE,
        "--generate-secrets SECRET_KEY --base old.env.example  # a fresh value for a published "
        "secret (and the other 1 the template assigns)",
    ),
    (
        "only keys kept at the end hold published defaults: nothing to suggest",
        "A=1\nSECRET_KEY=mine-0123456789abcdef\nAPI_TOKEN=mine-abcdef0123456789\n"
        "MOVED_SECRET=moved-published-0123456789\nGONE_PASSWORD=gone-published-0123456789\n",
        None,
    ),
]


@pytest.mark.parametrize(
    ("env", "words"), [c[1:] for c in NEXT_CASES], ids=[c[0] for c in NEXT_CASES]
)
def test_next_after_an_upgrade_names_the_templates_secrets(
    tmp_path: Path, env: str, words: str | None
) -> None:
    """Red-team: after the first fix of an upgrade, ``next:`` suggested ``--generate-secrets``
    for "the other 60 that you use": mostly keys moved to another template of the set (or
    removed) and kept at the end at their published default, never touched. It counts the
    keys the template assigns now; the others are still reported (ENV013)."""
    write(tmp_path / ".env.example", NEXT_TEMPLATE)
    write(tmp_path / "envs" / "api.env.example", NEXT_API)
    write(tmp_path / "old.env.example", NEXT_BASE)
    write(tmp_path / ".env", env)
    args = ("--also", "envs/*.env.example", "--base", "old.env.example")
    fix = run(tmp_path, "fix", *args)
    assert fix.returncode == 1, fix.stderr
    report = json.loads(run(tmp_path, "check", "--format", "json", *args).stdout)
    published = {f["key"] for p in report["pairs"] for f in p["findings"] if f["code"] == "ENV013"}
    assert {"MOVED_SECRET", "GONE_PASSWORD"} <= published  # (still reported)
    suggested = [line for line in fix.stdout.splitlines() if line.startswith("  envsync fix --gen")]
    if words is None:
        assert not suggested, fix.stdout
    else:
        assert (
            len(suggested) == 1
            and words.replace(
                "--base old.env.example", "--also 'envs/*.env.example' --base old.env.example"
            )
            in suggested[0]
        ), fix.stdout
    for value in ("published-0123456789", "abcdef012345"):
        assert value not in fix.stdout + fix.stderr


@pytest.mark.parametrize("preview", ["--dry-run", "--diff"])
def test_the_fix_that_writes_a_preview_keeps_generate_secrets(tmp_path: Path, preview: str) -> None:
    """Noticed on the way: after ``fix --dry-run --generate-secrets K``, ``next:`` suggested
    the fix that writes "the change shown above" without ``--generate-secrets K``, a different
    change (K not given a fresh value). After the real fix it is not suggested again."""
    write(tmp_path / ".env.example", FRESH_TEMPLATE)
    write(tmp_path / ".env", "A=1\nSECRET_KEY=sk-new-published-0123456789\n")
    args = ("--no-base", "--generate-secrets", "SECRET_KEY")
    shown = run(tmp_path, "fix", preview, *args)
    assert shown.returncode == 1, shown.stderr
    assert (
        "  envsync fix --no-base --generate-secrets SECRET_KEY  # write the change shown above"
        in (shown.stdout.splitlines())
    ), shown.stdout
    fix = run(tmp_path, "fix", *args)
    assert fix.returncode == 1, fix.stderr
    assert "--generate-secrets SECRET_KEY" not in fix.stdout


def test_next_suggests_generate_secrets_for_a_published_opt_in(tmp_path: Path) -> None:
    """Red team: an opt-in (the template offers ``# KEY=`` commented out) holding a published
    default is a key the services read; its ENV013 stands at the env file's line, and the
    filter by the template's file dropped its ``next:`` suggestion."""
    write(tmp_path / ".env.example", "# header\nWEB_USER=true\n# SMTP_PASSWORD=\nADDED_1=9681\n")
    write(tmp_path / "base.env.example", "WEB_USER=5082\nSMTP_PASSWORD=difyai123456\n")
    write(tmp_path / ".env", "WEB_USER=5082\nSMTP_PASSWORD=difyai123456\n")
    check = run(tmp_path, "check", "--base", "base.env.example")
    assert check.returncode == 1, check.stderr
    assert (
        "  envsync fix --generate-secrets SMTP_PASSWORD --base base.env.example  # a fresh value "
        "for a published secret;" in check.stdout
    ), check.stdout
    assert "difyai123456" not in check.stdout + check.stderr


@pytest.mark.parametrize("how", [("--dry-run",), ("--diff",), ()], ids=["dry-run", "diff", "fix"])
def test_fix_account_shows_odd_keys_by_line(tmp_path: Path, how: tuple[str, ...]) -> None:
    """Red team: a line of a pasted PEM, or a token after a closing quote, is read as a key;
    check shows it as ``<key on line N>``, but fix --prune's account named it as text."""
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    pem_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    write(tmp_path / ".env", f'A=1\nB=2\n{pem_line}\nC="x"s3cr3tTokenValue123=1\n')
    fix = run(tmp_path, "fix", "--prune", *how)
    assert fix.returncode == 1, fix.stderr
    dropped = [
        line for line in fix.stdout.splitlines() if "drop 3 keys" in line or "dropped 3" in line
    ]
    assert dropped and dropped[0].endswith(
        "(the backup keeps them): <key on line 3>, C, <key on line 4>"
    ), fix.stdout
    for secret in (pem_line, "s3cr3tTokenValue123"):
        assert secret not in fix.stdout + fix.stderr


def test_first_time_setup_names_no_base_it_did_not_use(tmp_path: Path) -> None:
    """Red team: after creating the env file, the header named the sync record this same run
    had just written as the base; the creation used none."""
    write(tmp_path / ".env.example", "A=1\nB=2\n")
    fix = run(tmp_path, "fix")
    assert fix.returncode == 1, fix.stderr
    header = fix.stdout.splitlines()[0]
    assert header == ".env.example -> .env: no base (two-way)", fix.stdout
    check = run(tmp_path, "check")
    assert "base from sync record" in check.stdout.splitlines()[0], check.stdout
