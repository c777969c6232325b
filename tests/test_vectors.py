"""compose_values against the 143 dotenv vectors (tests/data/dotenv-vectors.jsonl).

Each vector's ``compose_go`` is what Docker Compose v2 (compose-go's dotenv package) returned:
a dict of values, or ``"error: ..."``. test_compose_oracle.py re-asks the real binary.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import envsync_hook

VECTORS_FILE = Path(__file__).parent / "data" / "dotenv-vectors.jsonl"


def load_vectors() -> list[dict[str, Any]]:
    with VECTORS_FILE.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


VECTORS = load_vectors()
_ERROR_LINE = re.compile(r"error: line (\d+): ")


def test_vector_count() -> None:
    assert len(VECTORS) == 143
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_compose_values(vector: dict[str, Any]) -> None:
    text = vector["input"]
    expected = vector["compose_go"]
    environ = vector.get("env")
    if isinstance(expected, str):
        assert expected.startswith("error: ")
        with pytest.raises(envsync_hook.DotenvSyntaxError) as info:
            got = envsync_hook.compose_values(text, environ=environ)
            pytest.fail(f"compose errors ({expected}); compose_values returned {got!r}")
        m = _ERROR_LINE.match(expected)
        if m:
            assert info.value.line == int(m.group(1)), (expected, str(info.value))
    else:
        assert envsync_hook.compose_values(text, environ=environ) == expected
