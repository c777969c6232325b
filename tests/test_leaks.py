"""No secret leaks: planted tokens never reach any output.

Fresh random tokens are planted in every position a value can take, in the env file, the
template and the base template: secret-named and innocent keys, URL passwords (also under an
innocent key name), multi-line values, a commented-out assignment, keys removed upstream, keys
renamed upstream, duplicates, defaults of a conflict and of a stale key, and lines with syntax
errors. Then ``check`` and ``fix`` run as real processes in every format, with the extra report
files (``--output``, ``--junit``, ``--json``, ``--sarif``), ``--diff``, ``--dry-run``, the
GitHub step summary, ``restore`` and the refusal messages, and no token may appear in stdout,
stderr or any file they wrote.

With ``--show-values`` the same runs may show innocent values, but never a value of a
secret-looking key, nor a password inside a URL.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

FORMATS = ["text", "json", "junit", "github", "sarif"]


class Planted(NamedTuple):
    token: str
    where: str
    secret: bool  #: still masked under --show-values


def _plant() -> tuple[dict[str, str], list[Planted]]:
    """The three files of a three-way pair, and every token planted in them."""
    planted: list[Planted] = []

    def tok(where: str, secret: bool) -> str:
        # letters a hex token cannot hold, so no finding text or number can match by chance
        t = f"qz{secrets.token_hex(10)}zq"
        planted.append(Planted(t, where, secret))
        return t

    base = (
        f"APP_NAME={tok('base default of an innocent key', False)}\n"
        f"OLD_KEY={tok('base default of a key removed upstream', False)}\n"
        f"OLD_NAME={(renamed := tok('value of a renamed key', False))}\n"
        f"STALE={(stale := tok('old default (stale in .env)', False))}\n"
        f"CONFLICT={tok('base default of a conflict', False)}\n"
        f"API_TOKEN={tok('base default of a secret key', True)}\n"
    )
    template = (
        "# the application\n"
        f"APP_NAME={tok('template default of an innocent key', False)}\n"
        f"DB_PASSWORD={tok('template default of a secret key', True)}\n"
        f"DATABASE_URL=postgres://app:{tok('URL password in the template', True)}@db:5432/app\n"
        f"NEW_NAME={renamed}\n"
        f"STALE={tok('new default of a stale key', False)}\n"
        f"CONFLICT={tok('new default of a conflict', False)}\n"
        f"API_TOKEN={tok('template default of a secret key (changed)', True)}\n"
        f"ADDED={tok('default of a key added upstream', False)}\n"
        'TLS_CERT="-----BEGIN CERTIFICATE-----\n'
        f"{tok('multi-line secret template default', True)}\n"
        '-----END CERTIFICATE-----"\n'
        f"# OPTIONAL_FEATURE={tok('commented-out template opt-in', False)}\n"
        f"GREETING='{tok('single-quoted innocent default', False)}'\n"
    )
    env = (
        f"# DB_PASSWORD={tok('commented-out old password in .env', True)}\n"
        f"APP_NAME={tok('customised innocent value', False)}\n"
        f"DB_PASSWORD={tok('secret value', True)}\n"
        f"DATABASE_URL=postgres://app:{tok('URL password', True)}@db:5432/app\n"
        f"SMTP_SERVER=smtp://me@example.com:{tok('URL password under an innocent key', True)}"
        "@mail:25\n"
        f"OLD_NAME={renamed}\n"
        f"STALE={stale}\n"
        f"CONFLICT={tok('customised conflict', False)}\n"
        f"OLD_KEY={tok('custom value of a key removed upstream', False)}\n"
        f"API_TOKEN={tok('secret value (conflict)', True)}\n"
        f"DUP={tok('first of a duplicate', False)}\n"
        f"DUP={tok('second of a duplicate', False)}\n"
        f"DUP_SECRET={tok('first of a duplicate secret', True)}\n"
        f"DUP_SECRET={tok('second of a duplicate secret', True)}\n"
        'TLS_CERT="-----BEGIN CERTIFICATE-----\n'
        f"{tok('multi-line secret value', True)}\n"
        '-----END CERTIFICATE-----"\n'
        f'NOTES="first line\n{tok("multi-line innocent value", False)}"\n'
        f"OPERATOR_ONLY={tok('operator-only innocent key', False)}\n"
        f"export EXPORTED_SECRET={tok('exported secret', True)}\n"
        f"INLINE_COMMENT={tok('value before a comment', False)} # a comment\n"
        f"REF=${{UNSET_VAR:-{tok('default inside an interpolation', False)}}}\n"
    )
    return {".env.example.old": base, ".env.example": template, ".env": env}, planted


def _plant_broken() -> tuple[dict[str, str], list[Planted]]:
    """A pair whose files hold syntax errors (check reports them, fix refuses)."""
    files, planted = _plant()
    extra: list[Planted] = []

    def tok(where: str, secret: bool) -> str:
        t = f"qz{secrets.token_hex(10)}zq"
        extra.append(Planted(t, where, secret))
        return t

    files[".env"] += (
        f"BAD KEY={tok('value on a line with a bad key', True)}\n"
        f"BROKEN_REF=${{{tok('malformed interpolation', True)}\n"
        f'UNCLOSED_PASSWORD="{tok("unterminated quoted secret", True)}\n'
        f"AFTER={tok('value swallowed by the open quote', True)}\n"
    )
    files[".env.example"] += f"TEMPLATE_BAD KEY={tok('template line with a bad key', True)}\n"
    return files, planted + extra


def _leaks(outputs: dict[str, str], planted: list[Planted], show_values: bool) -> list[str]:
    found = []
    for p in planted:
        if show_values and not p.secret:
            continue
        for probe in (p.token, p.token[:12], p.token[-12:]):  # also a truncated value
            for name, text in outputs.items():
                if probe in text:
                    found.append(
                        f"{p.where} ({'part of ' if probe != p.token else ''}token) in {name}"
                    )
                    break
            else:
                continue
            break
    return found


class Run(NamedTuple):
    id: str
    args: list[str]
    #: True: GITHUB_ACTIONS=true and a GITHUB_STEP_SUMMARY file
    github: bool = False


#: every report written to a file at once
REPORT_FILES = ["--output", "out.txt", "--junit", "r.xml", "--json", "r.json", "--sarif", "r.sarif"]

RUNS = [
    *(Run(f"check-{f}", ["check", "--base", ".env.example.old", "--format", f]) for f in FORMATS),
    Run("check-report-files", ["check", "--base", ".env.example.old", *REPORT_FILES]),
    Run("check-github-step-summary", ["check", "--base", ".env.example.old"], github=True),
    Run("check-fail-on-info", ["check", "--base", ".env.example.old", "--fail-on", "info"]),
    Run("check-no-base", ["check"]),
    Run("fix-diff", ["fix", "--base", ".env.example.old", "--diff"]),
    Run("fix-dry-run", ["fix", "--base", ".env.example.old", "--dry-run"]),
    *(Run(f"fix-{f}", ["fix", "--base", ".env.example.old", "--format", f]) for f in FORMATS),
    Run("fix-report-files", ["fix", "--base", ".env.example.old", *REPORT_FILES]),
    Run("fix-github-step-summary", ["fix", "--base", ".env.example.old"], github=True),
    Run("fix-prune-take-template", ["fix", "--prune", "--take-template", "CONFLICT"]),
]


def _run(d: Path, run: Run, show_values: bool) -> dict[str, str]:
    """Run in ``d``; every output: stdout, stderr and the files the run created."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    env["NO_COLOR"] = "1"
    summary = d.parent / f"{d.name}-summary.md"
    if run.github:
        env.update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    before = {p for p in d.rglob("*")}
    args = [*run.args, *(["--show-values"] if show_values else [])]
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", *args],
        cwd=d,
        env=env,
        capture_output=True,
        check=False,
    )
    assert b"Traceback" not in proc.stderr, proc.stderr.decode()
    outputs = {
        "stdout": proc.stdout.decode("utf-8", "replace"),
        "stderr": proc.stderr.decode("utf-8", "replace"),
    }
    if run.github:
        outputs["step summary"] = summary.read_text(encoding="utf-8")
        assert outputs["step summary"].strip()
    for p in sorted(set(d.rglob("*")) - before):
        if p.is_file() and "env-backup" not in p.parts:  # backups hold the values, rightly
            outputs[p.name] = p.read_text(encoding="utf-8", errors="replace")
    proc_code = proc.returncode
    outputs["exit code"] = str(proc_code)
    return outputs


