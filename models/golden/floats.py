"""Bit-exact golden functions of the floating-point arithmetic of SAT's training PE array.

A PE multiplies two half-precision operands (both IEEE binary16, :attr:`NumberFormat.FP16`, or
both bfloat16, :attr:`NumberFormat.BF16`) and accumulates the products in IEEE binary32
(:data:`sparsa.config.formats.FP32`). Values travel as raw bit patterns: unsigned integers
(numpy ``uint16`` for the operands, ``uint32`` for products and sums). The contract, which
:mod:`sparsa.hw.common.floats` implements bit for bit:

Product
    The exact product of the two operands rounded once to FP32, round to nearest, ties to even
    (RNE). FP16 x FP16 is always exact: 11-bit significands give at most 22 bits, and every
    FP16 exponent, the subnormals' included, keeps the product inside FP32's normal range.
    BF16 x BF16 has a 16-bit significand product, which FP32's 24 bits hold, so it is exact
    unless it leaves FP32's normal range: a product of 2^128 or more becomes Inf (RNE), and one
    below 2^-126 is rounded to nearest even into FP32's subnormals or to a signed zero (gradual
    underflow, no flush to zero). The sign is the XOR of the operands' signs (0 x -1 = -0).
    0 x Inf is NaN; any NaN operand gives NaN.
Addition
    FP32 + FP32 rounded to nearest even, subnormal inputs and results kept (no flush to zero),
    overflow to Inf. Signed zeros follow IEEE 754: x + (-x) = +0, -0 + -0 = -0, +0 + -0 = +0.
    Inf + -Inf is NaN.
NaN
    Every NaN result, of a product or a sum, is the canonical quiet NaN ``0x7FC00000``
    (:data:`CANONICAL_NAN`); no payload or sign is propagated.
Accumulation
    A PE's accumulator starts at +0.0 and adds the products in the order they arrive:
    ``acc = ((0 + p0) + p1) + ...``. A consequence: a sum of only -0 products is +0. A PE
    whose adder has L > 1 register stages keeps L such sums, interleaved, and combines them
    in a fixed order at the end (:func:`fp32_interleaved`).
FP32 product and narrowing (the weight-update engine, :mod:`sparsa.models.golden.weight_update`)
    FP32 x FP32 is the exact product rounded once to FP32 (RNE, overflow to Inf, gradual
    underflow, signs and specials as for the half-precision product). FP32 to FP16 or BF16
    rounds to nearest even, overflow to Inf, into the format's subnormals; a NaN becomes the
    format's quiet NaN with a zero payload and sign (``0x7E00``, ``0x7FC0``).

numpy's float32 and float64 arithmetic on x86-64 is IEEE 754 with RNE and subnormals, so these
functions compute with it (the exact product of two half-precision values fits a float64,
whose cast to float32 is the one rounding) and then canonicalise the NaNs.
"""

import numpy as np
import numpy.typing as npt

from sparsa.config.formats import CANONICAL_NAN, FP32, FloatLayout, NumberFormat

__all__ = [
    "CANONICAL_NAN",
    "fp32_accumulate",
    "fp32_add",
    "fp32_interleaved",
    "fp32_mul",
    "fp32_to_half",
    "fp_product",
    "from_bits",
    "to_bits",
]



def _name(fmt: object) -> str:
    """How an error names ``fmt``: a :class:`NumberFormat`'s value (``int8``), else its repr."""
    return fmt.value if isinstance(fmt, NumberFormat) else repr(fmt)


def _layout(fmt: NumberFormat | FloatLayout) -> FloatLayout:
    """The field layout of ``fmt``: FP16, BF16 or FP32 (the layout :data:`FP32`).

    Raises
    ------
    ValueError
        Naming ``fmt`` and the allowed formats.
    """
    if isinstance(fmt, NumberFormat) and fmt.is_float:
        return fmt.float_layout
    if fmt == FP32:
        return FP32
    raise ValueError(
        f"{_name(fmt)} is not a floating-point format of the PE; allowed: "
        f"NumberFormat.FP16, NumberFormat.BF16 and FP32"
    )


