"""The text report for people (DESIGN 14): the grouped screenful, ``-v`` and ``-q``, the
``next:`` block, and what fix says it did. Reporter units, then whole CLI runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_run import run

from envsync_hook.findings import (
    ANALYSIS_TEXT,
    SECRET_TIES,
    FixActions,
    PairResult,
    make_finding,
)
from envsync_hook.reporters import ReportOptions, text

OPTS = ReportOptions(fail_on="error", color=False, version="0")


def render(results: list[PairResult], **options: Any) -> list[str]:
    return text.render(results, OPTS._replace(**options)).splitlines()


def missing(key: str, line: int) -> Any:
    return make_finding("ENV001", key, "t", line, "missing from the env file; fix adds it")


def extra(key: str, line: int, message: str = "no template defines it") -> Any:
    return make_finding("ENV002", key, "e", line, message)


def changed(key: str, line: int) -> Any:
    return make_finding("ENV003", key, "t", line, "differs", analysis="numeric-increase")


# --- the grouped screenful --------------------------------------------------------------------


def test_small_groups_are_finding_lines_under_a_counted_header() -> None:
    pair = PairResult("t", "e", (missing("A", 1), missing("B", 2), extra("X", 9)))
    assert render([pair]) == [
        "t -> e: no base (two-way)",
        "ENV001 missing-key: 2 errors: missing from the env file; fix adds it",
        "t:1: ENV001 missing-key A: missing from the env file; fix adds it",
        "t:2: ENV001 missing-key B: missing from the env file; fix adds it",
        "e:9: ENV002 extra-key X: no template defines it",
        "next:",
        "  envsync fix  # adds 2 missing keys",
        "2 errors, 1 warning, 0 info in 1 pair (fail-on: error)",
    ]


def test_a_long_group_with_one_message_packs_its_keys_and_lists_every_one() -> None:
    keys = [f"SOME_RATHER_LONG_KEY_{i:03d}" for i in range(40)]
    pair = PairResult("t", "e", tuple(missing(k, i + 1) for i, k in enumerate(keys)))
    lines = render([pair], width=80)
    assert lines[1] == "ENV001 missing-key: 40 errors: missing from the env file; fix adds it"
    packed = lines[2 : lines.index("next:")]
    assert packed[0].startswith("  t: SOME_RATHER_LONG_KEY_000 (1), ")
    assert all(len(line) <= 80 for line in packed)
    assert all(line.startswith("    ") for line in packed[1:])
    listed = re.findall(r"(SOME_RATHER_LONG_KEY_\d+) \((\d+)\)", " ".join(packed))
    assert listed == [(k, str(i + 1)) for i, k in enumerate(keys)]
    assert len(packed) <= len(keys) // 2


def test_a_long_run_of_warnings_takes_three_lines_and_counts_the_rest() -> None:
    findings = tuple(extra(f"SOME_RATHER_LONG_EXTRA_KEY_{i:03d}", i) for i in range(1, 41))
    lines = render([PairResult("t", "e", findings)])
    packed = lines[2:-1]  # (between the group's header and the summary)
    assert len(packed) == 3
    shown = len(re.findall(r"SOME_RATHER_LONG_EXTRA_KEY_\d+ \(\d+\)", " ".join(packed)))
    assert packed[-1].endswith(f" and {40 - shown} more (-v lists them)")
    # errors are never cut short
    errors = tuple(missing(f"SOME_RATHER_LONG_KEY_{i:03d}", i) for i in range(1, 41))
    listed = render([PairResult("t", "e", errors)])
    assert len(re.findall(r"SOME_RATHER_LONG_KEY_\d+ \(\d+\)", "\n".join(listed))) == 40


def test_a_packed_group_with_several_messages_names_each() -> None:
    findings = tuple(extra(f"OLD_{i}", i, "removed") for i in range(1, 5)) + tuple(
        extra(f"MINE_{i}", 10 + i, "operator-only") for i in range(1, 6)
    )
    lines = render([PairResult("t", "e", findings)])
    assert lines[1] == "ENV002 extra-key: 9 warnings"
    assert lines[2:6] == [
        "  removed:",
        "  e: OLD_1 (1), OLD_2 (2), OLD_3 (3), OLD_4 (4)",
        "  operator-only:",
        "  e: MINE_1 (11), MINE_2 (12), MINE_3 (13), MINE_4 (14), MINE_5 (15)",
    ]


def test_info_is_one_count_line_per_code_and_v_names_it() -> None:
    pair = PairResult("t", "e", tuple(changed(f"K{i}", i) for i in range(1, 4)))
    lines = render([pair])
    assert lines[1] == (
        "ENV003 changed-default: 3 info: values that differ from the template default "
        "(fix keeps them)"
    )
    assert not any(line.startswith("t:") for line in lines)
    assert lines[-2] == "  envsync check -v  # every finding, one a line"
    assert lines[-1] == "0 errors, 0 warnings, 3 info in 1 pair (fail-on: error)"
    verbose = render([pair], verbosity=1)
    assert verbose == [lines[0]] + [text.format_finding(f) for f in pair.findings] + [lines[-1]]


def test_quiet_prints_errors_and_the_summary_only() -> None:
    pair = PairResult("t", "e", (missing("A", 1), extra("X", 9), changed("C", 3)))
    assert render([pair], verbosity=-1) == [
        "t:1: ENV001 missing-key A: missing from the env file; fix adds it",
        "1 error, 1 warning, 1 info in 1 pair (fail-on: error)",
    ]


def test_a_pair_in_sync_says_so_in_its_header() -> None:
    assert render([PairResult("t", "e", ())]) == [
        "t -> e: no base (two-way); in sync",
        "0 errors, 0 warnings, 0 info in 1 pair (fail-on: error)",
    ]


def test_two_way_opt_ins_are_counted_not_listed() -> None:
    lines = render([PairResult("t", "e", (), offers=3)])
    assert (
        "the template offers 3 optional settings (commented out) that the env file does not set"
        in lines
    )


# --- next: ------------------------------------------------------------------------------------

SYNTAX = make_finding("ENV007", "", "e", 53, "Docker Compose rejects this line")
STALE = make_finding(
    "ENV004", "W", "t", 4, "...; fix takes the new default", analysis="text-change"
)
CONFLICT = make_finding("ENV005", "C", "t", 5, "...", analysis="url-change")
LOOSE = make_finding("ENV011", "", "e", 1, "mode 0644")
#: ENV013's message for a key whose value is its own (fix takes --generate-secrets KEY alone)
PUBLISHED = "published; set a fresh value (envsync fix --generate-secrets KEY makes one; ...)"
NO_ENV = make_finding("ENV012", "", "t", 1, "does not exist")

SHOW_1 = "envsync check --show-values --also 'x/*.env'  # see the 1 changed default side by side"
NEXT_CASES = [
    ("nothing found", (), {}, []),
    (
        "missing and stale",
        (missing("A", 1), missing("B", 2), STALE),
        {},
        [
            "envsync fix --also 'x/*.env'  # adds 2 missing keys, updates 1 stale default",
            SHOW_1,
        ],
    ),
    (
        "syntax first; fix refuses",
        (SYNTAX, missing("A", 1)),
        {},
        ["edit e:53  # Docker Compose rejects this file; fix refuses until then"],
    ),
    (
        "changed defaults without a base",
        (changed("A", 1),),
        {},
        [
            SHOW_1,
            "envsync check --base OLD.env.example --also 'x/*.env'  # the previous template tells "
            "stale defaults from your changes",
            "envsync check -v --also 'x/*.env'  # every finding, one a line",
        ],
    ),
    (
        "a conflict with values shown",
        (CONFLICT,),
        {"show_values": True},
        [
            "envsync fix --take-template KEY --also 'x/*.env'  # take the new default for a "
            "conflict you reviewed"
        ],
    ),
    (
        "loose mode, no env file",
        (LOOSE, NO_ENV),
        {},
        [
            "envsync fix --also 'x/*.env'  # creates e from the template",
            "chmod 600 e  # only you may read it (ENV011)",
        ],
    ),
    (
        "published secrets: only the template's (not a key kept at the end of the env file)",
        (
            make_finding("ENV013", "ZETA_KEY", "e", 9, PUBLISHED),
            make_finding("ENV013", "DB_PASSWORD", "t", 4, PUBLISHED),
            make_finding("ENV013", "API_KEY", "t", 8, PUBLISHED),
        ),
        {},
        [
            "envsync fix --generate-secrets DB_PASSWORD --also 'x/*.env'  # a fresh value for a "
            "published secret (and the other 1 the template assigns); a database password "
            "changes in the database too"
        ],
    ),
    (
        "published secrets only at the end of the env file: no suggestion",
        (make_finding("ENV013", "ZETA_KEY", "e", 9, PUBLISHED),),
        {},
        [],
    ),
    (
        "one published secret, after fix",
        (make_finding("ENV013", "SECRET_KEY", "t", 4, PUBLISHED),),
        {"command": "fix"},
        [
            "envsync fix --generate-secrets SECRET_KEY --also 'x/*.env'  # a fresh value for a "
            "published secret; a database password changes in the database too"
        ],
    ),
    (
        "more than three: the first three",
        (missing("A", 1), LOOSE, changed("B", 2)),
        {},
        [
            "envsync fix --also 'x/*.env'  # adds 1 missing key",
            "chmod 600 e  # only you may read it (ENV011)",
            SHOW_1,
        ],
    ),
]


@pytest.mark.parametrize(
    ("findings", "options", "expected"),
    [c[1:] for c in NEXT_CASES],
    ids=[c[0] for c in NEXT_CASES],
)
def test_next_steps(
    findings: tuple[Any, ...], options: dict[str, Any], expected: list[str]
) -> None:
    also = "--also 'x/*.env'"
    lines = render([PairResult("t", "e", findings)], rerun=also, **options)
    if not expected:
        assert "next:" not in lines
        return
    at = lines.index("next:")
    assert lines[at + 1 : -1] == [f"  {step}" for step in expected]


# --- what fix says ----------------------------------------------------------------------------

ACTIONS = FixActions(
    added=("A", "B"),
    updated=("W",),
    kept=3,
    trailing=("X", "Y"),
    dropped=("OLD",),
    conflicts=("C1", "C2"),
    backup="env-backup/.env.backup_20260101_000000",
    relocated=1,
)

ACCOUNT_CASES = [
    (
        "changed",
        ACTIONS,
        True,
        [
            ".env: updated (backup: env-backup/.env.backup_20260101_000000)",
            "  added 2 missing keys with the template default: A, B",
            "  updated 1 stale default to the new default: W",
            "  kept 3 values that differ from the template default",
            "  kept 2 keys at the end of the file (no template line assigns them; "
            "1 moved to another template)",
            "  dropped 1 key (the backup keeps it): OLD",
            "  review 2 keys (your value kept, the template default changed): C1, C2",
        ],
    ),
    (
        "dry run",
        ACTIONS._replace(backup="", dry_run=True, trailing=(), dropped=(), conflicts=()),
        True,
        [
            ".env: would change (dry run, nothing written)",
            "  would add 2 missing keys with the template default: A, B",
            "  would update 1 stale default to the new default: W",
            "  would keep 3 values that differ from the template default",
        ],
    ),
    (
        "dry run with every kind of line",
        ACTIONS._replace(backup="", dry_run=True, taken=("T",), duplicates=("D",)),
        True,
        [
            ".env: would change (dry run, nothing written)",
            "  would add 2 missing keys with the template default: A, B",
            "  would update 1 stale default to the new default: W",
            "  would take the template default for 1 key (--take-template): T",
            "  would keep 3 values that differ from the template default",
            "  would keep 2 keys at the end of the file (no template line assigns them; "
            "1 moved to another template)",
            "  would drop 1 key (the backup keeps it): OLD",
            "  would drop earlier assignments of 1 key set more than once (the backup keeps "
            "them): D",
            "  review 2 keys (your value would stay, the template default changed): C1, C2",
        ],
    ),
    ("in sync", FixActions(), False, [".env: in sync: nothing changed"]),
    (
        "created",
        FixActions(created=True),
        True,
        [".env: created from the template (mode 0600); review it"],
    ),
]


@pytest.mark.parametrize(
    ("actions", "changed_", "expected"),
    [c[1:] for c in ACCOUNT_CASES],
    ids=[c[0] for c in ACCOUNT_CASES],
)
def test_fix_account(actions: FixActions, changed_: bool, expected: list[str]) -> None:
    assert text.fix_account(".env", actions, changed_) == expected


# --- whole runs -------------------------------------------------------------------------------


def write(path: Path, data: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data, encoding="utf-8")
    os.chmod(path, 0o600)
    return path


TEMPLATE = "# app\nA=1\nB=2\nC=3\nD=http://new\n# OPT=1\n"
ENV = "A=1\nD=http://old\nMINE=x\n"

FIX_RUNS = [
    (
        "changed",
        [],
        1,
        [
            ".env.example -> .env: no base (two-way)",
            ".env: updated (backup: env-backup/.env.backup_*)",
            "  added 2 missing keys with the template default: B, C",
            "  kept 1 value that differs from the template default",
            "  kept 1 key at the end of the file (no template line assigns it)",
            ".env:9: ENV002 extra-key MINE: *",
        ],
    ),
    (
        "dry run",
        ["--dry-run"],
        1,
        [
            ".env.example -> .env: no base (two-way)",
            ".env: would change (dry run, nothing written)",
            "  would add 2 missing keys with the template default: B, C",
            "  would keep 1 value that differs from the template default",
            "  would keep 1 key at the end of the file (no template line assigns it)",
            ".env:3: ENV002 extra-key MINE: *",
        ],
    ),
]


def _matches(lines: list[str], patterns: list[str]) -> bool:
    return len(lines) >= len(patterns) and all(
        re.fullmatch(re.escape(p).replace(r"\*", ".*"), line) for p, line in zip(patterns, lines)
    )


@pytest.mark.parametrize(
    ("args", "rc", "expected"), [c[1:] for c in FIX_RUNS], ids=[c[0] for c in FIX_RUNS]
)
def test_fix_says_what_it_did(
    tmp_path: Path, args: list[str], rc: int, expected: list[str]
) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", ENV)
    proc = run(tmp_path, "fix", *args)
    assert proc.returncode == rc, proc.stderr
    lines = proc.stdout.splitlines()
    assert _matches(lines, expected), lines
    # the findings shown are those the merge leaves: no ENV001 for the keys it added
    assert "ENV001" not in proc.stdout
    assert lines[-1].startswith("0 errors, 1 warning, 1 info in 1 pair")


def test_a_second_fix_is_in_sync_and_exits_0(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", ENV)
    assert run(tmp_path, "fix").returncode == 1
    second = run(tmp_path, "fix")
    assert second.returncode == 0, second.stderr
    header, account = second.stdout.splitlines()[:2]
    # (the first fix left a sync record: the second compares with it as its base)
    assert header.startswith(".env.example -> .env: base from sync record: ")
    assert account == ".env: in sync: nothing changed"
    assert ", 1 changed" not in second.stdout.splitlines()[-1]


def test_verbose_fix_lists_the_remaining_findings(tmp_path: Path) -> None:
    write(tmp_path / ".env.example", TEMPLATE)
    write(tmp_path / ".env", ENV)
    proc = run(tmp_path, "fix", "-v", "--dry-run")
    codes = [line.split(" ")[1] for line in proc.stdout.splitlines()[1:-1]]
    assert codes == ["ENV002", "ENV003"]  # (by file: .env first)


def _findings_from_json(cwd: Path, *args: str) -> list[str]:
    report = json.loads(run(cwd, "check", *args, "--format", "json").stdout)
    out = []
    for pair in report["pairs"]:
        for f in pair["findings"]:
            where = f"{f['file']}:{f['line']}" if f["line"] else f["file"]
            key = f" {f['key']}" if f["key"] else ""
            out.append(f"{where}: {f['code']} {f['slug']}{key}: {f['message']}")
    return out


def _dify(corpus: Path, tmp: Path, old: str, new: str) -> Path:
    work = tmp / f"{old}-{new}"
    shutil.copytree(corpus / "dify" / new / "docker", work)
    for p in work.rglob("*"):
        os.chmod(p, 0o700 if p.is_dir() else 0o600)
    os.chmod(work, 0o700)
    shutil.copyfile(corpus / "dify" / old / "docker" / ".env.example", work / ".env")
    os.chmod(work / ".env", 0o600)
    return work


DIFY = [
    ("1.10.0", "1.14.1", ["--also", "envs/**/*.env.example"], 40),
    ("1.4.0", "1.14.0", [], 120),
]


@pytest.mark.parametrize(
    ("old", "new", "args", "budget"), DIFY, ids=[f"{c[0]}-{c[1]}" for c in DIFY]
)
def test_dify_upgrade_fits_a_screen_and_lists_every_error(
    corpus: Path, tmp_path: Path, old: str, new: str, args: list[str], budget: int
) -> None:
    work = _dify(corpus, tmp_path, old, new)
    default = run(work, "check", *args)
    verbose = run(work, "check", "-v", *args)
    assert default.returncode == verbose.returncode == 1
    lines = default.stdout.splitlines()
    assert len(lines) <= budget, len(lines)
    listed = _findings_from_json(work, *args)
    # -v: the pair's header, every finding, one a line, as the machine formats hold them, then
    # the summary
    assert verbose.stdout.splitlines()[0] == lines[0]
    assert verbose.stdout.splitlines()[1:-1] == listed
    assert verbose.stdout.splitlines()[-1] == lines[-1]
    # every error and warning is named in the screenful (packed as KEY (line))
    errors = [f for f in listed if re.search(r": ENV00[12] ", f)]
    assert errors
    for f in errors:
        m = re.match(r"^.+?:(\d+): \S+ \S+ (\S+):", f)
        assert m
        assert f"{m.group(2)} ({m.group(1)})" in default.stdout or f in lines, f
    n_missing = sum(1 for f in listed if " ENV001 " in f)
    n_changed = sum(1 for f in listed if " ENV003 " in f)
    rerun = " ".join(f"'{a}'" if "*" in a else a for a in args)
    rerun = f" {rerun}" if rerun else ""
    # published secrets (the .env is the old template copied): the primary template's (keys
    # kept at the end, moved to another template or removed, are not suggested)
    published = [
        (*m.groups(), f)
        for m, f in ((re.match(r"^(.+?):\d+: ENV013 \S+ (\S+):", f), f) for f in listed)
        if m and m.group(1) == ".env.example"
    ]
    assert len(published) > 5
    # (not a key whose value others share or hold, such as DB_PASSWORD inside Dify's
    # CELERY_BROKER_URL: fix refuses it alone)
    first = next(
        key for file, key, f in published if file == ".env.example" and not f.endswith(SECRET_TIES)
    )
    at = lines.index("next:")
    assert lines[at + 1 : -1] == [
        f"  envsync fix{rerun}  # adds {n_missing} missing keys",
        f"  envsync fix --generate-secrets {first}{rerun}  # a fresh value for a published "
        f"secret (and the other {len(published) - 1} the template assigns); a database "
        "password changes in the database too",
        f"  envsync check --show-values{rerun}  # see the {n_changed} changed defaults "
        "side by side",
    ]
    quiet = run(work, "check", "-q", *args).stdout.splitlines()
    assert quiet[-1] == lines[-1]
    assert all("ENV002" not in line and "->" not in line for line in quiet)


def test_next_never_repeats_generate_secrets_nor_offers_check_fix_options(tmp_path: Path) -> None:
    """Red-team (2nd pass) finding 8: after ``fix --generate-secrets K --prune``, ``next:``
    suggests neither ``check --prune`` (check refuses it) nor ``--generate-secrets K`` again
    (it would rotate the fresh value); with ``--env -`` no fix at all (fix cannot write a
    pipe)."""
    (tmp_path / ".env.example").write_text("A=1\nB=2\nAPI_KEY=published-1\nTOKEN=published-2\n")
    (tmp_path / ".env").write_text("A=5\nAPI_KEY=published-1\nTOKEN=published-2\nOLD=1\n")
    os.chmod(tmp_path / ".env", 0o600)
    proc = run(tmp_path, "fix", "--generate-secrets", "API_KEY", "--keep-stale", "--dry-run")
    steps = proc.stdout.split("next:\n", 1)[1].splitlines()[:-1]
    assert steps, proc.stdout
    # (a dry run wrote nothing: the fix that writes the change it showed has the same options,
    # --generate-secrets API_KEY included; no other step repeats it)
    write = [step for step in steps if step.endswith("# write the change shown above")]
    assert write == [
        "  envsync fix --generate-secrets API_KEY --keep-stale  # write the change shown above"
    ], steps
    assert all("--generate-secrets API_KEY" not in step for step in steps if step not in write)
    assert all("--keep-stale" not in step for step in steps if step.startswith("  envsync check"))
    piped = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "check", "--env", "-"],
        input=(tmp_path / ".env").read_text(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert piped.returncode == 1, piped.stderr
    steps = piped.stdout.split("next:\n", 1)[1].splitlines()[:-1]
    assert steps and not any(step.startswith("  envsync fix") for step in steps), steps
    fixed = run(tmp_path, "fix", "--generate-secrets", "API_KEY", "--keep-stale")
    steps = fixed.stdout.split("next:\n", 1)[1].splitlines()[:-1]
    assert steps and all("--generate-secrets API_KEY" not in step for step in steps), steps


def test_stale_defaults_pack_into_one_run_whatever_their_analysis() -> None:
    """A run of ENV004 whose messages differ only in the change analysis is one group line
    and one run of names (the analysis is per key in -v and with --show-values)."""
    msg = "holds the previous template's default, which the template changed ({}); fix takes it"
    analyses = ["numeric-increase", "text-change", "empty-to-value", "text-change", "url-change"]
    findings = tuple(
        make_finding(
            "ENV004",
            f"K{n}",
            "t",
            n + 1,
            msg.format(ANALYSIS_TEXT[a]),
            analysis=a,
        )
        for n, a in enumerate(analyses)
    )
    lines = render([PairResult("t", "e", findings)])
    assert lines[1] == (
        "ENV004 stale-default: 5 warnings: holds the previous template's default, which the "
        "template changed; fix takes it"
    )
    assert lines[2] == "  t: K0 (1), K1 (2), K2 (3), K3 (4), K4 (5)"
    verbose = render([PairResult("t", "e", findings)], verbosity=1)
    for a in analyses:
        assert any(ANALYSIS_TEXT[a] in line for line in verbose)


def test_next_base_suggestion_drops_no_base(tmp_path: Path) -> None:
    """After ``check --no-base``, the suggested ``--base`` run is one argparse accepts (the two
    options exclude each other), and it runs."""
    (tmp_path / ".env.example").write_text("A=1\nB=2\n", encoding="utf-8")
    (tmp_path / ".env").write_text("A=1\nB=3\n", encoding="utf-8")
    os.chmod(tmp_path / ".env", 0o600)
    proc = run(tmp_path, "check", "--no-base")
    steps = [
        x.split("  #")[0].strip() for x in proc.stdout.splitlines() if x.startswith("  envsync")
    ]
    base = [s for s in steps if "--base OLD.env.example" in s]
    assert base and "--no-base" not in base[0], steps
    (tmp_path / "OLD.env.example").write_text("A=1\nB=3\n", encoding="utf-8")
    again = run(tmp_path, *base[0].split()[1:])
    assert again.returncode in (0, 1), again.stderr
