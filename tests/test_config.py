"""Configuration files: ``.envsync.toml``, ``[tool.envsync]`` in ``pyproject.toml``, ``--config``.

Valid files are applied (each row shows the effect against a run without the file), invalid
ones are refused with exit 2 and one line naming the file and the field; command-line options
override the file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envsync_hook.cli import main
from envsync_hook.findings import RULES

TEMPLATE = "A=1\nB=2\nWORKERS=4\n"
ENV = "A=1\nWORKERS=4\nX_LOCAL=1\n"  # B missing (ENV001 error), X_LOCAL extra (ENV002 warning)


class Run(NamedTuple):
    code: int
    out: str
    err: str

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.out)
        return data

    def codes(self) -> list[str]:
        return [f["code"] for p in self.report()["pairs"] for f in p["findings"]]

    def findings(self) -> list[dict[str, Any]]:
        return [f for p in self.report()["pairs"] for f in p["findings"]]


Envsync = Callable[..., Run]


@pytest.fixture
def envsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Envsync:
    """``main([...])`` in ``tmp_path`` (or ``cwd``), with stdout and stderr captured."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    def run(*argv: str, cwd: Path | None = None) -> Run:
        monkeypatch.chdir(cwd or tmp_path)
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    path.chmod(mode)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / ".env.example", TEMPLATE, 0o644)
    write(tmp_path / ".env", ENV)
    return tmp_path


# --- valid files, applied ---------------------------------------------------------------------


def test_no_configuration_baseline(project: Path, envsync: Envsync) -> None:
    run = envsync("check", "--format", "json")
    assert run.code == 1
    assert sorted(run.codes()) == ["ENV001", "ENV002"]


class Applied(NamedTuple):
    name: str
    files: dict[str, str]  # path -> text, written into the project
    argv: tuple[str, ...]
    check: Callable[[Run], bool]


APPLIED = [
    Applied(
        "fail_on",
        {".envsync.toml": 'fail_on = "never"\n'},
        (),
        lambda r: r.code == 0 and "ENV001" in r.codes(),
    ),
    Applied(
        "fail_on, case-insensitive",
        {".envsync.toml": 'fail_on = "NEVER"\n'},
        (),
        lambda r: r.code == 0,
    ),
    Applied(
        "severity by slug and by code",
        {".envsync.toml": '[severity]\nmissing-key = "info"\nENV002 = "off"\n'},
        (),
        lambda r: r.code == 0 and r.codes() == ["ENV001"] and r.findings()[0]["severity"] == "info",
    ),
    Applied(
        "ignore",
        {".envsync.toml": 'ignore = ["X_*", "B"]\n'},
        (),
        lambda r: r.code == 0 and r.codes() == [],
    ),
    Applied(
        "[tool.envsync] in pyproject.toml",
        {"pyproject.toml": '[project]\nname = "x"\n\n[tool.envsync]\nfail_on = "never"\n'},
        (),
        lambda r: r.code == 0,
    ),
    Applied(
        "[tool.envsync.severity] sub-table in pyproject.toml",
        {"pyproject.toml": '[tool.envsync.severity]\nmissing-key = "warning"\n'},
        (),
        lambda r: r.code == 0 and sorted(r.codes()) == ["ENV001", "ENV002"],
    ),
    Applied(
        "[tool.envsync] table in .envsync.toml",
        {".envsync.toml": '[tool.envsync]\nfail_on = "never"\n'},
        (),
        lambda r: r.code == 0,
    ),
    Applied(
        "pyproject.toml without the table is not configuration",
        {"pyproject.toml": '[project]\nname = "x"\n# see tool.envsync docs\n'},
        (),
        lambda r: r.code == 1,
    ),
    Applied(
        ".envsync.toml wins over pyproject.toml",
        {
            ".envsync.toml": 'fail_on = "never"\n',
            "pyproject.toml": '[tool.envsync]\nfail_on = "warning"\n',
        },
        (),
        lambda r: r.code == 0,
    ),
    Applied(
        "--config names the file (relative paths from its directory)",
        {
            "conf/envsync.toml": 'templates = ["../app/.env.example"]\n'
            'severity = { extra-key = "error" }\n',
            "app/.env.example": "K=1\n",
            "app/.env": "K=1\nEXTRA=1\n",
        },
        ("--config", "conf/envsync.toml"),
        lambda r: (
            r.code == 1 and r.codes() == ["ENV002"] and r.findings()[0]["severity"] == "error"
        ),
    ),
    Applied(
        "pairs with env",
        {
            ".envsync.toml": '[[pairs]]\ntemplate = "svc/web.env.example"\nenv = "svc/prod.env"\n',
            "svc/web.env.example": "K=1\nL=2\n",
            "svc/prod.env": "K=1\nL=2\n",
        },
        (),
        lambda r: r.code == 0 and [p["env"] for p in r.report()["pairs"]] == ["svc/prod.env"],
    ),
    Applied(
        "templates with env",
        {
            ".envsync.toml": 'templates = ["svc/web.env.example"]\nenv = "svc/prod.env"\n',
            "svc/web.env.example": "K=1\n",
            "svc/prod.env": "K=1\n",
        },
        (),
        lambda r: r.code == 0 and [p["env"] for p in r.report()["pairs"]] == ["svc/prod.env"],
    ),
    Applied(
        "also: a key of another template is relocated, not extra",
        {".envsync.toml": 'also = ["envs/*.env.example"]\n', "envs/x.env.example": "X_LOCAL=\n"},
        (),
        lambda r: sorted(r.codes()) == ["ENV001", "ENV008"],
    ),
    Applied(
        "base: stale default",
        {
            ".envsync.toml": 'base = "old/.env.example"\n',
            "old/.env.example": "A=1\nB=2\nWORKERS=2\n",
            ".env": "A=1\nB=2\nWORKERS=2\n",
        },
        (),
        lambda r: r.codes() == ["ENV004"],
    ),
    Applied(
        "if_missing",
        {".envsync.toml": 'if_missing = "skip"\n', ".env": ""},
        (),
        lambda r: r.code == 0 and r.report()["pairs"][0]["skipped"],
    ),
]


