"""The pre-commit hooks through the real ``pre-commit``.

The hook repository is a copy of this checkout's package files (``pyproject.toml``, the README,
``.pre-commit-hooks.yaml``, ``envsync_hook/``) committed to a fresh git repository: ``pre-commit
try-repo`` takes a repository's HEAD plus changes to *tracked* files only, so a copy makes the
tests exercise the working tree exactly, committed or not. pre-commit installs it into its own
virtualenv (``pip install .``), which needs the package's dependencies from an index. One test
runs ``try-repo`` (which installs into a fresh temporary store every time); the others use a
``.pre-commit-config.yaml`` naming the hook repository, installed once a session into a
temporary ``PRE_COMMIT_HOME``. When the install fails and pypi.org is unreachable, the tests
skip with that reason.

The operator's repository is a git repository with a committed template and a git-ignored
``.env``, as in a real deployment.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HOOK_IDS = ("envsync-check", "envsync-fix")
DOCS = (ROOT / "README.md",)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.pop("GITHUB_ACTIONS", None)  # text output, whatever runs the tests
    env.update(
        GIT_AUTHOR_NAME="envsync tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="envsync tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    env.update(extra)
    return env


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=True
    )
    return proc.stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    git(path, "config", "commit.gpgsign", "false")
    return path


# --- the hook repository ----------------------------------------------------------------------


UPGRADE_HOOK_IDS = ("envsync-upgrade", "envsync-upgrade-check")


def test_hooks_manifest() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    assert [h["id"] for h in hooks] == [*HOOK_IDS, *UPGRADE_HOOK_IDS]
    for hook, command in zip(hooks[2:], ("fix", "check")):
        # the upgrade hooks: after checkout and merge, always, finding their own pairs
        assert hook["entry"] == f"envsync {command} --upgrade-hook --if-missing skip"
        assert hook["stages"] == ["post-checkout", "post-merge"]
        assert hook["always_run"] is True
        assert hook["verbose"] is True
        assert hook["pass_filenames"] is False
        assert hook["language"] == "python"
    hooks = hooks[:2]
    for hook, command in zip(hooks, ("check", "fix")):
        assert hook["entry"] == f"envsync {command} --if-missing skip"
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is True
        assert hook["require_serial"] is True
        assert re.fullmatch(r"\d+\.\d+\.\d+", hook["minimum_pre_commit_version"])


@pytest.mark.parametrize(
    ("path", "triggers"),
    [
        (".env.example", True),
        ("docker/.env.example", True),
        ("docker/envs/middleware/db.env.example", True),
        (".env.sample", True),
        (".env.template", True),
        (".env.dist", True),
        ("api.env.dist", True),
        ("example.env", True),
        ("deploy/sample.env", True),
        ("template.env", True),
        ("env.example", True),
        (".env", False),
        ("prod.env", False),
        (".env.local", False),
        (".env.local.example", True),
        ("docker/.env.production.example", True),
        (".env.staging.sample", True),
        ("env.sample", True),
        ("env.dist", True),
        (".env-example", True),
        ("deploy/.env-sample", True),
        # the marker is the last part: copies a merge tool or an editor leaves are not templates
        (".env.example.local", False),
        (".env.example.orig", False),
        (".env.example.bak", False),
        (".env.example.example", False),
        (".env.local.production.example", False),
        ("app.env.local.example", False),
        ("env-example", False),
        (".env-local", False),
        ("dist.env", False),
        ("docs/.env.example.md", False),
        ("my-example.env", False),
        (".env.example/README", False),
    ],
)
def test_files_pattern_matches_the_names_envsync_pairs(path: str, triggers: bool) -> None:
    """The hooks run on exactly the templates whose env file envsync can name."""
    from envsync_hook.errors import EnvsyncError
    from envsync_hook.pairing import FILES_PATTERN, env_for

    for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text("utf-8")):
        if "files" not in hook:
            continue  # (the upgrade hooks run always, on no files)
        assert hook["files"] == FILES_PATTERN, hook["id"]
        assert bool(re.search(hook["files"], path)) is triggers, hook["id"]
    try:
        env_for(Path(path))
    except EnvsyncError:
        pairs = False
    else:
        pairs = True
    assert pairs is triggers


def test_manifest_validates_with_pre_commit() -> None:
    pytest.importorskip("pre_commit")
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout's package files, committed to a fresh repository."""
    repo = init_repo(tmp_path_factory.mktemp("hook-repo"))
    for name in PACKAGE_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, repo / name)
    shutil.copytree(
        ROOT / "envsync_hook",
        repo / "envsync_hook",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "envsync-hook under test")
    return repo


class PreCommit(NamedTuple):
    home: Path

    def __call__(self, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", *args],
            cwd=cwd,
            env=git_env(PRE_COMMIT_HOME=str(self.home), PRE_COMMIT_COLOR="never"),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )


