"""The package as PyPI shows it: license, metadata, and a README whose links work there.

Building and checking the sdist and the wheel (twine, check-wheel-contents, validate-pyproject,
the suite run from the sdist) is in ``.ci/run``: it needs the build backend from the index.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
REPOSITORY = "https://github.com/envsync-hook/envsync-hook"


def test_license_is_mit_in_the_repository_and_declared_as_an_expression() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert PROJECT["license"] == "MIT"  # an SPDX expression (PEP 639), not a table
    assert PROJECT["license-files"] == ["LICENSE"]
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    backend = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(7[7-9]|[89]\d)(\.\d+)*", r) for r in backend), backend


def test_metadata_pyroma_asks_for() -> None:
    assert PROJECT["authors"] and PROJECT["keywords"]
    assert set(PROJECT["urls"]) >= {"Homepage", "Issues", "Source"}
    for url in PROJECT["urls"].values():
        assert url.startswith(REPOSITORY), url
    assert REPOSITORY in (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_classifiers_match_requires_python() -> None:
    low = tuple(int(p) for p in PROJECT["requires-python"].removeprefix(">=").split("."))
    versions = [
        tuple(int(p) for p in c.rsplit(" ", 1)[1].split("."))
        for c in PROJECT["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert min(versions) == low


MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
HTML_LINK = re.compile(r"""(?:href|src)=["']([^"']+)["']""")


def test_readme_links_are_absolute() -> None:
    """PyPI renders the README away from the repository: a relative link is a dead one."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = MARKDOWN_LINK.findall(text) + HTML_LINK.findall(text)
    assert links, "the README links to the docs"
    relative = [link for link in links if not re.match(r"(https?://|mailto:|#)", link)]
    assert relative == []


def test_dependencies_have_lower_bounds_that_ci_installs() -> None:
    """``.ci/lowest.py`` turns every ``>=X`` into ``==X``; a dependency without one fails."""
    sys.path.insert(0, str(ROOT / ".ci"))
    try:
        from lowest import lowest  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / ".ci"))
    requirements = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["test"]]
    pins = [lowest(r) for r in requirements]
    assert "pydantic==2.4" in pins
    assert "tomli==2.0; python_version < '3.11'" in pins  # the marker is kept
    assert "zizmor==1.33.1; python_version >= '3.11'" in pins
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[\w.]+(; .+)?", p) for p in pins), pins
