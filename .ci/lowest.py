"""Print pip constraints that pin every direct dependency to its lowest declared version.

Reads ``pyproject.toml``: the runtime ``dependencies`` and the ``test`` extra. Each
``name>=X`` becomes ``name==X`` (environment markers kept), so CI can install the oldest
versions this project claims to work with and run the tests on them, as
``uv pip compile --resolution lowest-direct`` would, without needing uv. A dependency without a
``>=`` lower bound is an error: every bound the project declares must be one it tested.

    python .ci/lowest.py > lowest.txt && python -m pip install -c lowest.txt '.[test]'
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the CI venv has tomli there (a dependency on Python < 3.11)
    import tomli as tomllib

#: ``name[extras] >=version[, more] [; marker]``
REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*"
    r"(?P<specs>[^;]*?)\s*(?:;(?P<marker>.*))?$"
)
LOWER = re.compile(r">=\s*(?P<version>[A-Za-z0-9.+!-]+)")


def lowest(requirement: str) -> str:
    """``pydantic>=2.4`` -> ``pydantic==2.4``; the marker, if any, is kept."""
    m = REQUIREMENT.match(requirement)
    low = LOWER.search(m.group("specs")) if m else None
    if m is None or low is None:
        raise SystemExit(f"no lower bound (>=) in dependency {requirement!r}")
    marker = f"; {m.group('marker').strip()}" if m.group("marker") else ""
    return f"{m.group('name')}=={low.group('version')}{marker}"


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for requirement in requirements:
        print(lowest(requirement))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
