"""Issue 11: where the base comes from (DESIGN.md section 12), and that every report says so.

Option > sync record > hook ref > git history > none; ``--no-base`` forces two-way. The JSON
report carries ``base: {source, detail}`` per pair; the text report a header line per pair.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_run import run

V1 = "A=1\nB=old\nC=keep\n"
V2 = "A=1\nB=new\nC=keep\nD=4\n"


def _json(cwd: Path, *args: str) -> dict[str, Any]:
    proc = run(cwd, *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _files(directory: Path, template: str, env: str, **others: str) -> None:
    """The template, the env file (mode 0600, as fix writes it) and further files."""
    (directory / ".env.example").write_text(template)
    (directory / ".env").write_text(env)
    (directory / ".env").chmod(0o600)
    for name, text in others.items():
        (directory / name.replace("_", ".")).write_text(text)


def _codes(pair: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["code"], f["key"]) for f in pair["findings"])


@pytest.mark.parametrize(
    ("args", "source", "codes"),
    [
        (["--base", "v1.env.example"], "option", [("ENV001", "D"), ("ENV004", "B")]),
        ([], "none", [("ENV001", "D"), ("ENV003", "B")]),
        (["--no-base"], "none", [("ENV001", "D"), ("ENV003", "B")]),
    ],
    ids=["option", "nothing", "no-base"],
)
def test_json_base_object_says_where_the_base_came_from(
    tmp_path: Path, args: list[str], source: str, codes: list[tuple[str, str]]
) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    pair = _json(tmp_path, "check", *args)["pairs"][0]
    assert pair["base"]["source"] == source
    if source == "option":
        assert "v1.env.example" in pair["base"]["detail"]
    if args == ["--no-base"]:
        assert pair["base"]["detail"] == "--no-base"
    assert _codes(pair) == codes


def test_no_base_overrides_a_configured_base(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    (tmp_path / ".envsync.toml").write_text('base = "v1.env.example"\n')
    configured = _json(tmp_path, "check")["pairs"][0]
    assert configured["base"]["source"] == "option"
    assert ("ENV004", "B") in _codes(configured)
    forced = _json(tmp_path, "check", "--no-base")["pairs"][0]
    assert forced["base"] == {"source": "none", "detail": "--no-base"}
    assert ("ENV003", "B") in _codes(forced)


def test_no_base_and_base_are_exclusive(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1)
    proc = run(tmp_path, "check", "--no-base", "--base", ".env.example")
    assert proc.returncode == 2
    assert "not allowed with" in proc.stderr


def test_text_report_names_the_base_once_per_pair(tmp_path: Path) -> None:
    _files(tmp_path, V2, V1, v1_env_example=V1)
    out = run(tmp_path, "check", "--base", "v1.env.example").stdout.splitlines()
    assert [line for line in out if "base" in line and "ENV" not in line] == [
        ".env: base from option: --base v1.env.example"
    ]
