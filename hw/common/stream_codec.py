"""Pack and unpack stream payloads with the RTL's own Amaranth layouts.

:func:`packer` and :func:`unpacker` walk a layout once and return plain-Python functions, which
are what ``layout.const(value).as_bits()`` and ``layout.from_bits(bits)`` compute, about 30
times faster (a wide activation beat of the SAT array takes 0.7 ms with ``const``): nested
lists for array layouts, dicts for struct layouts, ints at the leaves, and members at the leaves
of an enumeration shape (:mod:`amaranth.lib.enum`; packed from a member or its integer code).
Used by the amaranth.sim and cocotb benches of the RTL harness in ``sim/rtl``.
"""

import enum
from collections.abc import Callable
from typing import Any

from amaranth.hdl import Shape, ShapeCastable
from amaranth.lib import data

__all__ = ["packer", "unpacker"]


def _leaf_bounds(shape: ShapeCastable) -> tuple[int, int, bool]:
    cast = Shape.cast(shape)
    width = cast.width
    if cast.signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1, True
    return 0, (1 << width) - 1, False


def packer(shape: ShapeCastable) -> Callable[[Any], int]:
    """Return a function from a value of ``shape`` (nested lists/dicts of ints) to its bits.

    Leaves are checked against their width (a ``range`` shape accepts any value its bits hold,
    so that out-of-range command codes can be sent on purpose); a leaf of an enumeration shape
    takes a member or an integer code.
    """
    if isinstance(shape, data.Layout):
        fields = [(key, field.offset, packer(field.shape)) for key, field in shape]

        def pack_layout(value: Any) -> int:
            if len(value) != len(fields):
                raise ValueError(f"{shape!r} has {len(fields)} fields, got {len(value)} values")
            bits = 0
            for key, offset, pack in fields:
                bits |= pack(value[key]) << offset
            return bits

        return pack_layout
    lo, hi, _ = _leaf_bounds(shape)
    mask = (1 << Shape.cast(shape).width) - 1

    def pack_leaf(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"{value!r} does not fit {shape!r} ({lo}..{hi})")
        return value & mask

    if _is_enum(shape):

        def pack_enum(value: Any) -> int:
            return pack_leaf(value.value if isinstance(value, shape) else value)

        return pack_enum
    return pack_leaf


def unpacker(shape: ShapeCastable) -> Callable[[int], Any]:
    """Return a function from bits to the value of ``shape`` (inverse of :func:`packer`)."""
    if isinstance(shape, data.ArrayLayout | data.StructLayout):
        fields = [(key, field.offset, unpacker(field.shape)) for key, field in shape]
        if isinstance(shape, data.ArrayLayout):
            return lambda bits: [unpack(bits >> offset) for _, offset, unpack in fields]
        return lambda bits: {key: unpack(bits >> offset) for key, offset, unpack in fields}
    if isinstance(shape, data.Layout):
        raise TypeError(f"unpacker handles array and struct layouts, not {shape!r}")
    width = Shape.cast(shape).width
    mask = (1 << width) - 1
    if _leaf_bounds(shape)[2]:
        sign = 1 << (width - 1)

        def unpack_int(bits: int) -> int:
            return ((bits & mask) ^ sign) - sign
    else:

        def unpack_int(bits: int) -> int:
            return bits & mask

    if _is_enum(shape):
        members = {member.value: member for member in shape}

        def unpack_enum(bits: int) -> Any:
            code = unpack_int(bits)
            return members.get(code, code)  # a code that is no member's value stays an int

        return unpack_enum
    return unpack_int


def _is_enum(shape: ShapeCastable) -> bool:
    return isinstance(shape, type) and issubclass(shape, enum.Enum)