@pytest.mark.parametrize("case", APPLIED, ids=[c.name for c in APPLIED])
def test_valid_configuration_is_applied(project: Path, envsync: Envsync, case: Applied) -> None:
    for name, text in case.files.items():
        if name == ".env" and not text:
            (project / ".env").unlink()
        else:
            write(project / name, text)
    run = envsync("check", "--format", "json", *case.argv)
    assert not run.err.startswith("envsync: error"), run.err
    assert case.check(run), (run.code, run.out, run.err)


def test_secret_patterns_add_to_the_defaults(project: Path, envsync: Envsync) -> None:
    write(project / ".env.example", "SERVICE_HOSTNAME=a\nDB_PASSWORD=a\nPLAIN=a\n")
    write(
        project / ".env", "SERVICE_HOSTNAME=hidden-by-pattern\nDB_PASSWORD=hidden-too\nPLAIN=seen\n"
    )
    write(project / ".envsync.toml", 'secret_patterns = ["HOSTNAME"]\nshow_values = true\n')
    run = envsync("check", "--format", "text")
    assert "seen" in run.out  # show_values applied
    assert "hidden-by-pattern" not in run.out + run.err
    assert "hidden-too" not in run.out + run.err  # the built-in PASSWORD still masks


def test_show_values_off_by_default(project: Path, envsync: Envsync) -> None:
    write(project / ".env.example", "PLAIN=a\n")
    write(project / ".env", "PLAIN=seen\n")
    assert "seen" not in envsync("check", "--format", "text").out
    write(project / ".envsync.toml", "show_values = true\n")
    assert "seen" in envsync("check", "--format", "text").out


def test_prune_and_per_pair_backup_dir(project: Path, envsync: Envsync) -> None:
    write(
        project / "conf" / "envsync.toml",
        'prune = true\n[[pairs]]\ntemplate = "../.env.example"\nbackup_dir = "backups"\n',
    )
    run = envsync("fix", "--config", "conf/envsync.toml", "--format", "json")
    assert run.code == 1, run.err
    text = (project / ".env").read_text("utf-8")
    assert "X_LOCAL" not in text  # pruned
    assert "B=2" in text
    # relative to the config file
    backups = list((project / "conf" / "backups").glob("*.backup_*[0-9]"))
    assert len(backups) == 1 and "X_LOCAL=1" in backups[0].read_text("utf-8")
    assert not (project / "env-backup").exists()


