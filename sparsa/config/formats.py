"""Number formats of SAT's datapath: two integer and two half-precision floating-point formats.

:class:`NumberFormat` is the one place that knows a format's operand width, its accumulator
format (INT32 for the integers, IEEE binary32 for the floats) and its bytes per element, which
the RTL, the golden functions, the DRAM and energy models and the CLI's ``--dtype`` all read.

The floating-point formats are IEEE 754 binary16 (``fp16``: 1 sign, 5 exponent and 10 fraction
bits) and bfloat16 (``bf16``: 1 sign, 8 exponent and 7 fraction bits, the upper half of a
binary32). Their operands travel as raw bit patterns (unsigned 16-bit integers).
"""

from dataclasses import dataclass
from enum import Enum

__all__ = ["CANONICAL_NAN", "FP32", "FloatLayout", "NumberFormat", "as_format"]


@dataclass(frozen=True)
class FloatLayout:
    """The fields of an IEEE-style binary floating-point format.

    Parameters
    ----------
    exponent_bits : int
        Bits of the biased exponent.
    fraction_bits : int
        Bits of the stored fraction (the significand without its implicit leading one).
    """

    exponent_bits: int
    fraction_bits: int

    @property
    def width(self) -> int:
        """Bits of a value: sign, exponent and fraction."""
        return 1 + self.exponent_bits + self.fraction_bits

    @property
    def bias(self) -> int:
        """Exponent bias, ``2^(e - 1) - 1``."""
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def max_exponent(self) -> int:
        """The all-ones biased exponent (Inf and NaN)."""
        return (1 << self.exponent_bits) - 1


FP32 = FloatLayout(exponent_bits=8, fraction_bits=23)  # IEEE binary32, the float accumulator
CANONICAL_NAN = 0x7FC0_0000
"""The FP32 quiet NaN that every NaN result of SAT's floating-point arithmetic becomes."""


class NumberFormat(Enum):
    """Operand format of SAT's weights, activations and errors.

    ``int8`` and ``int16``: two's-complement integers accumulated exactly in integers. ``fp16``
    and ``bf16``: IEEE binary16 and bfloat16, multiplied and accumulated in IEEE binary32 (FP32,
    as NVIDIA's mixed-precision training does).
    """

    INT8 = "int8"
    INT16 = "int16"
    FP16 = "fp16"
    BF16 = "bf16"

    @property
    def width(self) -> int:
        """Bits per operand."""
        return 8 if self is NumberFormat.INT8 else 16

    @property
    def bytes(self) -> int:
        """Bytes per element in memory."""
        return self.width // 8

    @property
    def is_float(self) -> bool:
        """True for the floating-point formats."""
        return self in (NumberFormat.FP16, NumberFormat.BF16)

    @property
    def description(self) -> str:
        """The format as a datasheet states it, e.g. ``"IEEE binary16 bit pattern"``."""
        return {
            NumberFormat.INT8: "two's-complement INT8",
            NumberFormat.INT16: "two's-complement INT16",
            NumberFormat.FP16: "IEEE binary16 bit pattern",
            NumberFormat.BF16: "bfloat16 bit pattern (the upper half of an IEEE binary32)",
        }[self]

    @property
    def float_layout(self) -> FloatLayout:
        """Exponent and fraction bits of a floating-point format.

        Raises
        ------
        ValueError
            For an integer format.
        """
        if self is NumberFormat.FP16:
            return FloatLayout(exponent_bits=5, fraction_bits=10)
        if self is NumberFormat.BF16:
            return FloatLayout(exponent_bits=8, fraction_bits=7)
        raise ValueError(f"{self.value} is an integer format; it has no exponent or fraction")

    @property
    def accumulator(self) -> str:
        """Name of the accumulation format: ``"int32"`` or ``"fp32"``."""
        return "fp32" if self.is_float else "int32"

    @property
    def stored_range(self) -> tuple[int, int]:
        """Smallest and largest integer an operand is stored as (inclusive): the value range of
        an integer format, every bit pattern of a floating-point one."""
        return (0, (1 << self.width) - 1) if self.is_float else self.range

    @property
    def range(self) -> tuple[int, int]:
        """Smallest and largest operand of an integer format (inclusive).

        Raises
        ------
        ValueError
            For a floating-point format (its operands are bit patterns, not integers).
        """
        if self.is_float:
            raise ValueError(f"{self.value} is a floating-point format; it has no integer range")
        return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1


def as_format(value: object) -> NumberFormat:
    """``value``, a :class:`NumberFormat` or its name (``"fp16"``), as the member.

    Raises
    ------
    ValueError
        Naming the value and the allowed formats.
    """
    if isinstance(value, NumberFormat):
        return value
    try:
        return NumberFormat(value)
    except ValueError:
        allowed = ", ".join(f.value for f in NumberFormat)
        raise ValueError(f"unknown number format {value!r}; allowed: {allowed}") from None