def _reachable(host: str) -> bool:
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError:
        return False
    return True


def config_for(hook_repo: Path, hooks: list[dict[str, object]] | None = None) -> str:
    """A ``.pre-commit-config.yaml`` using the hook repository at its HEAD."""
    rev = git(hook_repo, "rev-parse", "HEAD").strip()
    hooks = hooks if hooks is not None else [{"id": h} for h in HOOK_IDS]
    return yaml.safe_dump({"repos": [{"repo": str(hook_repo), "rev": rev, "hooks": hooks}]})


@pytest.fixture(scope="session")
def pre_commit(tmp_path_factory: pytest.TempPathFactory, hook_repo: Path) -> PreCommit:
    """``pre-commit`` with a session ``PRE_COMMIT_HOME`` where the hooks are installed.

    ``pre-commit run`` reuses that installation for every repository using the hook repository
    at the same revision (``try-repo`` installs into a new temporary store each time).
    """
    pytest.importorskip("pre_commit", reason="pre-commit is not installed (pip install pre-commit)")
    run = PreCommit(tmp_path_factory.mktemp("pre-commit-home"))
    scratch = init_repo(tmp_path_factory.mktemp("warm-up"))
    (scratch / ".pre-commit-config.yaml").write_text(config_for(hook_repo), encoding="utf-8")
    git(scratch, "add", ".pre-commit-config.yaml")
    git(scratch, "commit", "-q", "-m", "config")
    proc = run(scratch, "install-hooks")
    if proc.returncode != 0:
        log = run.home / "pre-commit.log"
        detail = log.read_text("utf-8", "replace") if log.exists() else proc.stdout + proc.stderr
        if not _reachable("pypi.org"):
            pytest.skip(
                "pre-commit cannot install the hook (pip needs pydantic) "
                "and pypi.org is unreachable"
            )
        pytest.fail(f"pre-commit could not install the hook:\n{detail[-4000:]}")
    return run


# --- the operator's repository ----------------------------------------------------------------

TEMPLATE_V1 = "# app\nAPP_URL=http://localhost\nWORKERS=2\n"
TEMPLATE_V2 = "# app\nAPP_URL=http://localhost\nWORKERS=4\n\n# new in v2\nNEW_KEY=default\n"
ENV = "APP_URL=https://prod.example\nWORKERS=8\n"  # custom values; lacks NEW_KEY


