"""The GitHub Action (``action.yml``): its schema, and its steps run the way the runner runs them.

A small runner stand-in executes each step's ``run:`` script with ``bash --noprofile --norc -eo
pipefail`` (GitHub's ``shell: bash``), the step's ``env:`` with its ``${{ }}`` expressions
evaluated (inputs, earlier steps' outputs; any other expression fails the test), fresh
``GITHUB_OUTPUT`` files, a ``GITHUB_STEP_SUMMARY`` file and ``GITHUB_ACTIONS=true``. The install
step honours ``ENVSYNC_ACTION_SKIP_INSTALL=1`` (tests only) and then uses the ``python`` input as
it is; one test runs the real install into a virtual environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load_action() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return data


# --- the action file itself -------------------------------------------------------------------


def test_action_validates_against_the_github_actions_schema() -> None:
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(exe).exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-actions", str(ACTION)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    """The validator rejects a composite action whose run step lacks ``shell``."""
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(exe).exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    bad = load_action()
    del bad["runs"]["steps"][0]["shell"]
    path = tmp_path / "action.yml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-actions", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def test_used_actions_are_pinned_by_commit() -> None:
    used = [s["uses"] for s in load_action()["runs"]["steps"] if "uses" in s]
    assert used, "the action caches its dependencies with actions/cache"
    for ref in used:
        assert SHA_PINNED.match(ref), ref


def test_description_fits_the_marketplace() -> None:
    """The Marketplace refuses a description of 125 characters or more."""
    assert len(load_action()["description"]) < 125


def test_every_step_is_bash_and_takes_inputs_only_through_env() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        if "uses" in step:
            continue  # (pinned: test_used_actions_are_pinned_by_commit)
        assert step.get("shell") == "bash", step.get("id")
        assert "${{" not in step["run"], f"step {step.get('id')}: expression inside run:"
        for value in (step.get("env") or {}).values():
            assert EXPRESSION.fullmatch(str(value)), f"env value {value!r} is not one expression"


def test_every_input_reaches_a_step() -> None:
    action = load_action()
    used = set()
    for step in action["runs"]["steps"]:
        values = [*(step.get("env") or {}).values(), step.get("working-directory", "")]
        for value in [*values, step.get("if", "")]:
            used.update(re.findall(r"inputs\.([\w-]+)", str(value)))
    assert used == set(action["inputs"])


def test_outputs_come_from_the_run_step() -> None:
    outputs = load_action()["outputs"]
    assert set(outputs) >= {"errors", "warnings", "notices", "total", "changed"}
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


# --- a runner stand-in ------------------------------------------------------------------------


class ActionRun(NamedTuple):
    returncode: int
    outputs: dict[str, str]  # the action's outputs (``outputs:`` evaluated)
    steps: dict[str, dict[str, str]]  # step id -> its outputs
    stdout: str
    stderr: str
    summary: str


def parse_github_output(text: str) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIMITER`` blocks, as the runner reads them."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            else:
                raise AssertionError(f"unterminated {delimiter} block in GITHUB_OUTPUT")
            out[name] = "\n".join(body)
        else:
            name, sep, value = line.partition("=")
            assert sep, f"malformed GITHUB_OUTPUT line {line!r}"
            out[name] = value
    return out


def evaluate(text: str, inputs: dict[str, str], steps: dict[str, dict[str, str]]) -> str:
    def one(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs.") :]]
        parts = expr.split(".")
        if len(parts) == 4 and parts[0] == "steps" and parts[2] == "outputs":
            return steps.get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"the stand-in runner does not know the expression {expr!r}")

    return EXPRESSION.sub(one, text)


def run_action(
    tmp_path: Path,
    workspace: Path,
    inputs: dict[str, str],
    *,
    action_path: Path = ROOT,
    skip_install: bool = True,
    extra_env: dict[str, str] | None = None,
) -> ActionRun:
    action = load_action()
    declared = action["inputs"]
    unknown = set(inputs) - set(declared)
    assert not unknown, f"not inputs of the action: {unknown}"
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values.update(inputs)
    runner = tmp_path / "runner"
    runner.mkdir(exist_ok=True)
    summary = runner / "step_summary.md"
    summary.touch()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    base_env.update(
        GITHUB_ACTIONS="true",
        GITHUB_ACTION_PATH=str(action_path),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(runner),
    )
    if skip_install:
        base_env["ENVSYNC_ACTION_SKIP_INSTALL"] = "1"
    else:
        base_env.pop("ENVSYNC_ACTION_SKIP_INSTALL", None)
        base_env.pop("PYTHONPATH", None)  # the installed action, not this checkout
        # pip as on a fresh runner: the index only, none of this machine's pip configuration
        # (local wheel folders or constraints would bypass the lock's downloads and the cache)
        for name in [k for k in base_env if k.startswith("PIP_") and k != "PIP_CERT"]:
            del base_env[name]
        base_env["PIP_CONFIG_FILE"] = os.devnull
    base_env.update(extra_env or {})
    steps: dict[str, dict[str, str]] = {}
    stdout, stderr, rc = "", "", 0
    for i, step in enumerate(action["runs"]["steps"]):
        if "uses" in step:
            continue  # actions/cache: nothing to restore here (a cache miss)
        script = runner / f"step{i}.sh"
        script.write_text(step["run"], encoding="utf-8")
        output = runner / f"output{i}"
        output.touch()
        env = dict(base_env, GITHUB_OUTPUT=str(output))
        env.update({k: evaluate(str(v), values, steps) for k, v in (step.get("env") or {}).items()})
        cwd = workspace / evaluate(step.get("working-directory", "."), values, steps)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        stdout += proc.stdout
        stderr += proc.stderr
        steps[step.get("id", f"step{i}")] = parse_github_output(output.read_text("utf-8"))
        rc = proc.returncode
        if rc != 0:
            break  # a failing step fails the composite action
    outputs = {
        name: evaluate(spec["value"], values, steps) for name, spec in action["outputs"].items()
    }
    return ActionRun(rc, outputs, steps, stdout, stderr, summary.read_text("utf-8"))


# --- scenarios --------------------------------------------------------------------------------

TEMPLATE = "# database\nDB_HOST=db\nDB_PORT=5432\n\n# cache\nREDIS_HOST=redis\n"
ENV = "DB_HOST=db.internal\nDB_PORT=5432\nLOCAL_DEBUG=1\n"  # lacks REDIS_HOST, adds LOCAL_DEBUG


def write_env(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))
    path.chmod(0o600)  # no unsafe-permissions finding


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    write_env(ws / ".env", ENV)
    return ws


PY = {"python": sys.executable}


def test_check_outputs_annotations_and_summary(tmp_path: Path, workspace: Path) -> None:
    (workspace / "out").mkdir()
    run = run_action(
        tmp_path, workspace, {**PY, "junit": "out/junit.xml", "sarif": "out/envsync.sarif"}
    )
    assert run.returncode == 1, run.stderr
    assert run.outputs == {
        "errors": "1",
        "warnings": "1",
        "notices": "1",  # DB_HOST differs from the template default
        "total": "3",
        "changed": "false",
        "exit-code": "1",
    }
    annotations = [ln for ln in run.stdout.splitlines() if ln.startswith("::")]
    assert any(
        a.startswith("::error file=.env.example,line=6,title=ENV001 missing-key::REDIS_HOST")
        for a in annotations
    ), annotations
    assert any(a.startswith("::warning ") and "LOCAL_DEBUG" in a for a in annotations)
    assert "db.internal" not in run.stdout + run.stderr + run.summary
    assert "| File | Line | Code | Slug | Key | Message |" in run.summary
    rows = [ln for ln in run.summary.splitlines() if ln.startswith("| ") and "ENV0" in ln]
    assert len(rows) == 3
    assert (workspace / "out" / "junit.xml").read_text("utf-8").startswith("<?xml")
    assert json.loads((workspace / "out" / "envsync.sarif").read_text("utf-8"))["version"] == (
        "2.1.0"
    )
    # the temporary JSON report is gone
    assert not list((tmp_path / "runner").glob("envsync-report.*"))


def test_counts_match_a_direct_json_report(tmp_path: Path, workspace: Path) -> None:
    run = run_action(tmp_path, workspace, {**PY, "fail-on": "never"})
    assert run.returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "envsync_hook", "check", "--format", "json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = json.loads(proc.stdout)["summary"]
    assert run.outputs["errors"] == str(summary["by_severity"]["error"])
    assert run.outputs["warnings"] == str(summary["by_severity"]["warning"])
    assert run.outputs["notices"] == str(summary["by_severity"]["info"])
    assert run.outputs["total"] == str(summary["total"])


def test_fix_changes_the_env_file_then_nothing(tmp_path: Path, workspace: Path) -> None:
    run = run_action(tmp_path, workspace, {**PY, "command": "fix"})
    assert run.returncode == 1  # like the pre-commit hook: a changed file fails the step
    assert run.outputs["changed"] == "true"
    text = (workspace / ".env").read_text("utf-8")
    assert "REDIS_HOST=redis" in text
    assert "DB_HOST=db.internal" in text and "LOCAL_DEBUG=1" in text
    assert len(list((workspace / "env-backup").glob("*.backup_*[0-9]"))) == 1
    assert "## envsync fix" in run.summary

    again = run_action(tmp_path, workspace, {**PY, "command": "fix"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.outputs["changed"] == "false"
    assert again.outputs["errors"] == "0"
    assert len(list((workspace / "env-backup").glob("*.backup_*[0-9]"))) == 1


@pytest.mark.parametrize(
    ("fail_on_change", "expected"),
    [("true", 1), ("false", 0)],
)
def test_fail_on_change(
    tmp_path: Path, workspace: Path, fail_on_change: str, expected: int
) -> None:
    run = run_action(
        tmp_path,
        workspace,
        {**PY, "command": "fix", "fail-on": "never", "fail-on-change": fail_on_change},
    )
    assert run.returncode == expected
    assert run.outputs["changed"] == "true"
    assert run.outputs["exit-code"] == "1"  # envsync's own exit code, whatever the step's


def test_fail_on_change_false_keeps_failures(tmp_path: Path, workspace: Path) -> None:
    """Findings that remain after the merge, at or above fail-on, still fail the step, change
    or not (the missing keys are gone once fix has added them; the extra key stays)."""
    run = run_action(
        tmp_path,
        workspace,
        {**PY, "command": "fix", "fail-on": "warning", "fail-on-change": "false"},
    )
    assert run.returncode == 1
    assert run.outputs["warnings"] == "1"
    assert run.outputs["changed"] == "true"


def test_templates_also_args_and_working_directory(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    app = ws / "deploy" / "docker"
    (app / "envs" / "middleware").mkdir(parents=True)
    (app / ".env.example").write_text("A=1\n", encoding="utf-8")
    (app / "envs" / "middleware" / "db.env.example").write_text("MOVED=x\n", encoding="utf-8")
    write_env(app / ".env", "A=1\nMOVED=x\nLOCAL_ONE=1\nLOCAL_TWO=2\n")
    run = run_action(
        tmp_path,
        ws,
        {
            **PY,
            "working-directory": "deploy/docker",
            "templates": ".env.example",
            "also": "envs/**/*.env.example",  # passed as a glob, not expanded by bash
            "args": "--ignore 'LOCAL_*' --severity 'relocated-key=warning'",
        },
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.outputs["warnings"] == "1"  # MOVED: relocated, raised to warning; LOCAL_* ignored
    assert run.outputs["total"] == "1"
    assert "title=ENV008 relocated-key::MOVED" in run.stdout


def _annotation_files(stdout: str) -> list[str]:
    files = []
    for line in stdout.splitlines():
        m = re.match(r"::(?:error|warning|notice) (?:[a-z]+=[^,:]*,)*?file=([^,:]*)", line)
        if m:
            files.append(m.group(1).replace("%2C", ",").replace("%3A", ":").replace("%25", "%"))
    return files


@pytest.mark.parametrize("command", ["check", "fix"])
def test_paths_are_from_the_repository_root_in_a_working_directory(
    tmp_path: Path, command: str
) -> None:
    """``working-directory: docker`` (the README's example): every annotation's ``file=``, every
    summary row and every SARIF URI is a path from ``$GITHUB_WORKSPACE`` that exists there."""
    ws = tmp_path / "ws"
    docker = ws / "docker"
    (docker / "envs").mkdir(parents=True)
    (docker / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    (docker / "envs" / "db.env.example").write_text("DB_POOL=5\n", encoding="utf-8")
    write_env(docker / ".env", ENV + "DB_POOL=5\nDB_POOL=6\n")  # + a duplicate, in .env
    write_env(docker / "envs" / "db.env", "DB_POOL=5\nDB_EXTRA=1\n")
    (ws / ".env.example").unlink(missing_ok=True)  # no root template to attach to by mistake
    run = run_action(
        tmp_path,
        ws,
        {
            **PY,
            "command": command,
            "working-directory": "docker",
            "also": "envs/*.env.example",
            "sarif": "envsync.sarif",
            "fail-on": "never",
        },
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    files = _annotation_files(run.stdout)
    assert len(files) >= 4, run.stdout
    assert set(files) == {"docker/.env.example", "docker/envs/db.env.example"}
    for name in files:
        assert (ws / name).is_file(), name
    rows = [ln.split(" | ")[0][2:] for ln in run.summary.splitlines() if "| ENV0" in ln]
    assert rows and all((ws / r.replace("\\", "")).is_file() for r in rows), rows
    sarif = json.loads((docker / "envsync.sarif").read_text("utf-8"))
    (sarif_run,) = sarif["runs"]
    base = sarif_run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == ws.resolve().as_uri() + "/"
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in sarif_run["results"]]
    assert len(uris) >= 4
    for loc in uris:
        assert loc["uriBaseId"] == "%SRCROOT%"
        assert loc["uri"].startswith("docker/"), loc
        assert (ws / loc["uri"]).is_file(), loc


def test_a_refusal_keeps_exit_code_2_and_writes_no_counts(tmp_path: Path, workspace: Path) -> None:
    run = run_action(tmp_path, workspace, {**PY, "templates": "missing/.env.example"})
    assert run.returncode == 2
    assert run.outputs["exit-code"] == "2"
    assert run.outputs["changed"] == "false"
    assert run.outputs["errors"] == run.outputs["total"] == ""
    assert "cannot read template missing/.env.example" in run.stderr


def test_inputs_are_data_not_code(tmp_path: Path, workspace: Path) -> None:
    run = run_action(
        tmp_path,
        workspace,
        {**PY, "templates": "$(date>pwned1)", "env": "`date>pwned2`", "also": "x;date>pwned3"},
    )
    assert run.returncode == 2
    assert not list(workspace.glob("pwned*"))
    assert "cannot read template $(date>pwned1)" in run.stderr


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "restore"}, "input 'command' must be check or fix"),
        ({"args": "--ignore 'unbalanced"}, "input 'args' is not a valid shell word list"),
    ],
)
def test_bad_inputs_fail_with_an_annotation(
    tmp_path: Path, workspace: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(tmp_path, workspace, {**PY, **inputs})
    assert run.returncode == 2
    assert f"::error title=envsync-hook::{message}" in run.stdout


def test_base_ref(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    ws = tmp_path / "ws"
    ws.mkdir()
    git_env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=ws, env=git_env, check=True, capture_output=True)

    git("init", "-q")
    (ws / ".env.example").write_text("WORKERS=1\nMODE=a\n", encoding="utf-8")
    git("add", ".env.example")
    git("commit", "-q", "-m", "v1")
    git("tag", "v1")
    (ws / ".env.example").write_text("WORKERS=2\nMODE=a\n", encoding="utf-8")
    write_env(ws / ".env", "WORKERS=1\nMODE=b\n")  # old default; a customisation
    run = run_action(tmp_path, ws, {**PY, "base-ref": "v1", "fail-on": "warning"})
    assert run.returncode == 1
    assert "title=ENV004 stale-default::WORKERS" in run.stdout
    assert run.outputs["warnings"] == "1"
    assert run.outputs["notices"] == "1"  # MODE: changed-default


# --- the real install -------------------------------------------------------------------------

PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "action.yml", "action-requirements.txt")


def copy_package(dest: Path) -> Path:
    """The action's own files as a checkout of the action would hold them."""
    dest.mkdir(parents=True)
    for name in PACKAGE_FILES:
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "envsync_hook",
        dest / "envsync_hook",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return dest


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
    except OSError:
        return False
    return True


def test_install_step_installs_the_action_into_a_virtualenv(
    tmp_path: Path, workspace: Path
) -> None:
    if not pypi_reachable():
        pytest.skip("pypi.org is unreachable: the install step needs pydantic")
    action_path = copy_package(tmp_path / "action")
    run = run_action(tmp_path, workspace, {}, action_path=action_path, skip_install=False)
    python = run.steps["install"]["python"]
    assert Path(python).is_relative_to(tmp_path / "runner"), python
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.outputs["errors"] == "1"
    assert os.stat(python).st_mode & stat.S_IXUSR
    # exactly the locked versions, nothing more (pip itself aside)
    freeze = subprocess.run(
        [python, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True
    ).stdout
    installed = {
        ln.split("==")[0].lower().replace("_", "-"): ln.split("==")[1]
        for ln in freeze.splitlines()
        if "==" in ln and not ln.startswith(("pip==", "setuptools==", "wheel=="))
    }
    assert installed == locked_for_this_python()
    # the wheels went to the folder the cache keeps, keyed on the interpreter and the lock
    cache = Path(run.steps["cache-key"]["dir"])
    assert cache.is_relative_to(tmp_path / "runner")
    wheels = {p.name.split("-")[0].lower().replace("_", "-") for p in cache.glob("*.whl")}
    assert wheels == set(locked_for_this_python())
    tag = f"{sys.implementation.name}{sys.version_info[0]}{sys.version_info[1]}-"
    assert run.steps["cache-key"]["key"].startswith(f"envsync-hook-wheels-local-{tag}")
    # a cache hit (actions/cache restores the folder in a new job): installed from the
    # folder alone, with the index unreachable
    shutil.copytree(cache, tmp_path / "again" / "runner" / cache.name)
    offline = run_action(
        tmp_path / "again",
        workspace,
        {},
        action_path=action_path,
        skip_install=False,
        extra_env={"PIP_INDEX_URL": "http://127.0.0.1:9/"},
    )
    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert offline.outputs["errors"] == "1"


def test_install_refuses_a_file_that_does_not_match_the_lock(
    tmp_path: Path, workspace: Path
) -> None:
    """``--require-hashes``: a lock whose hashes do not match what the index serves fails the
    install step, before envsync runs."""
    if not pypi_reachable():
        pytest.skip("pypi.org is unreachable: the install step needs pydantic")
    action_path = copy_package(tmp_path / "action")
    lock = action_path / "action-requirements.txt"
    lock.write_text(
        re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, lock.read_text("utf-8")), "utf-8"
    )
    run = run_action(tmp_path, workspace, {}, action_path=action_path, skip_install=False)
    assert run.returncode != 0
    assert "install" not in run.steps or "python" not in run.steps["install"]
    assert "HASHES" in run.stderr.upper(), run.stderr[-2000:]


def locked_for_this_python() -> dict[str, str]:
    """name -> version of the lock's requirements whose marker holds for this Python."""
    out = {}
    text = (ROOT / "action-requirements.txt").read_text("utf-8")
    for m in re.finditer(r"^([a-z0-9-]+)==(\S+)(?: ; (.*?))? \\$", text, re.M):
        name, version, marker = m.groups()
        if marker is None or _marker_holds(marker):
            out[name] = version
    return out


def _marker_holds(marker: str) -> bool:
    """``python_full_version < '3.10'`` and the like, joined by ``and`` (what uv writes)."""
    ops = {"<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__", "==": "__eq__"}
    here = sys.version_info[:3]
    for clause in marker.split(" and "):
        m = re.fullmatch(r"python_(?:full_)?version (<=|>=|<|>|==) '([\d.]+)'", clause.strip())
        assert m, f"unexpected marker {clause!r} in action-requirements.txt"
        version = tuple(int(p) for p in m.group(2).split("."))
        if not getattr(here[: len(version)], ops[m.group(1)])(version):
            return False
    return True


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    """Every requirement of the lock is ``name==version`` with sha256 hashes, and the lock
    holds pyproject's runtime dependencies at versions within their bounds."""
    text = (ROOT / "action-requirements.txt").read_text("utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    blocks = re.split(r"\n(?=\S)", "\n".join(lines))
    assert len(blocks) >= 4
    for block in blocks:
        head = block.splitlines()[0]
        assert re.match(r"^[a-z0-9-]+==[\w.]+( ; .+)? \\$", head), head
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), head
    names = {b.split("==")[0] for b in blocks}
    assert {"pydantic", "pydantic-core", "tomli"} <= names
    for version in re.findall(r"^pydantic==(\S+)", text, re.M):
        assert tuple(int(p) for p in version.split(".")[:2]) >= (2, 4), version


# --- the repository's code never runs ---------------------------------------------------------
# The steps run in the checked-out repository. A Python started there with `-m`, `-c` or a
# script on stdin puts that directory first on sys.path, so a planted `json.py` would be
# imported instead of the standard library's: every Python of the action runs isolated (-I).

PLANTED = ("argparse", "json", "shlex", "venv")


def plant_modules(tree: Path, markers: Path) -> None:
    """A module of each planted name in ``tree`` that, imported, leaves a marker file."""
    markers.mkdir(exist_ok=True)
    for name in PLANTED:
        (tree / f"{name}.py").write_text(
            f"open({str(markers / name)!r}, 'w').close()\n", encoding="utf-8"
        )


def control_imports(tree: Path, markers: Path) -> list[str]:
    """The plants work: a plain ``python -c 'import NAME'`` in ``tree`` imports each of them."""
    for name in PLANTED:
        subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tree, check=False)
    return sorted(p.name for p in markers.iterdir())