def _check_operand_format(fmt: NumberFormat) -> None:
    """Raise a ValueError naming ``fmt`` unless it is FP16 or BF16."""
    if not (isinstance(fmt, NumberFormat) and fmt.is_float):
        raise ValueError(
            f"{_name(fmt)} is not a floating-point operand format; allowed: "
            f"NumberFormat.FP16 and NumberFormat.BF16"
        )


def _canonical(bits: np.ndarray, layout: FloatLayout) -> np.ndarray:
    """``bits`` with every NaN replaced by the quiet NaN of ``layout`` with a zero payload."""
    magnitude = bits & ((1 << (layout.width - 1)) - 1)
    inf = layout.max_exponent << layout.fraction_bits
    nan = inf | (1 << (layout.fraction_bits - 1))
    return np.where(magnitude > inf, bits.dtype.type(nan), bits)


def _round(x: np.ndarray, layout: FloatLayout) -> np.ndarray:
    """float64 ``x`` rounded to nearest even onto the values of ``layout`` (Inf beyond them).

    The quantum of ``x`` (its unit in the last place in ``layout``, the subnormals' quantum
    below the normal range) is a power of two, so ``x / quantum`` is exact and ``np.rint``
    (ties to even) is the one rounding. NaN and Inf pass.
    """
    with np.errstate(all="ignore"):
        _, exponent = np.frexp(x)  # x = m * 2^exponent, 0.5 <= |m| < 1
        e_min = 1 - layout.bias
        quantum = np.ldexp(1.0, np.maximum(exponent - 1, e_min) - layout.fraction_bits)
        rounded = np.where(np.isfinite(x), np.rint(x / quantum) * quantum, x)
        largest = np.ldexp(2.0 - 2.0**-layout.fraction_bits, layout.max_exponent - 1 - layout.bias)
        return np.where(np.abs(rounded) > largest, np.copysign(np.inf, x), rounded)