def test_keep_stale(project: Path, envsync: Envsync) -> None:
    write(project / "old.env.example", "A=1\nB=2\nWORKERS=2\n")
    write(project / ".env", "A=1\nB=2\nWORKERS=2\n")
    write(project / ".envsync.toml", 'base = "old.env.example"\nkeep_stale = true\n')
    envsync("fix")
    assert "WORKERS=2" in (project / ".env").read_text("utf-8")
    (project / ".envsync.toml").unlink()
    write(project / ".env", "A=1\nB=2\nWORKERS=2\n")
    envsync("fix", "--base", "old.env.example")
    assert "WORKERS=4" in (project / ".env").read_text("utf-8")


# --- the command line overrides the file ------------------------------------------------------


class Override(NamedTuple):
    name: str
    config: str
    argv: tuple[str, ...]
    check: Callable[[Run], bool]


OVERRIDES = [
    Override("fail-on", 'fail_on = "never"\n', ("--fail-on", "error"), lambda r: r.code == 1),
    Override(
        "severity",
        'severity = { extra-key = "error", missing-key = "info" }\n',
        ("--severity", "extra-key=info"),
        lambda r: (
            {f["code"]: f["severity"] for f in r.findings()} == {"ENV001": "info", "ENV002": "info"}
        ),
    ),
    Override(
        "if-missing",
        'if_missing = "skip"\n',
        ("--if-missing", "fail"),
        lambda r: "ENV012" in r.codes(),
    ),
    Override(
        "templates",
        'templates = ["nowhere/.env.example"]\n',
        (".env.example",),
        lambda r: r.code == 1 and sorted(r.codes()) == ["ENV001", "ENV002"],
    ),
    Override(
        "env",
        'env = "nowhere.env"\n',
        ("--env", ".env"),
        lambda r: sorted(r.codes()) == ["ENV001", "ENV002"],
    ),
    Override(
        "base",
        'base = "nowhere.env.example"\n',
        ("--base", ".env.example"),
        lambda r: sorted(r.codes()) == ["ENV001", "ENV002"],
    ),
    Override(
        "also",
        'also = ["nowhere/*.env.example"]\n',
        ("--also", "envs/*.env.example"),
        lambda r: "ENV008" in r.codes(),
    ),
    Override("ignore adds up", 'ignore = ["B"]\n', ("--ignore", "X_*"), lambda r: r.codes() == []),
]


@pytest.mark.parametrize("case", OVERRIDES, ids=[c.name for c in OVERRIDES])
def test_command_line_overrides_the_file(project: Path, envsync: Envsync, case: Override) -> None:
    write(project / "envs" / "x.env.example", "X_LOCAL=\n")
    write(project / ".envsync.toml", case.config)
    if case.name == "if-missing":
        (project / ".env").unlink()
    run = envsync("check", "--format", "json", *case.argv)
    assert not run.err.startswith("envsync: error"), run.err
    assert case.check(run), (run.code, run.out, run.err)


def test_backup_dir_option_overrides_the_pair(project: Path, envsync: Envsync) -> None:
    write(project / ".envsync.toml", '[[pairs]]\ntemplate = ".env.example"\nbackup_dir = "bk"\n')
    assert envsync("fix", "--backup-dir", "cli-bk").code == 1
    assert len(list((project / "cli-bk").glob("*.backup_*[0-9]"))) == 1
    assert not (project / "bk").exists()


def test_template_on_the_command_line_takes_its_configured_pair(
    project: Path, envsync: Envsync
) -> None:
    """pre-commit passes the template; the configured pair still names its env file."""
    write(project / "svc" / "web.env.example", "K=1\nL=2\n")
    write(project / "svc" / "prod.env", "K=1\n")
    write(
        project / ".envsync.toml",
        '[[pairs]]\ntemplate = "svc/web.env.example"\nenv = "svc/prod.env"\n',
    )
    run = envsync("check", "--format", "json", "svc/web.env.example")
    assert [p["env"] for p in run.report()["pairs"]] == ["svc/prod.env"]
    assert run.codes() == ["ENV001"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.sampled_from([r.code for r in RULES] + [r.slug for r in RULES]),
        st.sampled_from(["error", "warning", "info", "off"]),
        max_size=4,
    )
)
def test_severity_in_the_file_equals_severity_options(
    project: Path, envsync: Envsync, mapping: dict[str, str]
) -> None:
    """A severity table in the file has the effect of the same ``--severity`` options."""
    config = project / ".envsync.toml"
    if config.exists():
        config.unlink()
    options = [arg for name, level in mapping.items() for arg in ("--severity", f"{name}={level}")]
    by_options = envsync("check", "--format", "json", *options)
    lines = "".join(f'"{name}" = "{level}"\n' for name, level in mapping.items())
    write(config, "[severity]\n" + lines)
    by_file = envsync("check", "--format", "json")
    assert (by_file.code, by_file.findings()) == (by_options.code, by_options.findings())


