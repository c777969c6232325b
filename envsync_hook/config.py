"""Configuration files: ``--config FILE``, ``.envsync.toml`` or ``[tool.envsync]`` in pyproject.

Placeholder until the pydantic-validated loader lands: no file means no configuration.
"""

from __future__ import annotations

from envsync_hook.errors import EnvsyncError


def find_and_load(explicit: str | None) -> dict[str, object]:
    if explicit:
        raise EnvsyncError(f"cannot use configuration file {explicit}: not supported yet")
    return {}
