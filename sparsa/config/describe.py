"""Configurations as a reader sees them: field values, not Python reprs."""

import dataclasses
import enum

__all__ = ["describe"]


def describe(value: object) -> str:
    """``value`` as text for a report: a configuration dataclass as ``Name(field=value, ...)``
    with its nested configurations described alike, an enumeration member by its value
    (``lfsr``, not ``<PivotMode.LFSR: 'lfsr'>``), a tuple as its items, anything else as
    ``str`` gives it (a dataclass with a ``__str__`` of its own too: an N:M pattern as
    ``2:4``)."""
    if (dataclasses.is_dataclass(value) and not isinstance(value, type)
            and type(value).__str__ is object.__str__):  # one with its own text keeps it
        items = ", ".join(f"{f.name}={describe(getattr(value, f.name))}"
                          for f in dataclasses.fields(value) if f.repr)
        return f"{type(value).__name__}({items})"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple | list):
        return "(" + ", ".join(describe(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)