def to_bits(values: npt.ArrayLike, fmt: NumberFormat | FloatLayout) -> np.ndarray:
    """Bit patterns of ``values`` in ``fmt``, rounded to nearest even.

    Parameters
    ----------
    values : array_like of float
        Any real values (float16, float32 or float64); each is rounded once, from its own
        precision, to ``fmt`` (overflow to Inf, gradual underflow to subnormals and signed
        zeros). NaNs become the format's quiet NaN with a zero payload and sign bit.
    fmt : NumberFormat or FloatLayout
        ``NumberFormat.FP16``, ``NumberFormat.BF16`` or ``FP32``.

    Returns
    -------
    numpy.ndarray
        ``uint16`` (FP16, BF16) or ``uint32`` (FP32) bit patterns, the shape of ``values``.

    Raises
    ------
    ValueError
        For any other format (an integer format, another layout).
    """
    layout = _layout(fmt)
    with np.errstate(all="ignore"):  # a signalling NaN's cast warns
        exact = _round(np.asarray(values, dtype=np.float64), layout)
    # ``exact`` holds values of ``layout``, so these casts are exact.
    if layout == FP32:
        bits = exact.astype(np.float32).view(np.uint32)
    elif fmt is NumberFormat.FP16:
        bits = exact.astype(np.float16).view(np.uint16)
    else:
        bits = (exact.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return _canonical(bits, layout)


def from_bits(bits: npt.ArrayLike, fmt: NumberFormat | FloatLayout) -> np.ndarray:
    """The values of the bit patterns ``bits`` of ``fmt``, exactly.

    Parameters
    ----------
    bits : array_like of int
        Bit patterns, each below 2^width of the format.
    fmt : NumberFormat or FloatLayout
        ``NumberFormat.FP16`` (returns float16), ``NumberFormat.BF16`` or ``FP32`` (both return
        float32, which holds every BF16 value).

    Returns
    -------
    numpy.ndarray
        The values, NaN payloads and signs as the conversions to the numpy type keep them.

    Raises
    ------
    ValueError
        For a format other than FP16, BF16 and FP32, or a pattern outside ``0 .. 2^width - 1``.
    """
    layout = _layout(fmt)
    raw = np.asarray(bits)
    if raw.dtype.kind not in "ui" and raw.size:
        raise ValueError(f"bits must be integers, got dtype {raw.dtype}")
    if raw.size and (raw.min() < 0 or raw.max() >= 1 << layout.width):
        bad = raw[(raw < 0) | (raw >= 1 << layout.width)].flat[0]
        raise ValueError(
            f"bit pattern {int(bad)} is outside the {layout.width}-bit range "
            f"0..{(1 << layout.width) - 1}"
        )
    if fmt is NumberFormat.FP16:
        return raw.astype(np.uint16).view(np.float16)
    if layout == FP32:
        return raw.astype(np.uint32).view(np.float32)
    return (raw.astype(np.uint32) << 16).view(np.float32)


def fp_product(a_bits: npt.ArrayLike, b_bits: npt.ArrayLike, fmt: NumberFormat) -> np.ndarray:
    """FP32 products of the half-precision operands ``a_bits`` and ``b_bits`` (broadcast).

    Parameters
    ----------
    a_bits, b_bits : array_like of int
        FP16 or BF16 bit patterns.
    fmt : NumberFormat
        ``NumberFormat.FP16`` or ``NumberFormat.BF16``.

    Returns
    -------
    numpy.ndarray
        ``uint32`` FP32 bit patterns of the products, rounded once to nearest even, NaNs
        canonical (see the module's contract).

    Raises
    ------
    ValueError
        For an integer format, or a pattern wider than 16 bits.
    """
    _check_operand_format(fmt)
    with np.errstate(all="ignore"):  # NaN and Inf operands and results raise no warning
        a = from_bits(a_bits, fmt).astype(np.float64)
        b = from_bits(b_bits, fmt).astype(np.float64)
        # Exact in float64 (at most 22 significand bits, exponents within +-300); the cast to
        # float32 is the one RNE rounding, subnormal results included.
        product = (a * b).astype(np.float32)
    return _canonical(product.view(np.uint32), FP32)


def fp32_add(a_bits: npt.ArrayLike, b_bits: npt.ArrayLike) -> np.ndarray:
    """FP32 sums ``a + b`` of the FP32 bit patterns ``a_bits`` and ``b_bits`` (broadcast).

    Returns
    -------
    numpy.ndarray
        ``uint32`` bit patterns, rounded to nearest even, NaNs canonical (see the module's
        contract for signed zeros and specials).

    Raises
    ------
    ValueError
        For a pattern outside ``0 .. 2^32 - 1``.
    """
    a = from_bits(a_bits, FP32)
    b = from_bits(b_bits, FP32)
    with np.errstate(all="ignore"):
        total = a + b
    return _canonical(np.asarray(total, dtype=np.float32).view(np.uint32), FP32)


def fp32_accumulate(products_bits: npt.ArrayLike, axis: int = -1) -> np.ndarray:
    """A PE's FP32 accumulation of ``products_bits`` along ``axis``, in order.

    The accumulator starts at +0.0 and adds the products one by one with :func:`fp32_add`:
    ``((0 + p0) + p1) + ...`` (so an empty or all -0 reduction gives +0).

    Parameters
    ----------
    products_bits : array_like of int
        FP32 bit patterns; the products of one PE lie along ``axis``.
    axis : int
        The reduction axis.

    Returns
    -------
    numpy.ndarray
        ``uint32`` FP32 bit patterns, the shape of ``products_bits`` without ``axis``.
    """
    products = np.moveaxis(np.asarray(products_bits), axis, 0)
    acc = np.zeros(products.shape[1:], dtype=np.uint32)
    for product in products:
        acc = fp32_add(acc, product)
    return acc


def fp32_interleaved(products_bits: npt.ArrayLike, lanes: int, axis: int = -1) -> np.ndarray:
    """A PE's FP32 accumulation of ``products_bits`` along ``axis`` in ``lanes`` interleaved
    partial sums, as an adder of ``lanes`` register stages takes one product per cycle.

    Of T products, product t goes to lane (t - T) mod ``lanes`` (the last ``lanes`` products
    are lanes 0, 1, ... in order); each lane is :func:`fp32_accumulate` of its products in
    order, from +0 (a lane without products is +0). The lanes are then combined by a pairwise
    tree in lane order: each level adds neighbours (0 + 1, 2 + 3, ...), an odd last one moving
    up unchanged, so 2 lanes give l0 + l1, 3 give (l0 + l1) + l2 and 4 (l0 + l1) + (l2 + l3).
    One lane is :func:`fp32_accumulate`.

    Parameters
    ----------
    products_bits : array_like of int
        FP32 bit patterns; the products of one PE lie along ``axis``.
    lanes : int
        Partial sums, at least 1.
    axis : int
        The reduction axis.

    Returns
    -------
    numpy.ndarray
        ``uint32`` FP32 bit patterns, the shape of ``products_bits`` without ``axis``.

    Raises
    ------
    ValueError
        For a ``lanes`` below 1.
    """
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"lanes must be an integer of at least 1, not {lanes!r}")
    products = np.moveaxis(np.asarray(products_bits), axis, 0)
    count = products.shape[0]
    sums = [fp32_accumulate(products[(count + lane) % lanes :: lanes], axis=0)
            for lane in range(lanes)]
    while len(sums) > 1:
        pairs = [fp32_add(a, b) for a, b in zip(sums[::2], sums[1::2], strict=False)]
        sums = pairs + sums[len(pairs) * 2 :]
    return sums[0]


