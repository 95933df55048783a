"""Amaranth shapes of :class:`sparsa.config.formats.NumberFormat` values."""

from amaranth import Shape, signed, unsigned

from sparsa.config.formats import FP32, NumberFormat

__all__ = ["accumulator_shape", "operand_shape"]


def operand_shape(dtype: NumberFormat) -> Shape:
    """Shape of one operand: signed for an integer format, the raw bit pattern (unsigned) for a
    floating-point one."""
    return unsigned(dtype.width) if dtype.is_float else signed(dtype.width)


def accumulator_shape(dtype: NumberFormat, width: int) -> Shape:
    """Shape of an accumulator of ``dtype`` operands: ``width`` signed bits for an integer
    format, an FP32 bit pattern for a floating-point one."""
    return unsigned(FP32.width) if dtype.is_float else signed(width)