@pytest.fixture
def deployment(tmp_path: Path, hook_repo: Path) -> Path:
    """A deployment repository: committed template and hook config, git-ignored ``.env``."""
    repo = init_repo(tmp_path / "deployment")
    (repo / ".gitignore").write_text(".env\nenv-backup/\n", encoding="utf-8")
    (repo / ".env.example").write_text(TEMPLATE_V2, encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(config_for(hook_repo), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "deployment")
    env = repo / ".env"
    env.write_text(ENV, encoding="utf-8")
    env.chmod(0o600)
    assert git(repo, "check-ignore", ".env").strip() == ".env"
    return repo


def backups(repo: Path) -> list[Path]:
    d = repo / "env-backup"
    return sorted(d.glob("*.backup_*[0-9]")) if d.is_dir() else []


def test_try_repo_check_fails_on_a_missing_key(
    pre_commit: PreCommit, hook_repo: Path, deployment: Path
) -> None:
    """``pre-commit try-repo`` against the hook repository (a fresh install: the slow one)."""
    proc = pre_commit(deployment, "try-repo", str(hook_repo), "envsync-check", "--all-files")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ENV001 missing-key NEW_KEY" in proc.stdout
    assert "prod.example" not in proc.stdout + proc.stderr


def test_check_fix_check(pre_commit: PreCommit, deployment: Path) -> None:
    def run(hook: str) -> subprocess.CompletedProcess[str]:
        return pre_commit(deployment, "run", hook, "--all-files")

    check = run("envsync-check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "ENV001 missing-key NEW_KEY" in check.stdout
    assert "prod.example" not in check.stdout + check.stderr  # no value in the output
    assert (deployment / ".env").read_text("utf-8") == ENV  # check writes nothing
    assert backups(deployment) == []

    fix = run("envsync-fix")
    assert fix.returncode == 1, fix.stdout + fix.stderr  # a changed .env fails the hook
    text = (deployment / ".env").read_text("utf-8")
    assert "NEW_KEY=default" in text
    assert "APP_URL=https://prod.example" in text and "WORKERS=8" in text  # custom values kept
    (backup,) = backups(deployment)
    assert backup.read_text("utf-8") == ENV
    assert "prod.example" not in fix.stdout + fix.stderr

    again = run("envsync-check")
    assert again.returncode == 0, again.stdout + again.stderr
    fix_again = run("envsync-fix")
    assert fix_again.returncode == 0, fix_again.stdout + fix_again.stderr
    assert len(backups(deployment)) == 1  # nothing changed, no new backup
    assert git(deployment, "status", "--porcelain") == ""  # only ignored files changed


def test_without_env_file_the_hooks_pass_with_a_notice(
    pre_commit: PreCommit, deployment: Path
) -> None:
    (deployment / ".env").unlink()
    for hook in HOOK_IDS:
        proc = pre_commit(deployment, "run", hook, "--all-files", "--verbose")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert ".env: does not exist; skipped" in proc.stdout
    assert not (deployment / ".env").exists()  # fix with --if-missing skip creates nothing


def test_hooks_run_on_the_staged_template_only_when_one_is_staged(
    pre_commit: PreCommit, deployment: Path
) -> None:
    (deployment / "README.md").write_text("docs\n", encoding="utf-8")
    git(deployment, "add", "README.md")
    proc = pre_commit(deployment, "run", "envsync-check")  # the staged files only
    assert proc.returncode == 0, proc.stdout
    assert re.search(r"envsync check\.+\(no files to check\)Skipped", proc.stdout), proc.stdout
    with (deployment / ".env.example").open("a", encoding="utf-8") as f:
        f.write("ANOTHER=1\n")
    git(deployment, "add", ".env.example")
    proc = pre_commit(deployment, "run", "envsync-check")
    assert proc.returncode == 1
    assert "ENV001 missing-key ANOTHER" in proc.stdout


def test_templates_in_subdirectories_pair_with_their_own_env(
    pre_commit: PreCommit, deployment: Path
) -> None:
    """Several staged templates: each is its own pair (require_serial, one process)."""
    sub = deployment / "docker" / "envs"
    sub.mkdir(parents=True)
    (sub / "db.env.example").write_text("DB_HOST=db\n", encoding="utf-8")
    git(deployment, "add", "-A")
    git(deployment, "commit", "-q", "-m", "more templates")
    (sub / "db.env").write_text("DB_HOST=db\n", encoding="utf-8")  # not ignored by name: fine
    (sub / "db.env").chmod(0o600)
    (deployment / ".env").write_text(ENV + "NEW_KEY=default\n", encoding="utf-8")
    proc = pre_commit(deployment, "run", "envsync-check", "--all-files", "--verbose")
    assert proc.returncode == 0, proc.stdout
    assert "in 2 pairs" in proc.stdout


# --- the README's snippet, installed as a real .pre-commit-config.yaml ------------------------


def doc_blocks(language: str) -> Iterator[str]:
    """Fenced blocks of ``language`` in the README."""
    fence = re.compile(rf"^```{language}\n(.*?)^```$", re.S | re.M)
    for doc in DOCS:
        if doc.exists():
            yield from fence.findall(doc.read_text("utf-8"))


def readme_config() -> str:
    for block in doc_blocks("yaml"):
        if "id: envsync-check" in block and "repos:" in block:
            return block
    raise AssertionError("no .pre-commit-config.yaml snippet with envsync-check in the docs")


def test_readme_snippet_names_both_hooks_and_base_ref() -> None:
    config = yaml.safe_load(readme_config())
    (repo,) = config["repos"]
    assert [h["id"] for h in repo["hooks"]] == list(HOOK_IDS)
    assert any(h.get("args") == ["--base-ref", "HEAD"] for h in repo["hooks"])


def test_readme_snippet_with_base_ref(
    pre_commit: PreCommit, hook_repo: Path, tmp_path: Path
) -> None:
    """Upgrade in the working tree: HEAD holds the old template, the new one is not committed."""
    config = yaml.safe_load(readme_config())
    config["repos"][0]["repo"] = str(hook_repo)
    config["repos"][0]["rev"] = git(hook_repo, "rev-parse", "HEAD").strip()
    repo = init_repo(tmp_path / "deployment")
    (repo / ".gitignore").write_text(".env\nenv-backup/\n", encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (repo / ".env.example").write_text(TEMPLATE_V1, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    (repo / ".env").write_text("APP_URL=https://prod.example\nWORKERS=2\n", encoding="utf-8")
    (repo / ".env").chmod(0o600)
    (repo / ".env.example").write_text(TEMPLATE_V2, encoding="utf-8")  # the upgrade

    check = pre_commit(repo, "run", "envsync-check", "--all-files")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "ENV004 stale-default WORKERS" in check.stdout  # WORKERS=2 was v1's default
    assert "ENV001 missing-key NEW_KEY" in check.stdout

    fix = pre_commit(repo, "run", "envsync-fix", "--all-files")
    assert fix.returncode == 1, fix.stdout + fix.stderr
    text = (repo / ".env").read_text("utf-8")
    assert "WORKERS=4" in text  # the stale default moved on
    assert "APP_URL=https://prod.example" in text and "NEW_KEY=default" in text

    both = pre_commit(repo, "run", "--all-files")
    assert both.returncode == 0, both.stdout + both.stderr