def fp32_mul(a_bits: npt.ArrayLike, b_bits: npt.ArrayLike) -> np.ndarray:
    """FP32 products ``a * b`` of the FP32 bit patterns ``a_bits`` and ``b_bits`` (broadcast).

    The exact product rounded once to FP32, to nearest even: overflow to Inf, gradual underflow
    into the subnormals or to a signed zero, the sign the XOR of the operands' signs, 0 x Inf
    and any NaN operand NaN (canonical).

    Returns
    -------
    numpy.ndarray
        ``uint32`` bit patterns.

    Raises
    ------
    ValueError
        For a pattern outside ``0 .. 2^32 - 1``.
    """
    a, b = from_bits(a_bits, FP32), from_bits(b_bits, FP32)
    with np.errstate(all="ignore"):  # a signalling NaN's cast warns
        # Exact in float64 (at most 48 significand bits, exponents from -298 to 256); the cast
        # to float32 is the one RNE rounding, subnormal results included.
        product = np.asarray(a.astype(np.float64) * b.astype(np.float64)).astype(np.float32)
    return _canonical(product.view(np.uint32), FP32)


def fp32_to_half(bits: npt.ArrayLike, fmt: NumberFormat) -> np.ndarray:
    """The FP32 bit patterns ``bits`` rounded to nearest even to FP16 or BF16.

    Overflow gives a signed Inf (for FP16 every magnitude from 65520 up), values below the
    format's normal range round into its subnormals or to a signed zero, and every NaN becomes
    the format's canonical quiet NaN (``0x7E00`` for FP16, ``0x7FC0`` for BF16).

    Parameters
    ----------
    bits : array_like of int
        FP32 bit patterns.
    fmt : NumberFormat
        ``NumberFormat.FP16`` or ``NumberFormat.BF16``.

    Returns
    -------
    numpy.ndarray
        ``uint16`` bit patterns.

    Raises
    ------
    ValueError
        For an integer format, or a pattern outside ``0 .. 2^32 - 1``.
    """
    _check_operand_format(fmt)
    return to_bits(from_bits(bits, FP32), fmt)
