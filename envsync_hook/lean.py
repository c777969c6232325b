"""Two of Python's start-up costs, avoided: ``typing.NamedTuple`` and regexes compiled at import.

A plain check takes about 120 ms here, of which the interpreter takes 20; what the modules do
when they are imported is a good part of the rest.

``NamedTuple`` has ``typing.NamedTuple``'s class syntax at a third of its cost. The typing one
turns every field's annotation into a ``ForwardRef``, and each of those compiles its text: about
0.3 ms a class, 9 ms of a check over the thirty record types the check path defines. This one
hands the fields, defaults and methods to ``collections.namedtuple`` and keeps the annotations
as written (the strings ``from __future__ import annotations`` leaves), which
``typing.get_type_hints`` and pydantic resolve as they resolve any class's. Type checkers see
``typing.NamedTuple`` itself. What differs: no ``Generic`` records, no check that the
annotations are types (mypy makes that check), and ``__bases__`` is ``(tuple,)``.

``lazy_pattern`` is ``re.compile`` on first use, for the regexes most runs never use (masking
values for display, rare syntax errors): compiling those at import cost about 5 ms of a check.
"""

from __future__ import annotations

import re

__all__ = ["TYPE_CHECKING", "NamedTuple", "cast", "lazy_pattern", "overload"]

#: ``typing.TYPE_CHECKING`` without importing ``typing`` (about 4 ms): type checkers take any
#: ``if TYPE_CHECKING:`` as true, whatever the name is bound to
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any
    from typing import NamedTuple as NamedTuple
    from typing import cast as cast
    from typing import overload as overload
else:

    def cast(typ: object, value: Any) -> Any:
        """``typing.cast`` at run time: ``value`` itself."""
        return value

    def overload(func: Any) -> Any:
        """``typing.overload`` at run time: the last definition, the one that runs, wins."""
        return func

    import collections

    #: what ``collections.namedtuple`` makes, never replaced by the class body
    _OWN = frozenset(
        {"__module__", "__annotations__", "__new__", "__init__", "__slots__", "__getnewargs__"}
        | {"_fields", "_field_defaults", "_make", "_replace", "_asdict", "_source"}
    )

    class _RecordMeta(type):
        """Builds ``class X(NamedTuple): ...`` as ``collections.namedtuple`` would."""

        def __new__(cls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
            if not bases:  # the ``NamedTuple`` base itself
                return super().__new__(cls, typename, bases, ns)
            annotations = dict(ns.get("__annotations__", {}))
            defaults = [ns[name] for name in annotations if name in ns]
            if defaults and list(annotations)[-len(defaults) :] != [
                name for name in annotations if name in ns
            ]:
                raise TypeError(f"{typename}: a field without a default follows one with one")
            record = collections.namedtuple(
                typename, list(annotations), defaults=defaults, module=ns["__module__"]
            )
            record.__annotations__ = annotations
            for key, value in ns.items():
                if key in _OWN and key != "__module__" and key != "__annotations__":
                    raise AttributeError(f"{typename}: cannot overwrite NamedTuple attribute {key}")
                if key not in _OWN and key not in annotations:
                    setattr(record, key, value)
            return record

    class NamedTuple(metaclass=_RecordMeta):
        """Base of a record type: ``class Point(NamedTuple): x: int; y: int = 0``."""


class _LazyPattern:
    """Stands for a compiled regex; compiles it when a method is first looked up, then puts
    the compiled pattern's methods on itself, so that later calls cost what they would on the
    compiled pattern."""

    def __init__(self, pattern: str, flags: int) -> None:
        self._args = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(*self._args)
        for attr in dir(compiled):
            if not attr.startswith("_"):
                setattr(self, attr, getattr(compiled, attr))
        return getattr(compiled, name)


def lazy_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``re.compile(pattern, flags)``, done when the pattern is first used. Use its methods
    (``.sub``, ``.match``, ...) only: it cannot be handed to ``re.sub`` and the like."""
    return _LazyPattern(pattern, flags)  # type: ignore[return-value]