def test_planted_modules_in_the_checkout_never_run(tmp_path: Path, workspace: Path) -> None:
    markers = tmp_path / "markers"
    plant_modules(workspace, markers)
    # `args` makes the step split words (shlex); the counts come from its JSON report (json);
    # envsync itself parses its command line (argparse) and writes JSON and JUnit
    run = run_action(
        tmp_path, workspace, {**PY, "args": "--ignore 'LOCAL_*'", "junit": "junit.xml"}
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.outputs["errors"] == "1" and run.outputs["exit-code"] == "1"
    assert (workspace / "junit.xml").read_text("utf-8").startswith("<?xml")
    assert sorted(p.name for p in markers.iterdir()) == []
    assert control_imports(workspace, markers) == sorted(PLANTED)


def test_planted_venv_module_does_not_run_in_the_install_step(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real install step creates its virtual environment with a planted ``venv.py`` in the
    checkout. pip is kept offline (``PIP_NO_INDEX``): the step may fail at the install, after
    the environment was created; what matters is which ``venv`` made it."""
    markers = tmp_path / "markers"
    plant_modules(workspace, markers)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    action_path = copy_package(tmp_path / "action")
    run_action(tmp_path, workspace, {**PY}, action_path=action_path, skip_install=False)
    venv = tmp_path / "runner" / "envsync-hook-venv"
    assert (venv / "pyvenv.cfg").is_file()  # the standard library's venv ran
    assert sorted(p.name for p in markers.iterdir()) == []
    assert control_imports(workspace, markers) == sorted(PLANTED)


# --- the README's workflows -------------------------------------------------------------------

DOCS = (ROOT / "README.md",)


def doc_workflows() -> list[str]:
    fence = re.compile(r"^```yaml\n(.*?)^```$", re.S | re.M)
    blocks = [b for doc in DOCS if doc.exists() for b in fence.findall(doc.read_text("utf-8"))]
    return [b for b in blocks if re.search(r"^jobs:", b, re.M)]


def test_docs_hold_a_pull_request_check_and_an_upgrade_job() -> None:
    workflows = [yaml.safe_load(b) for b in doc_workflows()]
    steps = [
        step
        for wf in workflows
        for job in wf["jobs"].values()
        for step in job["steps"]
        if "envsync-hook" in step.get("uses", "")
    ]
    commands = {s.get("with", {}).get("command", "check") for s in steps}
    assert commands == {"check", "fix"}
    declared = set(load_action()["inputs"])
    for step in steps:
        assert set(step.get("with", {})) <= declared, step
    assert any("junit" in s.get("with", {}) for s in steps)


@pytest.mark.parametrize("index", range(2))
def test_docs_workflows_validate_against_the_workflow_schema(tmp_path: Path, index: int) -> None:
    exe = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema")
    )
    if not Path(exe).exists():
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    workflows = doc_workflows()
    assert len(workflows) >= 2
    path = tmp_path / "workflow.yml"
    path.write_text(workflows[index], encoding="utf-8")
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docs_workflows_pin_every_action_by_commit_and_grant_least() -> None:
    for text in doc_workflows():
        workflow = yaml.safe_load(text)
        assert workflow["permissions"] == {}, "the workflow grants nothing by default"
        for job in workflow["jobs"].values():
            assert job["permissions"] == {"contents": "read"}
            for step in job["steps"]:
                if "uses" in step:
                    assert SHA_PINNED.match(step["uses"]), step["uses"]
                    assert re.search(rf"uses: {re.escape(step['uses'])} # v\d", text), (
                        "a comment names the release"
                    )
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("zizmor") or str(Path(sys.executable).with_name("zizmor"))
    if not Path(exe).exists():
        pytest.skip("zizmor is not installed (pip install zizmor)")
    return subprocess.run(
        [exe, "--offline", "--no-progress", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _workflow_files(tmp_path: Path, texts: list[str]) -> list[Path]:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    paths = []
    for i, text in enumerate(texts):
        path = folder / f"docs-{i}.yml"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def test_zizmor_finds_nothing_in_the_action_and_the_docs_workflows(tmp_path: Path) -> None:
    """zizmor at its default level, offline, on ``action.yml`` and the README's workflows."""
    workflows = doc_workflows()
    assert len(workflows) >= 2
    proc = _zizmor(ACTION, *_workflow_files(tmp_path, workflows))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


def test_zizmor_can_fail(tmp_path: Path) -> None:
    """The README's workflow as it was (tags, default permissions, kept credentials) fails."""
    old = re.sub(r"@[0-9a-f]{40} # (v[\d.]+).*", r"@\1", doc_workflows()[0])
    old = re.sub(r"(?m)^ *permissions:.*\n(?: +contents: read\n)?", "", old)
    old = old.replace("          persist-credentials: false\n", "")
    proc = _zizmor(*_workflow_files(tmp_path, [old]))
    assert proc.returncode != 0, old
    for audit in ("unpinned-uses", "artipacked", "excessive-permissions"):
        assert audit in proc.stdout, (audit, proc.stdout)


def test_env_content_is_checked_without_touching_the_disk(tmp_path: Path) -> None:
    """``env-content`` (a secret) reaches envsync through a pipe: the findings are those of the
    content, and no file anywhere (workspace, runner temp, outputs, summary) holds it."""
    ws = tmp_path / "ws"
    (ws / "docker").mkdir(parents=True)
    (ws / "docker" / ".env.example").write_text(TEMPLATE, encoding="utf-8")
    secret = "pr0duct10n-s3cr3t-v4lue"
    content = f"DB_HOST={secret}\nDB_PORT=5432\nLOCAL_DEBUG=1\n"  # lacks REDIS_HOST
    run = run_action(
        tmp_path,
        ws,
        {**PY, "working-directory": "docker", "env-content": content, "junit": "r.xml"},
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.outputs["errors"] == "1"  # REDIS_HOST
    assert run.outputs["warnings"] == "1"  # LOCAL_DEBUG
    assert "::error file=docker/.env.example,line=6,title=ENV001 missing-key::REDIS_HOST" in (
        run.stdout
    )
    assert not (ws / "docker" / ".env").exists()
    assert secret not in run.stdout + run.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"env": ".env", "env-content": "A=1"},
            "inputs 'env' and 'env-content' exclude each other",
        ),
        ({"command": "fix", "env-content": "A=1"}, "fix cannot write an env file back"),
    ],
)
def test_env_content_refusals(
    tmp_path: Path, workspace: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action(tmp_path, workspace, {**PY, **inputs})
    assert run.returncode == 2
    assert message in run.stdout + run.stderr
