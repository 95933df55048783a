"""Checks shared by the configuration dataclasses."""

__all__ = ["is_int", "is_pow2"]


def is_int(x: object) -> bool:
    """True for an ``int`` that is not a ``bool`` (``True`` is not a lane count)."""
    return isinstance(x, int) and not isinstance(x, bool)


def is_pow2(x: int) -> bool:
    """True for a positive power of two."""
    return x > 0 and x & (x - 1) == 0
