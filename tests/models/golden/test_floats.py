"""Tests of :mod:`sparsa.models.golden.floats`: IEEE cases by hand, and seeded random operands
against an independent reference (exact :class:`fractions.Fraction` arithmetic rounded to nearest
even by :func:`encode` below)."""

from fractions import Fraction

import numpy as np
import pytest

from sparsa.config.formats import FP32, FloatLayout, NumberFormat
from sparsa.models.golden.floats import (
    CANONICAL_NAN,
    fp32_accumulate,
    fp32_add,
    fp32_interleaved,
    fp32_mul,
    fp32_to_half,
    fp_product,
    from_bits,
    to_bits,
)

FP16, BF16 = NumberFormat.FP16, NumberFormat.BF16
HALVES = [FP16, BF16]

# FP32 patterns
ONE, NEG_ONE, TWO = 0x3F80_0000, 0xBF80_0000, 0x4000_0000
ZERO, NEG_ZERO = 0x0000_0000, 0x8000_0000
INF, NEG_INF = 0x7F80_0000, 0xFF80_0000
MAX = 0x7F7F_FFFF
ULP_OF_ONE = 0x3400_0000  # 2^-23
HALF_ULP_OF_ONE = 0x3380_0000  # 2^-24
SMALLEST_SUB, LARGEST_SUB, SMALLEST_NORMAL = 0x0000_0001, 0x007F_FFFF, 0x0080_0000


# The reference: exact values as Fractions, rounded by hand.


def decode(bits: int, layout: FloatLayout) -> tuple[bool, Fraction | str]:
    """Sign and value (a Fraction, or ``"inf"`` / ``"nan"``) of a bit pattern."""
    f = layout.fraction_bits
    sign = bool(bits >> (layout.width - 1))
    exponent = (bits >> f) & layout.max_exponent
    fraction = bits & ((1 << f) - 1)
    if exponent == layout.max_exponent:
        return sign, "nan" if fraction else "inf"
    significand = fraction + ((1 << f) if exponent else 0)
    value = Fraction(significand) * Fraction(2) ** (max(exponent, 1) - layout.bias - f)
    return sign, -value if sign else value


def encode(value: Fraction, negative: bool, layout: FloatLayout) -> int:
    """``value`` rounded to nearest even onto ``layout`` (Inf beyond it); ``negative`` gives
    the sign (a zero's included)."""
    f = layout.fraction_bits
    sign = int(negative) << (layout.width - 1)
    magnitude = abs(value)
    if magnitude == 0:
        return sign
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1  # now 2^exponent <= magnitude < 2^(exponent + 1)
    exponent = max(exponent, 1 - layout.bias)
    significand = round(magnitude / Fraction(2) ** (exponent - f))  # Fraction: ties to even
    if significand == 1 << (f + 1):
        exponent, significand = exponent + 1, 1 << f
    if exponent > layout.max_exponent - 1 - layout.bias:
        return sign | (layout.max_exponent << f)
    if significand < 1 << f:
        return sign | significand
    return sign | ((exponent + layout.bias) << f) | (significand - (1 << f))


def reference_product(a: int, b: int, layout: FloatLayout) -> int:
    """The contract's FP32 product of two half-precision patterns, from Fractions."""
    (sa, va), (sb, vb) = decode(a, layout), decode(b, layout)
    negative = sa != sb
    if "nan" in (va, vb) or ("inf" in (va, vb) and 0 in (va, vb)):
        return CANONICAL_NAN
    if "inf" in (va, vb):
        return encode(Fraction(2) ** 200, negative, FP32)
    return encode(va * vb, negative, FP32)


def reference_add(a: int, b: int) -> int:
    """The contract's FP32 sum of two FP32 patterns, from Fractions."""
    (sa, va), (sb, vb) = decode(a, FP32), decode(b, FP32)
    if "nan" in (va, vb) or (va == vb == "inf" and sa != sb):
        return CANONICAL_NAN
    if va == "inf" or vb == "inf":
        return encode(Fraction(2) ** 200, sa if va == "inf" else sb, FP32)
    total = va + vb
    return encode(total, sa and sb if total == 0 else total < 0, FP32)


def half(value: float, fmt: NumberFormat) -> int:
    """The half-precision pattern of an exactly representable ``value``."""
    return int(to_bits(value, fmt))


def f32(value: float) -> int:
    return int(to_bits(value, FP32))


