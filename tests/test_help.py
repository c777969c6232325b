"""Help that teaches: every subcommand's ``--help`` has a description, examples and the exit
codes, every argument is described; ``rules`` and ``explain`` cover every code of the rule table,
and the example of each explanation is what ``check -v`` really prints for it; a mistyped
option or command gets the nearest one suggested."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run

from envsync_hook import cli
from envsync_hook.explain import EXPLANATIONS
from envsync_hook.findings import RULES


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


SUBCOMMANDS = sorted(_subcommands())


def test_the_subcommands() -> None:
    assert SUBCOMMANDS == ["check", "explain", "fix", "restore", "rules", "schema"]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_argument_of_every_subcommand_has_help(name: str) -> None:
    parser = _subcommands()[name]
    assert parser.description and len(parser.description.split()) >= 10, name
    assert parser.epilog and "examples:" in parser.epilog and "exit codes:" in parser.epilog
    examples = parser.epilog.split("examples:")[1].split("\n\n")[0].strip().splitlines()
    assert examples and all(line.strip().startswith("envsync ") for line in examples)
    for action in parser._actions:
        what = action.option_strings or [action.dest]
        assert action.help and action.help != argparse.SUPPRESS, (name, what)
        assert len(action.help.split()) >= 2, (name, what)


@pytest.mark.parametrize("name", ["check", "fix", "restore"])
def test_help_prints_the_examples_and_exit_codes(tmp_path: Path, name: str) -> None:
    proc = run(tmp_path, name, "--help")
    assert proc.returncode == 0
    out = proc.stdout
    for part in ("examples:", "exit codes:", "  0  ", "  2  "):
        assert part in out, part
    # examples keep their lines (not filled into one paragraph)
    examples = out.split("examples:\n")[1].split("\n\n")[0].splitlines()
    assert len(examples) == 3 and all(e.startswith("  envsync ") for e in examples)


def test_rules_lists_every_code(tmp_path: Path) -> None:
    proc = run(tmp_path, "rules")
    assert proc.returncode == 0
    listed = [line.split()[:3] for line in proc.stdout.splitlines() if line.startswith("ENV")]
    assert listed == [[r.code, r.slug, r.severity] for r in RULES]


@pytest.mark.parametrize("code", [r.code for r in RULES])
def test_explain_covers_every_code(tmp_path: Path, code: str) -> None:
    assert code in EXPLANATIONS
    proc = run(tmp_path, "explain", code)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rule = next(r for r in RULES if r.code == code)
    assert out.startswith(f"{code} {rule.slug} (default severity: {rule.severity})\n")
    assert "Example:" in out and "What to do:" in out
    # by slug, in lower case, and through ``rules CODE``: the same text
    assert run(tmp_path, "explain", rule.slug).stdout == out
    assert run(tmp_path, "rules", code.lower()).stdout == out


def test_explain_an_unknown_rule_suggests_the_nearest(tmp_path: Path) -> None:
    proc = run(tmp_path, "explain", "stale-defualt")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "envsync: error: no rule 'stale-defualt'; did you mean stale-default?"
    )


#: the examples whose files are literal: ``check -v`` on them prints the explanation's line
LITERAL = ["ENV001", "ENV002", "ENV003", "ENV004", "ENV005", "ENV006", "ENV010"]


@pytest.mark.parametrize("code", LITERAL)
def test_the_example_is_what_check_prints(tmp_path: Path, code: str) -> None:
    ex = EXPLANATIONS[code]
    for name, text in ((".env.example", ex.template), (".env", ex.env), ("old.env", ex.base)):
        if text:
            (tmp_path / name).write_text(text, encoding="utf-8")
    os.chmod(tmp_path / ".env", 0o600)
    args = ["--base", "old.env"] if ex.base else []
    proc = run(tmp_path, "check", "-v", *args)
    assert ex.finding in proc.stdout.splitlines(), proc.stdout


UNKNOWN = [
    (["check", "--verbse"], "(did you mean --verbose?)"),
    (["fix", "--dryrun"], "(did you mean --dry-run?)"),
    (["check", "--show-valus", "--base-rf", "x"], "--show-values, --base-rf -> --base-ref?)"),
    (["chek"], "(did you mean check?)"),
    (["check", "--zzzzzzzz"], None),
    # an option of another command, spelt right: whose it is, not itself as a suggestion
    (["check", "--prune"], "(--prune is an option of envsync fix)"),
    (["check", "--take-template", "X"], "(--take-template is an option of envsync fix)"),
    (["restore", "--keep-stale"], "(--keep-stale is an option of envsync fix)"),
]


@pytest.mark.parametrize(("args", "hint"), UNKNOWN, ids=[" ".join(a) for a, _ in UNKNOWN])
def test_an_unknown_option_suggests_the_nearest(
    tmp_path: Path, args: list[str], hint: str | None
) -> None:
    proc = run(tmp_path, *args)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("envsync: error: ")
    if hint is None:
        assert "did you mean" not in last
    else:
        assert last.endswith(hint), last


def test_difflib_is_imported_on_the_error_path_only(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("A=1\n", encoding="utf-8")
    (tmp_path / ".env").write_text("A=1\n", encoding="utf-8")
    os.chmod(tmp_path / ".env", 0o600)
    code = (
        "import sys\n"
        "from envsync_hook import cli\n"
        "rc = cli.main(['check'])\n"
        "assert rc == 0, rc\n"
        "assert 'difflib' not in sys.modules\n"
        "assert 'envsync_hook.explain' not in sys.modules\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
