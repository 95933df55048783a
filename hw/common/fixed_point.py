"""Fixed-point operators of the attention core, as Amaranth expressions.

They implement the integer rules of :mod:`sparsa.models.golden.attention`: a right shift rounded
half up (by a constant or a run-time amount), saturation to a signed width, and the sign
extension of the low bits of a lane whose width is a run-time setting, and a balanced adder
tree.
"""

from collections.abc import Sequence

from amaranth import Const, Mux, Value, signed

__all__ = ["round_shift", "saturate", "sign_extend", "tree_sum"]


def round_shift(x: Value, shift: Value | int) -> Value:
    """x >> shift rounded half up: (x + 2**(shift - 1)) >> shift, and x for shift 0.

    A run-time ``shift`` uses one variable shifter: ((2x >> shift) + 1) >> 1, which is
    floor(x / 2**shift + 1/2) for every shift >= 0 (floor((floor(a) + 1) / 2) =
    floor((a + 1) / 2) for any real a). The arithmetic follows the signedness of ``x``.
    """
    if isinstance(shift, int):
        if shift < 0:
            raise ValueError(f"shift must be >= 0, not {shift}")
        return (x + (1 << (shift - 1))) >> shift if shift else x
    return (((x << 1) >> shift) + 1) >> 1


def saturate(x: Value, width: int) -> Value:
    """``x`` clamped to the range of ``width``-bit signed values, as a ``signed(width)`` value."""
    lo = Const(-(1 << (width - 1)), signed(width))
    hi = Const((1 << (width - 1)) - 1, signed(width))
    return Mux(x > hi, hi, Mux(x < lo, lo, x))[:width].as_signed()


def sign_extend(lane: Value, sign: Value, mask: Value) -> Value:
    """The low w bits of ``lane`` as a signed value, w being a run-time width.

    ``sign`` = 2**(w - 1) and ``mask`` = 2**w - 1 are run-time values (registers computed once
    for many lanes); the result is ((lane & mask) ^ sign) - sign, whatever the bits of ``lane``
    above w hold.
    """
    return ((lane.as_unsigned() & mask) ^ sign) - sign


def tree_sum(values: Sequence[Value]) -> Value:
    """Sum of ``values`` as a balanced adder tree (log2 depth; each level one bit wider)."""
    if not values:
        raise ValueError("tree_sum needs at least one value")
    level = list(values)
    while len(level) > 1:
        pairs = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = pairs + level[len(level) - len(level) % 2 :]
    return level[0]