# The reference checked on its own: a few patterns whose values are known.


def test_reference_encodes_known_patterns() -> None:
    assert encode(Fraction(1), False, FP32) == ONE
    assert encode(Fraction(-1), True, FP32) == NEG_ONE
    assert encode(Fraction(1, 2**149), False, FP32) == SMALLEST_SUB
    assert encode(Fraction(1, 2**150), False, FP32) == ZERO  # a tie: to even, zero
    assert encode(Fraction(3, 2**151), False, FP32) == SMALLEST_SUB
    assert encode(Fraction(2**128), False, FP32) == INF
    assert encode(Fraction(65504), False, FP16.float_layout) == 0x7BFF
    assert decode(0x0001, FP16.float_layout) == (False, Fraction(1, 2**24))


# Products


@pytest.mark.parametrize("fmt", HALVES)
def test_product_signed_zeros(fmt: NumberFormat) -> None:
    zero, neg_zero, one, neg_one = (half(x, fmt) for x in (0.0, -0.0, 1.0, -1.0))
    assert fp_product(zero, neg_one, fmt) == NEG_ZERO  # 0 x -1 = -0
    assert fp_product(neg_zero, neg_one, fmt) == ZERO
    assert fp_product(neg_zero, one, fmt) == NEG_ZERO
    assert fp_product(zero, one, fmt) == ZERO


@pytest.mark.parametrize("fmt", HALVES)
def test_product_specials(fmt: NumberFormat) -> None:
    inf, neg_inf, zero, two = (half(x, fmt) for x in (np.inf, -np.inf, 0.0, 2.0))
    assert fp_product(inf, zero, fmt) == CANONICAL_NAN
    assert fp_product(zero, neg_inf, fmt) == CANONICAL_NAN
    assert fp_product(inf, two, fmt) == INF
    assert fp_product(neg_inf, two, fmt) == NEG_INF
    assert fp_product(neg_inf, neg_inf, fmt) == INF
    # Any NaN (quiet or signalling, any sign or payload) gives the canonical NaN.
    nans = [0x7E00, 0xFC01, 0x7C01, 0xFFFF] if fmt is FP16 else [0x7FC0, 0xFF81, 0x7F81, 0xFFFF]
    for nan in nans:
        for other in (zero, inf, two, nan):
            assert fp_product(nan, other, fmt) == CANONICAL_NAN, hex(nan)
            assert fp_product(other, nan, fmt) == CANONICAL_NAN, hex(nan)


def test_fp16_products_are_exact() -> None:
    smallest_sub, largest = 0x0001, 0x7BFF  # 2^-24, 65504
    assert fp_product(smallest_sub, smallest_sub, FP16) == f32(2.0**-48)
    assert fp_product(largest, largest, FP16) == f32(65504.0**2)
    assert fp_product(0x03FF, 0x3C01, FP16) == f32((1023 * 2.0**-24) * (1 + 2.0**-10))
    assert fp_product(0xBC01, 0x3C01, FP16) == f32(-((1 + 2.0**-10) ** 2))  # 21 bits, exact


def test_bf16_overflow_to_inf() -> None:
    largest = 0x7F7F  # (2 - 2^-7) x 2^127
    assert fp_product(largest, largest, BF16) == INF
    assert fp_product(largest, 0xFF7F, BF16) == NEG_INF
    assert fp_product(half(2.0**64, BF16), half(2.0**63, BF16), BF16) == f32(2.0**127)
    assert fp_product(half(2.0**64, BF16), half(2.0**64, BF16), BF16) == INF  # exactly 2^128
    # The largest product below 2^128: exact, no overflow.
    assert fp_product(0x5F7F, 0x5F7F, BF16) == f32((2 - 2.0**-7) ** 2 * 2.0**126)


