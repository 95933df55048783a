"""Checks shared by the configuration dataclasses, and the checked packing of bit fields."""

from collections.abc import Mapping

__all__ = ["is_int", "is_pow2", "pack_fields"]


def is_int(x: object) -> bool:
    """True for an ``int`` that is not a ``bool`` (``True`` is not a lane count)."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_pow2(x: int) -> bool:
    """True for a positive power of two."""
    return x > 0 and x & (x - 1) == 0


def pack_fields(table: Mapping[str, tuple[int, int]], fields: Mapping[str, int], *,
                owner: str) -> int:
    """``fields`` (name: value) placed at their (lsb, width) of ``table``, the others zero.

    Raises
    ------
    ValueError
        For a name ``table`` lacks or a value that does not fit its width, naming ``owner``.
    """
    word = 0
    for name, value in fields.items():
        if name not in table:
            raise ValueError(f"{owner} has no field {name!r} (fields: {', '.join(table)})")
        lsb, width = table[name]
        if not is_int(value) or not 0 <= value < 1 << width:
            raise ValueError(f"{owner}.{name} = {value!r} does not fit {width} bits")
        word |= value << lsb
    return word
