"""Command-line conventions of the ecosystem, through real processes: ``--env -`` (and pipes)
read the env file from standard input, and configuration is found from the current directory
up to the repository root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = "# db\nDB_HOST=db\nDB_PASSWORD=changeme\nWORKERS=4\n"
ENV = "DB_HOST=db.internal\nDB_PASSWORD=s3cr3t-from-the-vault\nLOCAL=1\n"  # lacks WORKERS
SECRET = "s3cr3t-from-the-vault"


def envsync(
    cwd: Path, *args: str, stdin: bytes | None = None, shell: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m envsync_hook ARGS`` with ``stdin`` on its standard input (or, with
    ``shell``, that bash command line, where ``envsync`` is the module)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GIT_"))}
    env["NO_COLOR"] = "1"
    if shell is not None:
        env["ENVSYNC"] = f"{sys.executable} -m envsync_hook"
        argv = ["bash", "-c", shell]
    else:
        argv = [sys.executable, "-m", "envsync_hook", *args]
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        check=False,
        timeout=120,
    )


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    return tmp_path


def _findings(out: bytes) -> list[tuple[str, str, int, str]]:
    """(code, key, line, file) of every finding of a ``--format json`` report."""
    pairs = json.loads(out)["pairs"]
    return sorted((f["code"], f["key"], f["line"], f["file"]) for p in pairs for f in p["findings"])


def test_check_env_from_standard_input_equals_the_file(project: Path) -> None:
    """``envsync check --env - < .env`` reports what ``--env .env`` does (the mode of a file it
    never sees aside), names the env file ``<stdin>``, and leaves nothing on disk."""
    (project / ".env").write_bytes(ENV.encode())
    (project / ".env").chmod(0o600)
    from_file = envsync(project, "check", "--env", ".env", "--format", "json")
    (project / ".env").unlink()
    before = tree(project)
    piped = envsync(project, "check", "--env", "-", "--format", "json", stdin=ENV.encode())
    assert piped.returncode == from_file.returncode == 1, piped.stderr
    expected = [
        f[:3] + (f[3].replace(".env.example", "T").replace(".env", "<stdin>"),)
        for f in _findings(from_file.stdout)
    ]
    got = [f[:3] + (f[3].replace(".env.example", "T"),) for f in _findings(piped.stdout)]
    assert got == expected
    assert ("ENV001", "WORKERS", 4, "T") in got
    assert ("ENV002", "LOCAL", 3, "<stdin>") in got
    assert SECRET.encode() not in piped.stdout + piped.stderr
    text = envsync(project, "check", "--env", "-", stdin=ENV.encode())
    assert b"<stdin>:3: ENV002 extra-key LOCAL" in text.stdout
    assert SECRET.encode() not in text.stdout + text.stderr
    assert tree(project) == before  # not written anywhere


@pytest.mark.parametrize(
    "command",
    [
        "cat .env.secret | $ENVSYNC check --env -",
        "$ENVSYNC check --env /dev/stdin < <(cat .env.secret)",
        "$ENVSYNC check --env <(cat .env.secret)",  # a process substitution
    ],
)
def test_check_env_from_a_pipe(project: Path, command: str) -> None:
    (project / ".env.secret").write_bytes(ENV.encode())
    proc = envsync(project, shell=command + " --format json")
    assert proc.returncode == 1, proc.stderr
    codes = {(code, key) for code, key, _, _ in _findings(proc.stdout)}
    assert {("ENV001", "WORKERS"), ("ENV002", "LOCAL")} <= codes


def test_fix_diff_and_dry_run_from_standard_input(project: Path) -> None:
    before = tree(project)
    diff = envsync(project, "fix", "--env", "-", "--diff", stdin=ENV.encode())
    assert diff.returncode == 1, diff.stderr
    assert b"+WORKERS=" in diff.stdout
    assert SECRET.encode() not in diff.stdout + diff.stderr
    dry = envsync(project, "fix", "--env", "-", "--dry-run", stdin=ENV.encode())
    assert dry.returncode == 1
    assert b"would change" in dry.stderr
    same = envsync(project, "fix", "--env", "-", "--dry-run", stdin=TEMPLATE.encode())
    assert same.returncode == 0, same.stdout + same.stderr
    assert tree(project) == before


def test_plain_fix_with_env_from_standard_input_is_a_usage_error(project: Path) -> None:
    before = tree(project)
    proc = envsync(project, "fix", "--env", "-", stdin=ENV.encode())
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "--dry-run" in err, err
    assert tree(project) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"A=\xff\n", "not valid UTF-8 (byte offset 2, line 1)"),
        (b"A=1\nB=\x00\n", "contains a NUL byte (byte offset 6, line 2)"),
    ],
)
def test_standard_input_is_refused_like_a_file(project: Path, data: bytes, message: str) -> None:
    proc = envsync(project, "check", "--env", "-", stdin=data)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        f"envsync: error: cannot read env file from standard input: {message}"
    )


def test_env_dash_goes_with_one_template(project: Path) -> None:
    (project / "app.env.example").write_text("A=1\n", encoding="utf-8")
    proc = envsync(project, "check", ".env.example", "app.env.example", "--env", "-")
    assert proc.returncode == 2
    assert b"one template" in proc.stderr


# --- configuration found from the current directory up to the repository root -----------------


def _repo(tmp_path: Path) -> Path:
    """``outer/repo`` (with ``.git``) holding ``docker/.env.example`` and a ``.env`` whose only
    finding is an extra key (a warning: exit 0 unless ``fail_on = "warning"``)."""
    repo = tmp_path / "outer" / "repo"
    docker = repo / "docker" / "sub"
    docker.mkdir(parents=True)
    (repo / ".git").mkdir()
    for d in (repo / "docker", docker):
        (d / ".env.example").write_text("A=1\n", encoding="utf-8")
        (d / ".env").write_text("A=1\nEXTRA=1\n", encoding="utf-8")
        (d / ".env").chmod(0o600)
    return repo


STRICT = 'fail_on = "warning"\n'


@pytest.mark.parametrize(
    ("files", "cwd", "rc"),
    [
        ({}, "docker", 0),  # no configuration: the extra key is a warning only
        ({".envsync.toml": STRICT}, "docker", 1),  # one level up
        ({".envsync.toml": STRICT}, "docker/sub", 1),  # two levels up
        ({"pyproject.toml": "[tool.envsync]\n" + STRICT}, "docker/sub", 1),
        # a pyproject.toml without the table does not stop the search
        ({".envsync.toml": STRICT, "docker/pyproject.toml": "[tool.ruff]\n"}, "docker", 1),
        # the nearest file wins, and is the only one read
        ({".envsync.toml": STRICT, "docker/.envsync.toml": 'fail_on = "error"\n'}, "docker", 0),
        ({".envsync.toml": STRICT, "docker/pyproject.toml": "[tool.envsync]\n"}, "docker", 0),
        # above the repository root (the .git) belongs to another project
        ({"../.envsync.toml": STRICT}, "docker", 0),
    ],
)
def test_configuration_is_found_up_to_the_repository_root(
    tmp_path: Path, files: dict[str, str], cwd: str, rc: int
) -> None:
    repo = _repo(tmp_path)
    for name, text in files.items():
        (repo / name).write_text(text, encoding="utf-8")
    proc = envsync(repo / cwd, "check")
    assert proc.returncode == rc, proc.stdout + proc.stderr


def test_relative_paths_of_a_file_found_above_are_from_its_directory(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / ".envsync.toml").write_text(
        'templates = ["docker/.env.example"]\nfail_on = "warning"\n', encoding="utf-8"
    )
    proc = envsync(repo / "docker" / "sub", "check", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    (pair,) = json.loads(proc.stdout)["pairs"]
    assert pair["template"] == "../../docker/.env.example"
    assert [f["key"] for f in pair["findings"]] == ["EXTRA"]


def test_an_invalid_file_above_is_named_as_found(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / ".envsync.toml").write_text("fail_on = 3\n", encoding="utf-8")
    proc = envsync(repo / "docker", "check")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith(
        "envsync: error: invalid configuration in ../.envsync.toml: fail_on:"
    ), proc.stderr