def test_bf16_gradual_underflow() -> None:
    tiny = half(2.0**-100, BF16)
    assert fp_product(tiny, half(2.0**-40, BF16), BF16) == f32(2.0**-140)  # exact subnormal
    assert fp_product(tiny, half(2.0**-49, BF16), BF16) == SMALLEST_SUB  # 2^-149
    assert fp_product(tiny, half(2.0**-50, BF16), BF16) == ZERO  # 2^-150: a tie, to even 0
    assert fp_product(tiny, half(-(2.0**-50), BF16), BF16) == NEG_ZERO
    # 1.5 x 2^-150 is above the tie: rounds to the smallest subnormal.
    assert fp_product(tiny, half(1.5 * 2.0**-50, BF16), BF16) == SMALLEST_SUB
    # 3 x 2^-150 = 1.5 x 2^-149 ties between 1 and 2 subnormal quanta: to even, 2.
    assert fp_product(tiny, half(1.5 * 2.0**-49, BF16), BF16) == 2
    # 5 x 2^-150 = 2.5 quanta ties between 2 and 3: to even, 2.
    assert fp_product(tiny, half(1.25 * 2.0**-48, BF16), BF16) == 2
    # Just below the smallest normal: (2 - 2^-7)^2 x 2^-128 = (2^23 - 2^16 + 2^7) x 2^-149, an
    # exact subnormal (a BF16 product spans at most 16 bits, so it never rounds up to 2^-126).
    edge = half(2.0**-64, BF16) | 0x7F
    assert fp_product(edge, edge, BF16) == (1 << 23) - (1 << 16) + (1 << 7)
    assert fp_product(edge, half(2.0**-63, BF16), BF16) == 0x007F_8000  # (1 - 2^-8) x 2^-126
    # BF16 subnormal operands.
    assert fp_product(0x0001, half(2.0**20, BF16), BF16) == f32(2.0**-113)
    assert fp_product(0x0001, 0x0001, BF16) == ZERO  # 2^-266


@pytest.mark.parametrize("fmt", HALVES)
def test_products_match_the_reference(fmt: NumberFormat) -> None:
    seed = 20240601 + (fmt is BF16)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 16, 4000, dtype=np.uint16)
    b = rng.integers(0, 1 << 16, 4000, dtype=np.uint16)
    got = fp_product(a, b, fmt)
    layout = fmt.float_layout
    for x, y, p in zip(a.tolist(), b.tolist(), got.tolist(), strict=True):
        expected = reference_product(x, y, layout)
        assert p == expected, f"seed {seed}: {x:#06x} x {y:#06x} = {p:#010x}, not {expected:#010x}"


def bf16_patterns(rng: np.random.Generator, exponents: np.ndarray) -> np.ndarray:
    """BF16 patterns with the given biased exponents, random signs and fractions."""
    signs = rng.integers(0, 2, exponents.shape) << 15
    return (signs | (exponents << 7) | rng.integers(0, 128, exponents.shape)).astype(np.uint16)


def test_bf16_products_near_the_underflow_match_the_reference() -> None:
    seed = 7
    rng = np.random.default_rng(seed)
    # Exponent sums that put the products around FP32's subnormal range (2^-150 to 2^-126).
    ea = rng.integers(1, 127, 3000)
    eb = np.clip(rng.integers(96, 131, 3000) - ea, 0, 254)
    a, b = bf16_patterns(rng, ea), bf16_patterns(rng, eb)
    got = fp_product(a, b, BF16)
    for x, y, p in zip(a.tolist(), b.tolist(), got.tolist(), strict=True):
        expected = reference_product(x, y, BF16.float_layout)
        assert p == expected, f"seed {seed}: {x:#06x} x {y:#06x} = {p:#010x}, not {expected:#010x}"


# Sums


def test_add_signed_zeros() -> None:
    assert fp32_add(NEG_ZERO, NEG_ZERO) == NEG_ZERO
    assert fp32_add(ZERO, NEG_ZERO) == ZERO
    assert fp32_add(NEG_ZERO, ZERO) == ZERO
    assert fp32_add(ONE, NEG_ONE) == ZERO  # x + (-x) = +0
    assert fp32_add(NEG_ONE, ONE) == ZERO
    assert fp32_add(SMALLEST_SUB, SMALLEST_SUB | NEG_ZERO) == ZERO
    assert fp32_add(NEG_ZERO, NEG_ONE) == NEG_ONE


def test_add_specials() -> None:
    assert fp32_add(MAX, MAX) == INF
    assert fp32_add(MAX | NEG_ZERO, MAX | NEG_ZERO) == NEG_INF
    assert fp32_add(INF, NEG_INF) == CANONICAL_NAN
    assert fp32_add(NEG_INF, INF) == CANONICAL_NAN
    assert fp32_add(INF, INF) == INF
    assert fp32_add(NEG_INF, MAX) == NEG_INF
    for nan in (0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0xFFFF_FFFF, 0x7FA0_1234):
        for other in (ZERO, ONE, INF, NEG_INF, nan):
            assert fp32_add(nan, other) == CANONICAL_NAN, hex(nan)
            assert fp32_add(other, nan) == CANONICAL_NAN, hex(nan)


