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

from envsync_hook import compose_values
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
