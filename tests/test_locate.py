"""The repository root and paths from it (locate.py), and through the CLI's github/sarif reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_run import run

from envsync_hook.locate import Rebaser, repo_root, report_root


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "repo" / "docker" / "envs").mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    return tmp_path / "repo"


def test_repo_root_is_the_nearest_git(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    assert repo_root(repo / "docker" / "envs") == repo
    # a worktree or submodule has a .git file: it is the root of its own checkout
    (repo / "docker" / ".git").write_text("gitdir: ../.git/worktrees/x\n", encoding="utf-8")
    assert repo_root(repo / "docker" / "envs") == repo / "docker"
    assert repo_root(tmp_path) is None or repo_root(tmp_path) not in (repo, repo / "docker")


@pytest.mark.parametrize(
    ("workspace", "cwd", "expected"),
    [
        ("repo", "repo/docker", "repo"),  # the workspace wins
        ("repo/docker", "repo/docker/envs", "repo/docker"),
        ("elsewhere", "repo/docker", "repo"),  # cwd outside the workspace: the .git above
        ("", "repo/docker", "repo"),
    ],
)
def test_report_root(tmp_path: Path, workspace: str, cwd: str, expected: str) -> None:
    _tree(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    environ = {"GITHUB_WORKSPACE": str(tmp_path / workspace)} if workspace else {}
    assert report_root(environ, str(tmp_path / cwd)) == str((tmp_path / expected).resolve())


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".env.example", "docker/.env.example"),
        ("envs/db.env.example", "docker/envs/db.env.example"),
        ("../.env.example", ".env.example"),
        ("../../outside/.env.example", "../../outside/.env.example"),  # outside: unchanged
        ("ABSOLUTE/docker/.env", "docker/.env"),
        ("/somewhere/else/.env", "/somewhere/else/.env"),
        ("", ""),
        ("<stdin>", "<stdin>"),  # --env -: no file to name from the root
    ],
)
def test_rebaser(tmp_path: Path, path: str, expected: str) -> None:
    repo = _tree(tmp_path).resolve()
    path = path.replace("ABSOLUTE", str(repo))
    assert Rebaser(str(repo), str(repo / "docker"))(path) == expected


def test_cli_github_and_sarif_from_the_git_root_text_as_given(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    docker = repo / "docker"
    (docker / ".env.example").write_text("A=1\nB=2\n", encoding="utf-8")
    (docker / ".env").write_text("A=1\n", encoding="utf-8")
    os.chmod(docker / ".env", 0o600)
    github = run(docker, "check", "--format", "github", "--sarif", "out.sarif")
    assert "::error file=docker/.env.example,line=2," in github.stdout
    sarif = json.loads((docker / "out.sarif").read_text("utf-8"))["runs"][0]
    (result,) = sarif["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "docker/.env.example"
    )
    assert sarif["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    text = run(docker, "check", "--format", "text")
    assert ".env.example:2" in text.stdout and "docker/" not in text.stdout, text.stdout