def test_add_rounds_to_nearest_even() -> None:
    assert fp32_add(ONE, HALF_ULP_OF_ONE) == ONE  # tie, to even
    assert fp32_add(ONE + 1, HALF_ULP_OF_ONE) == ONE + 2  # tie, to even (up)
    assert fp32_add(ONE, HALF_ULP_OF_ONE + 1) == ONE + 1  # above the tie
    assert fp32_add(MAX, f32(2.0**103)) == INF  # half an ulp of MAX: a tie, to even = Inf
    assert fp32_add(MAX, f32(2.0**102)) == MAX


def test_add_subnormals() -> None:
    assert fp32_add(SMALLEST_SUB, SMALLEST_SUB) == 2
    assert fp32_add(LARGEST_SUB, SMALLEST_SUB) == SMALLEST_NORMAL  # into the normal range
    assert fp32_add(SMALLEST_NORMAL, SMALLEST_SUB | NEG_ZERO) == LARGEST_SUB  # and out of it
    assert fp32_add(LARGEST_SUB, LARGEST_SUB) == 0x00FF_FFFE
    assert fp32_add(0x0080_0001, 0x8080_0000) == SMALLEST_SUB


def test_add_cancellation() -> None:
    # 1 + 2^-24 - 1: the tie rounds to 1, so the difference is 0; 1 + 2^-23 - 1 is exact.
    assert fp32_accumulate(np.array([ONE, HALF_ULP_OF_ONE, NEG_ONE], np.uint32)) == ZERO
    assert fp32_accumulate(np.array([ONE, ULP_OF_ONE, NEG_ONE], np.uint32)) == ULP_OF_ONE
    assert fp32_add(ONE + 1, NEG_ONE) == ULP_OF_ONE
    assert fp32_add(TWO, (ONE + 0x7F_FFFF) | NEG_ZERO) == ULP_OF_ONE  # 2 - (2 - 2^-23)


def test_sums_match_the_reference() -> None:
    seed = 1234
    rng = np.random.default_rng(seed)
    n = 2000
    a = rng.integers(0, 1 << 32, 3 * n, dtype=np.uint32)
    b = rng.integers(0, 1 << 32, 3 * n, dtype=np.uint32)
    # Close magnitudes of either sign (cancellation), and the subnormal range.
    flip = rng.integers(0, 1 << 12, n, dtype=np.uint32) | (rng.integers(0, 2, n, np.uint32) << 31)
    b[:n] = a[:n] ^ flip
    a[n : 2 * n] &= 0x81FF_FFFF
    b[n : 2 * n] &= 0x81FF_FFFF
    got = fp32_add(a, b)
    for x, y, s in zip(a.tolist(), b.tolist(), got.tolist(), strict=True):
        expected = reference_add(x, y)
        message = f"seed {seed}: {x:#010x} + {y:#010x} = {s:#010x}, not {expected:#010x}"
        assert s == expected, message


def test_accumulate_in_pe_order_from_plus_zero() -> None:
    products = np.array([[NEG_ZERO, NEG_ZERO], [NEG_ONE, NEG_ZERO]], np.uint32)
    assert fp32_accumulate(products, axis=1).tolist() == [ZERO, NEG_ONE]
    assert fp32_accumulate(products, axis=0).tolist() == [NEG_ONE, ZERO]
    assert fp32_accumulate(np.zeros((3, 0), np.uint32)).tolist() == [ZERO] * 3
    # The order matters: (2^24 + 1) + 1 loses both ones, 1 + 1 + 2^24 keeps them.
    big, one = f32(2.0**24), ONE
    assert fp32_accumulate(np.array([big, one, one], np.uint32)) == big
    assert fp32_accumulate(np.array([one, one, big], np.uint32)) == f32(2.0**24 + 2)


