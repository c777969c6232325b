"""``envsync_hook.lean.NamedTuple`` builds what ``typing.NamedTuple`` builds, cheaper."""

from __future__ import annotations

import pickle
import re
import typing
from pathlib import Path
from typing import Optional

import pytest

from envsync_hook.lean import NamedTuple, lazy_pattern


class Point(NamedTuple):
    """A point."""

    x: int
    y: int = 0
    label: Optional[str] = None  # noqa: UP045 - resolved by get_type_hints on 3.9 too

    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    @property
    def swapped(self) -> Point:
        return self._replace(x=self.y, y=self.x)


class Typed(typing.NamedTuple):
    x: int
    y: int = 0
    label: Optional[str] = None  # noqa: UP045


def test_behaves_as_typing_named_tuple() -> None:
    p, t = Point(3, -4), Typed(3, -4)
    assert tuple(p) == tuple(t) == (3, -4, None)
    assert p == t and hash(p) == hash(t)
    assert Point._fields == Typed._fields == ("x", "y", "label")
    assert Point._field_defaults == Typed._field_defaults == {"y": 0, "label": None}
    assert p._asdict() == t._asdict()
    assert Point._make([1, 2, "a"]) == (1, 2, "a")
    assert repr(p) == "Point(x=3, y=-4, label=None)"
    assert isinstance(p, tuple)
    with pytest.raises(AttributeError):
        p.x = 1  # type: ignore[misc]


def test_keeps_methods_docstring_and_module() -> None:
    p = Point(3, -4)
    assert p.norm1() == 7
    assert p.swapped == (-4, 3, None)
    assert Point.__doc__ == "A point."
    assert Point.__module__ == __name__
    assert Point.__qualname__ == "Point"


def test_pickles_and_resolves_type_hints() -> None:
    p = Point(1, 2, "z")
    assert pickle.loads(pickle.dumps(p)) == p
    assert typing.get_type_hints(Point) == typing.get_type_hints(Typed)


def test_refuses_what_typing_refuses() -> None:
    with pytest.raises(TypeError):

        class Bad(NamedTuple):
            a: int = 0
            b: int

    with pytest.raises(AttributeError):

        class Worse(NamedTuple):
            a: int

            def _asdict(self) -> dict[str, int]:  # type: ignore[override]
                return {}


def test_lazy_pattern_compiles_on_first_use_and_answers_as_compiled() -> None:
    lazy = lazy_pattern(r"(?i)b(an)+a", 0)
    assert "_args" in vars(lazy) and "sub" not in vars(lazy)  # nothing compiled yet
    compiled = re.compile(r"(?i)b(an)+a")
    for text in ("BANANA", "bandana", "", "a banana split"):
        assert bool(lazy.search(text)) == bool(compiled.search(text))
        assert lazy.sub("-", text) == compiled.sub("-", text)
        assert lazy.findall(text) == compiled.findall(text)
    assert "sub" in vars(lazy)  # later calls go straight to the compiled pattern
    assert lazy.pattern == compiled.pattern and lazy.flags == compiled.flags
    dotall = lazy_pattern("a.b", re.S)
    assert dotall.fullmatch("a\nb") and not re.fullmatch("a.b", "a\nb")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"abc",
        bytes(range(256)) * 64,
        bytes(range(256)) * 2048,
        "é\udcff".encode("utf-8", "surrogateescape"),
    ],
)
def test_record_digest_is_sha256(data: bytes) -> None:
    import hashlib

    from envsync_hook.base import _sha256

    assert _sha256(data) == hashlib.sha256(data).hexdigest()


def test_backup_stamp_is_local_time_without_datetime(tmp_path: Path) -> None:
    import time

    from envsync_hook.files.backups import make_backup

    env = tmp_path / ".env"
    env.write_text("A=1\n")
    before = time.strftime("%Y%m%d_%H%M%S")
    made = make_backup(env, tmp_path / "env-backup")
    after = time.strftime("%Y%m%d_%H%M%S")
    stamp = made.name.split(".backup_", 1)[1]
    assert before <= stamp <= after and len(stamp) == 15
