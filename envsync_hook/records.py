"""``NamedTuple`` with ``typing.NamedTuple``'s class syntax, made at a third of its cost.

``typing.NamedTuple`` turns every field's annotation into a ``ForwardRef``, and each of those
compiles its text: about 0.3 ms a class, 9 ms of a plain check's start-up over the thirty
record types the check path defines (a check takes about 120 ms). This one hands the fields,
defaults and methods to ``collections.namedtuple`` and keeps the annotations as written (the
strings ``from __future__ import annotations`` leaves), which ``typing.get_type_hints`` and
pydantic resolve as they resolve any class's. Type checkers see ``typing.NamedTuple`` itself.

What differs from ``typing.NamedTuple``: no ``Generic`` records, no check that the
annotations are types (mypy makes that check), and the class's ``__bases__`` is ``(tuple,)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["NamedTuple"]

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
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