def test_interleaved_lanes_by_hand() -> None:
    big, one, two = f32(2.0**24), ONE, TWO
    # Two lanes of 4 products: lane 0 = p0 + p2 = 2^24 + 1 = 2^24 (a tie, to even), lane 1 =
    # p1 + p3 = 2, their sum 2^24 + 2 exact; in one sum every + 1 is lost.
    products = np.array([big, one, one, one], np.uint32)
    assert fp32_interleaved(products, 2) == f32(2.0**24 + 2)
    assert fp32_interleaved(products, 1) == fp32_accumulate(products) == big
    # Three lanes of 4 products: product t is lane (t - 4) mod 3, so lane 0 = p1 = 2^24, lane
    # 1 = p2 = 1, lane 2 = p0 + p3 = 2; (2^24 + 1) + 2 = 2^24 + 2 (lanes t mod 3 would give
    # (2 + 2^24) + 1 = 2^24 + 3, a tie rounded to 2^24 + 4).
    assert fp32_interleaved(np.array([one, big, one, one], np.uint32), 3) == f32(2.0**24 + 2)
    # Four lanes: (l0 + l1) + (l2 + l3) = 2 + 2^24; a chain ((l0 + l1) + l2) + l3 gives 2^24 + 4.
    assert fp32_interleaved(np.array([one, one, big, one], np.uint32), 4) == f32(2.0**24 + 2)
    # Fewer products than lanes: the empty lanes are +0, so a lone -0 still sums to +0.
    assert fp32_interleaved(np.array([NEG_ZERO], np.uint32), 4) == ZERO
    assert fp32_interleaved(np.array([NEG_ONE, NEG_ZERO], np.uint32), 3) == NEG_ONE
    assert fp32_interleaved(np.array([INF, NEG_INF, one], np.uint32), 2) == CANONICAL_NAN
    assert fp32_interleaved(np.zeros((2, 0), np.uint32), 2).tolist() == [ZERO, ZERO]
    # Along an axis, as fp32_accumulate.
    rows = np.array([[big, one, one, one], [two, two, two, two]], np.uint32)
    assert fp32_interleaved(rows.T, 2, axis=0).tolist() == [f32(2.0**24 + 2), f32(8.0)]
    with pytest.raises(ValueError, match="lanes must be an integer of at least 1, not 0"):
        fp32_interleaved(products, 0)


def test_interleaved_lanes_match_the_reference() -> None:
    seed = 98
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((40, 11)) * 2.0 ** rng.integers(-20, 20, (40, 11))
    products = to_bits(values, FP32)
    for lanes in (2, 3, 4):
        got = fp32_interleaved(products, lanes)
        for row, s in zip(products.tolist(), got.tolist(), strict=True):
            sums = [ZERO] * lanes
            for t, p in enumerate(row):
                lane = (t - len(row)) % lanes
                sums[lane] = reference_add(sums[lane], p)
            while len(sums) > 1:
                pairs = [reference_add(a, b) for a, b in zip(sums[::2], sums[1::2], strict=False)]
                sums = pairs + sums[2 * len(pairs) :]
            assert s == sums[0], f"seed {seed}, {lanes} lanes: {row}"


def test_accumulate_matches_the_reference() -> None:
    seed = 99
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((50, 16)) * 2.0 ** rng.integers(-20, 20, (50, 16))
    products = to_bits(values, FP32)
    got = fp32_accumulate(products)
    for row, s in zip(products.tolist(), got.tolist(), strict=True):
        acc = ZERO
        for p in row:
            acc = reference_add(acc, p)
        assert s == acc, f"seed {seed}: {row}"


# Conversions


@pytest.mark.parametrize("fmt", HALVES)
def test_every_half_pattern_round_trips(fmt: NumberFormat) -> None:
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    back = to_bits(from_bits(bits, fmt), fmt)
    layout = fmt.float_layout
    nan = (bits & 0x7FFF) > (layout.max_exponent << layout.fraction_bits)
    assert np.array_equal(back[~nan], bits[~nan])
    quiet = (layout.max_exponent << layout.fraction_bits) | (1 << (layout.fraction_bits - 1))
    assert np.all(back[nan] == quiet)


def test_fp32_patterns_round_trip() -> None:
    seed = 5
    bits = np.random.default_rng(seed).integers(0, 1 << 32, 20000, dtype=np.uint32)
    back = to_bits(from_bits(bits, FP32), FP32)
    nan = (bits & 0x7FFF_FFFF) > INF
    assert np.array_equal(back[~nan], bits[~nan]), f"seed {seed}"
    assert np.all(back[nan] == CANONICAL_NAN)