def _build(d: Path, files: dict[str, str]) -> None:
    d.mkdir()
    for name, text in files.items():
        (d / name).write_bytes(text.encode("utf-8"))
        os.chmod(d / name, 0o600)


@pytest.mark.parametrize("show_values", [False, True], ids=["masked", "show-values"])
@pytest.mark.parametrize("run", RUNS, ids=[r.id for r in RUNS])
def test_no_planted_value_in_any_output(tmp_path: Path, run: Run, show_values: bool) -> None:
    files, planted = _plant()
    d = tmp_path / "deploy"
    _build(d, files)
    outputs = _run(d, run, show_values)
    assert outputs["exit code"] in ("0", "1"), outputs["stderr"]
    assert _leaks(outputs, planted, show_values) == []
    if run.args[0] != "fix" or {"--diff", "--dry-run", "--prune"} & set(run.args):
        return
    # the fix did happen (the test is not vacuous): every planted .env value is in the new file
    new = (d / ".env").read_text(encoding="utf-8")
    kept = [p for p in planted if p.token in files[".env"] and p.token not in new]
    assert not [
        p.where
        for p in kept
        if "removed" not in p.where
        and "duplicate" not in p.where
        and "commented" not in p.where
        and "stale" not in p.where
        and "conflict" not in p.where
    ]