# --- invalid files, refused -------------------------------------------------------------------


class Refused(NamedTuple):
    name: str
    file: str  # where the text goes
    text: str | bytes
    argv: tuple[str, ...]
    expected: str  # the error line holds this (file and field)


INVALID = [
    Refused(
        "unknown field",
        ".envsync.toml",
        "colour = true\n",
        (),
        ".envsync.toml: colour: unknown field",
    ),
    Refused(
        "unknown rule",
        ".envsync.toml",
        'severity = { ENV999 = "off" }\n',
        (),
        ".envsync.toml: severity.ENV999: unknown rule",
    ),
    Refused(
        "unknown level",
        ".envsync.toml",
        'severity = { missing-key = "fatal" }\n',
        (),
        ".envsync.toml: severity.missing-key: Input should be",
    ),
    Refused(
        "bad fail_on", ".envsync.toml", 'fail_on = "sometimes"\n', (), ".envsync.toml: fail_on:"
    ),
    Refused(
        "fail_on not a string", ".envsync.toml", "fail_on = 1\n", (), ".envsync.toml: fail_on:"
    ),
    Refused(
        "bad if_missing", ".envsync.toml", 'if_missing = "ask"\n', (), ".envsync.toml: if_missing:"
    ),
    Refused(
        "bool as a string",
        ".envsync.toml",
        'show_values = "yes"\n',
        (),
        ".envsync.toml: show_values:",
    ),
    Refused("prune as a number", ".envsync.toml", "prune = 1\n", (), ".envsync.toml: prune:"),
    Refused(
        "list as a string",
        ".envsync.toml",
        'templates = ".env.example"\n',
        (),
        ".envsync.toml: templates:",
    ),
    Refused("number in a list", ".envsync.toml", "ignore = [1]\n", (), ".envsync.toml: ignore[0]:"),
    Refused(
        "empty pattern",
        ".envsync.toml",
        'ignore = [""]\n',
        (),
        ".envsync.toml: ignore[0]: must not be empty",
    ),
    Refused(
        "secret_patterns not a list",
        ".envsync.toml",
        "secret_patterns = { a = 1 }\n",
        (),
        ".envsync.toml: secret_patterns:",
    ),
    Refused(
        "pair without template",
        ".envsync.toml",
        '[[pairs]]\nenv = ".env"\n',
        (),
        ".envsync.toml: pairs[0].template: required field missing",
    ),
    Refused(
        "unknown pair field",
        ".envsync.toml",
        '[[pairs]]\ntemplate = ".env.example"\n'
        '[[pairs]]\ntemplate = ".env.example"\nbackup = "x"\n',
        (),
        ".envsync.toml: pairs[1].backup: unknown field",
    ),
    Refused(
        "pair with base and base_ref",
        ".envsync.toml",
        '[[pairs]]\ntemplate = ".env.example"\nbase = "old"\nbase_ref = "HEAD"\n',
        (),
        ".envsync.toml: pairs[0]: base and base_ref exclude each other",
    ),
    Refused(
        "base and base_ref",
        ".envsync.toml",
        'base = "old"\nbase_ref = "HEAD"\n',
        (),
        ".envsync.toml: base and base_ref exclude each other",
    ),
    Refused(
        "pairs and templates",
        ".envsync.toml",
        'templates = ["a.env.example"]\n[[pairs]]\ntemplate = ".env.example"\n',
        (),
        ".envsync.toml: pairs and templates exclude each other",
    ),
    Refused(
        "env with several templates",
        ".envsync.toml",
        'templates = ["a.env.example", "b.env.example"]\nenv = ".env"\n',
        (),
        ".envsync.toml: env goes with one template",
    ),
    Refused(
        "TOML syntax error names the line",
        ".envsync.toml",
        'fail_on = "never"\nignore = [\n"A",\n"B"\nfail_on\n',
        (),
        "invalid TOML in .envsync.toml: ",
    ),
    Refused(
        "tool.envsync not a table",
        ".envsync.toml",
        "[tool]\nenvsync = 3\n",
        (),
        ".envsync.toml: tool.envsync: expected a table",
    ),
    Refused(
        "pyproject field names the table",
        "pyproject.toml",
        '[project]\nname = "x"\n[tool.envsync]\nfail-on = "never"\n',
        (),
        "pyproject.toml: tool.envsync.fail-on: unknown field",
    ),
    Refused(
        "--config pyproject.toml without the table",
        "sub/pyproject.toml",
        '[project]\nname = "x"\n',
        ("--config", "sub/pyproject.toml"),
        "sub/pyproject.toml: no [tool.envsync] table",
    ),
    Refused(
        "--config file that does not exist",
        "unused.toml",
        "",
        ("--config", "missing.toml"),
        "cannot read configuration file missing.toml",
    ),
    Refused(
        "--config names a directory",
        "confdir/x.toml",
        "",
        ("--config", "confdir"),
        "cannot read configuration file confdir",
    ),
    Refused(
        "invalid UTF-8",
        ".envsync.toml",
        b'fail_on = "\xff"\n',
        (),
        "cannot read configuration file .envsync.toml: invalid UTF-8",
    ),
]