@pytest.mark.parametrize("fmt", [FP16, BF16, FP32])
def test_to_bits_rounds_like_the_reference(fmt: NumberFormat | FloatLayout) -> None:
    seed = 11
    rng = np.random.default_rng(seed)
    layout = fmt if fmt == FP32 else fmt.float_layout
    # float64 values across the format's range (and a little beyond it), and the exact ties
    # between neighbours (below Inf; the mean of two neighbours is exact in float64).
    low, high = -layout.bias - layout.fraction_bits - 3, layout.bias + 3
    values = rng.standard_normal(3000) * 2.0 ** rng.integers(low, high, 3000)
    below = rng.integers(0, (layout.max_exponent << layout.fraction_bits) - 1, 2000)
    ties = (from_bits(below, fmt).astype(np.float64) + from_bits(below + 1, fmt)) / 2
    ties *= np.where(rng.integers(0, 2, 2000) == 1, -1.0, 1.0)
    for value in [*values.tolist(), *ties.tolist()]:
        got = int(to_bits(value, fmt))
        expected = encode(Fraction(value), value < 0, layout)
        assert got == expected, f"seed {seed}: {value!r} -> {got:#x}, not {expected:#x}"


def test_bf16_conversion_rounds_from_float64_once() -> None:
    # 1 + 2^-8 + 2^-30 is above the BF16 tie 1 + 2^-8; a float32 step first would make it the
    # tie, and round it down to 1.
    assert to_bits(1 + 2.0**-8 + 2.0**-30, BF16) == 0x3F81
    assert to_bits(1 + 2.0**-8, BF16) == 0x3F80
    assert to_bits(1 + 3 * 2.0**-8, BF16) == 0x3F82
    assert to_bits(np.float32(3.4e38), BF16) == 0x7F80  # above the largest BF16: to Inf
    assert to_bits(-0.0, BF16) == 0x8000
    assert to_bits(np.nan, FP32) == CANONICAL_NAN


def test_from_bits_values() -> None:
    assert from_bits(0x3C00, FP16) == 1.0
    assert from_bits(0x0001, FP16) == 2.0**-24
    assert from_bits(0x4049, BF16) == np.float32(3.140625)
    assert from_bits(SMALLEST_SUB, FP32) == np.float32(2.0**-149)
    assert from_bits(np.array([0xFF80], np.uint16), BF16).tolist() == [-np.inf]


@pytest.mark.parametrize("fmt", [NumberFormat.INT8, NumberFormat.INT16])
def test_integer_formats_are_rejected(fmt: NumberFormat) -> None:
    allowed = "allowed: NumberFormat.FP16, NumberFormat.BF16 and FP32"
    with pytest.raises(ValueError, match=f"^{fmt.value} is not a .*; {allowed}$"):
        to_bits([1.0], fmt)
    with pytest.raises(ValueError, match=f"^{fmt.value} is not a .*; {allowed}$"):
        from_bits([1], fmt)
    operands = "allowed: NumberFormat.FP16 and NumberFormat.BF16$"
    with pytest.raises(ValueError, match=f"^{fmt.value} is not a floating-point operand format"):
        fp_product([1], [1], fmt)
    with pytest.raises(ValueError, match=f"^FloatLayout\\(exponent_bits=8.*; {operands}"):
        fp_product([1], [1], FP32)


def test_out_of_range_patterns_are_rejected() -> None:
    with pytest.raises(ValueError, match="bit pattern 65536 is outside the 16-bit range"):
        fp_product([1, 1 << 16], [1, 1], FP16)
    with pytest.raises(ValueError, match="bit pattern -1 is outside the 32-bit range"):
        fp32_add([-1], [0])


# FP32 products and the narrowing to half precision (the weight-update engine).


def reference_fp32_product(a: int, b: int) -> int:
    """The contract's FP32 product of two FP32 patterns, from Fractions."""
    return reference_product(a, b, FP32)


def reference_narrow(a: int, fmt: NumberFormat) -> int:
    """The FP32 pattern ``a`` rounded to ``fmt``, from Fractions."""
    layout = fmt.float_layout
    sign, value = decode(a, FP32)
    if value == "nan":
        return int(to_bits(np.nan, fmt))
    return encode(Fraction(2) ** 200 if value == "inf" else value, sign, layout)