@pytest.mark.parametrize("show_values", [False, True], ids=["masked", "show-values"])
@pytest.mark.parametrize(
    "args",
    [["check", "--format", f] for f in FORMATS]
    + [["fix"], ["fix", "--diff"], ["fix", "--dry-run"]],
    ids=[f"check-{f}" for f in FORMATS] + ["fix", "fix-diff", "fix-dry-run"],
)
def test_syntax_errors_are_reported_without_their_text(
    tmp_path: Path, args: list[str], show_values: bool
) -> None:
    files, planted = _plant_broken()
    d = tmp_path / "deploy"
    _build(d, files)
    outputs = _run(d, Run("broken", args), show_values)
    if args[0] == "check":
        assert outputs["exit code"] == "1"
        assert "ENV007" in outputs["stdout"]
    else:
        assert outputs["exit code"] == "2"
        assert outputs["stderr"].startswith("envsync: error: refusing to fix")
    assert _leaks(outputs, planted, show_values) == []


def test_restore_and_error_messages_name_no_value(tmp_path: Path) -> None:
    files, planted = _plant()
    d = tmp_path / "deploy"
    _build(d, files)
    outputs: dict[str, str] = {}
    for i, args in enumerate(
        [
            ["fix"],
            ["restore", "--list"],
            ["restore"],
            ["restore", "--from", ".env"],  # not a backup, but a readable file: restores it
            ["check", "--env", ".env.example.old"],
            ["check", "--base", ".env"],
            ["check", "--severity", "ENV003=loud"],
        ]
    ):
        for name, text in _run(d, Run(f"step{i}", args), False).items():
            outputs[f"{' '.join(args)}: {name}"] = text
    assert _leaks(outputs, planted, False) == []


def test_show_values_shows_innocent_values(tmp_path: Path) -> None:
    """--show-values does show something, so the masked runs above are not vacuous."""
    files, planted = _plant()
    d = tmp_path / "deploy"
    _build(d, files)
    masked = _run(d, Run("m", ["check", "--base", ".env.example.old"]), False)["stdout"]
    shown = _run(d, Run("s", ["check", "--base", ".env.example.old"]), True)["stdout"]
    innocent = [p.token for p in planted if not p.secret]
    assert not any(t in masked for t in innocent)
    assert any(t in shown for t in innocent), shown


def test_tokens_are_unique() -> None:
    _, planted = _plant_broken()
    tokens = [p.token for p in planted]
    assert len(set(tokens)) == len(tokens) >= 30