@pytest.mark.parametrize("command", ["check", "fix"])
@pytest.mark.parametrize("case", INVALID, ids=[c.name for c in INVALID])
def test_invalid_configuration_is_refused(
    project: Path, envsync: Envsync, case: Refused, command: str
) -> None:
    path = project / case.file
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(case.text, bytes):
        path.write_bytes(case.text)
    else:
        path.write_text(case.text, encoding="utf-8")
    before = (project / ".env").read_bytes()
    run = envsync(command, *case.argv)
    assert run.code == 2
    assert run.out == ""
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("envsync: error: ")
    assert case.expected in lines[0]
    assert (project / ".env").read_bytes() == before
    assert not (project / "env-backup").exists()


def test_toml_syntax_error_names_line_and_column(project: Path, envsync: Envsync) -> None:
    write(project / ".envsync.toml", 'fail_on = "never"\n\nignore = [\n  "A",\n  oops\n]\n')
    run = envsync("check")
    assert run.code == 2
    assert "line 5" in run.err, run.err


def test_several_errors_are_counted_on_one_line(project: Path, envsync: Envsync) -> None:
    write(project / ".envsync.toml", 'colour = 1\nfail_on = "x"\nignore = 3\n')
    run = envsync("check")
    assert run.code == 2
    assert run.err.count("\n") == 1
    assert "(and 2 more)" in run.err


# --- the default path stays light -------------------------------------------------------------

PROBE = (
    "import sys\n"
    "from envsync_hook.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('pydantic' in sys.modules, 'tomllib' in sys.modules or 'tomli' in sys.modules,"
    " code, file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    ("files", "imported"),
    [
        ({}, "False False"),
        ({"pyproject.toml": '[project]\nname = "x"\n'}, "False False"),
        ({"pyproject.toml": '[tool.envsync]\nfail_on = "never"\n'}, "True True"),
        ({".envsync.toml": 'fail_on = "never"\n'}, "True True"),
    ],
    ids=["no file", "pyproject without table", "pyproject with table", ".envsync.toml"],
)
def test_pydantic_is_imported_only_with_a_configuration_file(
    project: Path, files: dict[str, str], imported: str
) -> None:
    for name, text in files.items():
        write(project / name, text)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "check", "--format", "text"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")},
    )
    assert proc.stderr.splitlines()[-1].startswith(imported), proc.stderr


def test_through_a_real_process(project: Path) -> None:
    write(project / ".envsync.toml", 'severity = { "ENV001" = "sometimes" }\n')
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "check"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "envsync: error: invalid configuration in .envsync.toml: severity.ENV001: "
    )


# --- the README's examples --------------------------------------------------------------------

DOCS = (Path(__file__).resolve().parents[1] / "README.md",)


def doc_toml_blocks() -> list[str]:
    fence = re.compile(r"^```toml\n(.*?)^```$", re.S | re.M)
    return [b for doc in DOCS if doc.exists() for b in fence.findall(doc.read_text("utf-8"))]


def test_docs_configuration_examples_are_valid(tmp_path: Path) -> None:
    from envsync_hook.config import find_and_load

    blocks = doc_toml_blocks()
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        name = "pyproject.toml" if "[tool.envsync]" in block else f"example{i}.toml"
        path = tmp_path / str(i) / name
        path.parent.mkdir()
        path.write_text(block, encoding="utf-8")
        cfg = find_and_load(str(path))
        assert cfg, block