def fp32_operands(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random FP32 patterns, a quarter of them with exponents near the ends of the range."""
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint32)
    edge = rng.integers(0, 4, n) == 0
    exponents = rng.choice([0, 1, 2, 100, 126, 127, 128, 200, 253, 254, 255], n)
    return np.where(edge, (bits & 0x807F_FFFF) | (exponents.astype(np.uint32) << 23), bits)


def test_fp32_products_by_hand() -> None:
    assert fp32_mul(f32(1.5), f32(-2.0)) == f32(-3.0)
    assert fp32_mul(ONE + 1, ONE + 1) == ONE + 2  # (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46
    assert fp32_mul(MAX, TWO) == INF and fp32_mul(MAX | 0x8000_0000, TWO) == NEG_INF
    assert fp32_mul(SMALLEST_NORMAL, f32(0.5)) == 0x0040_0000
    assert fp32_mul(SMALLEST_SUB, f32(0.5)) == ZERO  # the tie goes to even, 0
    assert fp32_mul(SMALLEST_SUB | 0x8000_0000, f32(0.75)) == 0x8000_0001
    # A subnormal operand, exact: (2^23 - 1) 2^-149 x 2^23 = (2 - 2^-22) 2^-104.
    assert fp32_mul(LARGEST_SUB, f32(2.0**23)) == 0x0BFF_FFFE
    assert fp32_mul(ZERO, NEG_ONE) == NEG_ZERO
    assert fp32_mul(ZERO, INF) == CANONICAL_NAN and fp32_mul(0xFFFF_FFFF, ONE) == CANONICAL_NAN


def test_fp32_products_match_the_reference() -> None:
    seed = 83
    rng = np.random.default_rng(seed)
    a, b = fp32_operands(rng, 4000), fp32_operands(rng, 4000)
    got = fp32_mul(a, b)
    for i in range(a.size):
        want = reference_fp32_product(int(a[i]), int(b[i]))
        assert got[i] == want, f"seed {seed}: {a[i]:#x} x {b[i]:#x} -> {got[i]:#x}, {want:#x}"


@pytest.mark.parametrize(("value", "fmt", "bits"), [
    (1.0, FP16, 0x3C00), (65504.0, FP16, 0x7BFF), (65519.99, FP16, 0x7BFF),
    (65520.0, FP16, 0x7C00), (-1e30, FP16, 0xFC00), (2.0**-24, FP16, 0x0001),
    (2.0**-25, FP16, 0x0000), (-(2.0**-25) * 1.5, FP16, 0x8001), (1 + 2.0**-11, FP16, 0x3C00),
    (1 + 3 * 2.0**-11, FP16, 0x3C02), (1 + 2.0**-8, BF16, 0x3F80), (1 + 3 * 2.0**-8, BF16, 0x3F82),
    (2.0**-149, BF16, 0x0000), (2.0**-127, BF16, 0x0040), (3.4028234663852886e38, BF16, 0x7F80),
])
def test_narrowing_by_hand(value: float, fmt: NumberFormat, bits: int) -> None:
    assert fp32_to_half(f32(value), fmt) == bits


@pytest.mark.parametrize("fmt", HALVES)
def test_narrowing_specials(fmt: NumberFormat) -> None:
    nan, inf = (0x7E00, 0x7C00) if fmt is FP16 else (0x7FC0, 0x7F80)
    assert fp32_to_half([CANONICAL_NAN, 0xFF80_0001], fmt).tolist() == [nan, nan]
    assert fp32_to_half([INF, NEG_INF, ZERO, NEG_ZERO], fmt).tolist() == [
        inf, inf | 0x8000, 0, 0x8000]
    with pytest.raises(ValueError, match=r"^int8 is not a floating-point operand format"):
        fp32_to_half([ONE], NumberFormat.INT8)


@pytest.mark.parametrize("fmt", HALVES)
def test_narrowing_matches_the_reference(fmt: NumberFormat) -> None:
    seed = 85 + (fmt is BF16)
    rng = np.random.default_rng(seed)
    bits = fp32_operands(rng, 3000)
    near = rng.integers(90, 150, 3000).astype(np.uint32) << 23  # around FP16's range
    bits = np.concatenate([bits, (bits & 0x807F_FFFF) | near])
    got = fp32_to_half(bits, fmt)
    for x, have in zip(bits.tolist(), got.tolist(), strict=True):
        want = reference_narrow(x, fmt)
        assert have == want, f"seed {seed}: {x:#x} -> {have:#x}, reference {want:#x}"
